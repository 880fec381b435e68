"""`worldsim play` and `worldsim replay`: assemble client, session, input, display, recorder and loop."""
from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Client, RequestError
from .inprocess import LocalClient
from .loop import FrameLoop
from .registry import available_renderers

ASSETS = Path(__file__).resolve().parent.parent / "assets"        # shipped models: ASSETS/NAME/config.json + shards
EMBEDDED_CHECKPOINT = ASSETS / "default"


def shipped_models() -> list[str]:
    return sorted(p.name for p in ASSETS.glob("*") if (p / "config.json").is_file())


def default_renderer() -> str:
    """The embedded AAPT model when it ships, else the reference world, else the test pattern."""
    names = available_renderers()
    if "aapt" in names and (EMBEDDED_CHECKPOINT / "config.json").exists():
        return "aapt"
    return "reference" if "reference" in names else "testpattern"


@dataclass
class PlayOptions:
    renderer: str | None = None
    connect: str | None = None
    in_process: bool = False
    headless: bool = False
    ticks: int | None = None
    input_script: str | None = None
    bindings: str | None = None
    record: str | None = None
    screenshot: str | None = None
    stats: str | None = None
    seed: int = 0
    prompt: str = ""
    renderer_options: dict[str, Any] = field(default_factory=dict)
    window: tuple[int, int] | None = None
    fullscreen: bool = False
    fly: bool = False
    realtime: bool = True
    curve: tuple[str, str] | None = None      # (key dir, client name) for --connect
    model: str | None = None                  # a shipped model (worldsim/assets/NAME), played by aapt
    split: bool = False                       # the reference world beside the renderer, same input
    image: str | None = None                  # start from this picture


def make_client(renderer: str, options: dict, connect: str | None, in_process: bool, curve=None):
    if connect:
        return Client.connect(connect, curve=curve, reconnect=True)
    if in_process:
        from .process import WorkerStartError
        from .worker_main import START_REFUSALS, start_failure_reason
        try:
            return LocalClient(renderer, options)
        except START_REFUSALS as err:           # the same line a worker process would report
            raise WorkerStartError(f"cannot start renderer {renderer!r}: {start_failure_reason(err)}") from None
    return Client.spawn(renderer, options)


def require_screen() -> None:
    """On Linux without DISPLAY, WAYLAND_DISPLAY or SDL_VIDEODRIVER no window can open: say so now."""
    import os
    if sys.platform.startswith("linux") and not any(
            os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")):
        from worldsim.render.display import DisplayUnavailableError
        raise DisplayUnavailableError("no screen to open a window on (DISPLAY is not set). Use the headless "
                                      "display (`worldsim play --headless`) or run under `xvfb-run -a`.")


def random_weights_note(spec) -> str | None:
    """Say so when the aapt renderer plays a randomly initialised model (no checkpoint): it shows noise."""
    if spec.name == "aapt" and "checkpoint" in spec.info and not spec.info["checkpoint"]:
        return (f"aapt has no checkpoint: its weights are random (preset {spec.info.get('preset')!r}), so the "
                "frames are noise; give --checkpoint DIR or --model NAME")
    return None


def served_renderer(welcome: dict, address: str) -> str:
    """The renderer to play on a remote worker when none is named: the one it serves, if only one."""
    from worldsim.errors import WorldsimUserError
    served = list(welcome.get("renderers") or [])
    if len(served) == 1:
        return served[0]
    raise WorldsimUserError(f"{address} serves {', '.join(served) or 'no renderer'}: "
                            "name one with --renderer")


def window_size(spec_w: int, spec_h: int, window: tuple[int, int] | None) -> tuple[int, int]:
    """The window: as asked, else the frame scaled by an integer factor to at least 400 rows
    (736x416 stays 1:1: a software GL driver pays for every scaled pixel)."""
    if window:
        return window
    scale = max(1, math.ceil(400 / spec_h))
    return spec_w * scale, spec_h * scale


def play(opts: PlayOptions) -> dict:
    from worldsim.controls import PacketBuilder, ScriptedInput

    from .status import show_waiting, starting_text, status_line

    renderer, options = resolve_renderer(opts)
    if not opts.headless:
        require_screen()                      # before the renderer loads, not after
    with status_line(starting_text(renderer, options, opts.connect)):
        client = make_client(renderer, options, opts.connect, opts.in_process, opts.curve)
    display = recorder = None
    try:
        if opts.connect and not (opts.renderer or opts.model or opts.split):
            renderer = served_renderer(client.welcome, opts.connect)
        spec_dict = client.welcome["specs"].get(renderer)
        if spec_dict is None:
            raise RequestError("bad_request", f"worker does not serve {renderer!r}: {client.welcome['renderers']}")
        kinds = sorted(spec_dict["control_kinds"])
        first = None
        if opts.image:
            size = spec_dict["info"]["right"] if opts.split else spec_dict
            first = load_image(opts.image, size["width"], size["height"])
        with status_line("opening a session"):
            session = client.open(renderer, opts.seed, opts.prompt, first, controls=kinds)
        spec = session.spec
        note = random_weights_note(spec)
        if note:
            print(f"worldsim: warning: {note}", file=sys.stderr)
        if spec.info.get("warning"):
            print(f"worldsim: warning: {spec.name}: {spec.info['warning']}", file=sys.stderr)
        if opts.input_script:
            source = ScriptedInput.load(opts.input_script)
            ticks = opts.ticks if opts.ticks is not None else source.length
        else:
            from worldsim.controls import Bindings, InputMapper
            source = InputMapper(Bindings.load(opts.bindings) if opts.bindings else None)
            ticks = opts.ticks
        rig_options = {"fps": spec.fps}
        if "camera" in kinds:
            rig_options["mode"] = "fly" if opts.fly else "walk"
        if "pose" in kinds:                       # keypoints are normalised to the frame's aspect
            rig_options.update(width=spec.width, height=spec.height)
        packets = PacketBuilder(kinds, **rig_options)
        display = _open_display(spec, opts)
        show_waiting(display, spec)
        if opts.record:
            from worldsim.render.recorder import Recorder
            recorder = Recorder(opts.record, spec.fps, {
                "renderer": renderer, "seed": opts.seed, "prompt": opts.prompt, "controls": kinds,
                "spec": spec.to_dict(), "renderer_options": options, "worker": client.welcome.get("worker")})
        shots = itertools.count(1)
        loop = FrameLoop(client, session, source, packets, display=display, recorder=recorder,
                         realtime=opts.realtime, on_trigger=lambda name: _on_trigger(name, display, opts, shots))
        stats = loop.run(ticks)
        if opts.screenshot and display is not None:
            display.screenshot(opts.screenshot)
        summary = {**stats.summary(), "renderer": renderer, "worker": client.welcome.get("worker"),
                   "size": [spec.width, spec.height]}
        if opts.stats:
            stats.write(opts.stats, renderer=renderer, worker=client.welcome.get("worker"), size=[spec.width, spec.height])
        return summary
    finally:
        if recorder is not None:
            recorder.close()
        if display is not None:
            display.close()
        client.shutdown()


def resolve_renderer(opts: PlayOptions) -> tuple[str, dict]:
    """(renderer name, its options): --model picks a shipped model, the aapt renderer defaults to
    the embedded one, and --split puts the reference world on the left of it."""
    from worldsim.errors import WorldsimUserError
    renderer = opts.renderer or ("aapt" if opts.model or opts.split else default_renderer())
    if not opts.connect and renderer not in available_renderers():     # a remote worker may serve others
        raise WorldsimUserError(f"unknown renderer {renderer!r}; available: {', '.join(available_renderers())}")
    options = dict(opts.renderer_options)
    if opts.model:
        if opts.model not in shipped_models():
            raise WorldsimUserError(f"no shipped model {opts.model!r}; shipped: {', '.join(shipped_models()) or 'none'}")
        if "checkpoint" in options:
            raise WorldsimUserError("--model and --checkpoint both name a model: give one")
        options["checkpoint"] = str(ASSETS / opts.model)
    if (renderer == "aapt" and "checkpoint" not in options and "preset" not in options
            and (EMBEDDED_CHECKPOINT / "config.json").exists()):
        options["checkpoint"] = str(EMBEDDED_CHECKPOINT)          # the embedded model, unless a preset is asked for
    if opts.split:
        if renderer in ("reference", "split"):
            raise WorldsimUserError("--split shows the reference world beside another renderer (e.g. aapt)")
        options = {"left": "reference", "right": renderer, **options}
        renderer = "split"
    return renderer, options


def load_image(path: str, width: int, height: int):
    """The picture at `path` as uint8 (height, width, 3): centre-cropped to the aspect, then resized."""
    from worldsim.errors import WorldsimUserError
    from worldsim.pillow import pillow_image
    Image = pillow_image("--image (reading pictures)")
    from PIL import UnidentifiedImageError
    import numpy as np
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except FileNotFoundError:
        raise WorldsimUserError(f"--image {path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise WorldsimUserError(f"--image {path}: not a readable image ({type(err).__name__})") from None
    w, h = img.size
    scale = min(w / width, h / height)                            # the largest box of the target aspect
    cw, ch = width * scale, height * scale
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return np.asarray(img.resize((width, height), Image.Resampling.LANCZOS, box=box), dtype=np.uint8)


def _open_display(spec, opts: PlayOptions):
    width, height = window_size(spec.width, spec.height, opts.window)
    if opts.headless:
        from worldsim.render.headless import HeadlessDisplay
        return HeadlessDisplay(width, height)
    from worldsim.render.display import Display
    return Display(width, height, title=f"worldsim — {spec.name}", fullscreen=opts.fullscreen)


def _on_trigger(name: str, display, opts: PlayOptions, shots) -> None:
    if display is None:
        return
    if name == "toggle_fullscreen":
        display.toggle_fullscreen()
    elif name == "screenshot":
        # numbered beside --screenshot FILE.png (which itself gets the last screen at exit)
        stem = Path(opts.screenshot).with_suffix("") if opts.screenshot else Path(time.strftime("worldsim-%Y%m%d-%H%M%S"))
        path = f"{stem}-{next(shots)}.png"
        display.screenshot(path)
        print(f"screenshot saved to {path}", file=sys.stderr)
    elif name == "toggle_hud":
        display.hud_visible = not display.hud_visible
