"""The Renderer protocol: anything that turns (start state, control packets) into frames.

A renderer is built once per worker (it may hold a model on the GPU) and serves many sessions.
The worker batches the pending steps of all sessions into one `step` call.

    spec  = renderer.spec                       # RendererSpec: size, fps, frames per step, controls
    state = renderer.open(seed, prompt, first_frame, controls)
    frames = renderer.step([state, ...], [[packet, ...], ...])   # list of uint8 [F, H, W, 3]
    renderer.close(state)

A control packet is a small msgpack-able dict for one video frame, keyed by control kind:
``{"camera": {"c2w": [16 floats, row-major OpenCV camera-to-world]}, "actions": {...}}``.
A step receives exactly as many packets per session as frames it will return for that session
(`RendererSpec.frames_for_step(index)`): `first_step_frames` for step 0, `frames_per_step` after.

This module is neutral ground: the worker runtime, the model and the reference world all import
it, and none of them imports another for the protocol. `check_renderer(renderer)` runs the
contract; renderer plugins call it in their tests (docs/plugins.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import WorldsimUserError


@dataclass(frozen=True)
class RendererSpec:
    name: str
    width: int
    height: int
    fps: float = 24.0
    frames_per_step: int = 4          # video frames per step (AAPT: one latent frame = 4 frames)
    first_step_frames: int = 1        # step 0 returns the first frame alone (AAPT: latent 0 = 1 frame)
    control_kinds: dict[str, dict] = field(default_factory=dict)   # kind -> packet schema
    info: dict[str, Any] = field(default_factory=dict)             # preset, latent size, ...
    # True: the step is compiled/captured for fixed batch sizes, so the worker steps it only in batches of
    # its bucket sizes or at most a quarter below one (127 for 128), which the renderer pads up to the
    # bucket itself (runtime/scheduling.py split_padded; aapt repeats the last session); False (eager):
    # any batch size up to the largest bucket, the fewest batches
    static_batches: bool = False

    def frames_for_step(self, index: int) -> int:
        return self.first_step_frames if index == 0 else self.frames_per_step

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RendererSpec":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@runtime_checkable
class Renderer(Protocol):
    spec: RendererSpec

    def open(self, seed: int, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> Any: ...

    def step(self, states: Sequence[Any], packets: Sequence[Sequence[dict]]) -> Sequence[np.ndarray]: ...

    def close(self, state: Any) -> None: ...


class RendererError(RuntimeError):
    """Raised by a renderer for a bad request of one session (bad packet, bad first frame).

    The worker turns it into an ERROR `bad_request` for that session only. In a batched `step`,
    set `index` to the position of the offending session so the others still get their frames.
    A renderer validates every session's input before it mutates any state, so a failed
    step leaves all sessions as they were."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


class RendererFull(RendererError):
    """Raised by `open` when the renderer holds no more sessions (e.g. all rows of its static caches
    are taken): the worker answers `overloaded` with a `retry_s`, as when it is itself full."""


class RendererContractError(WorldsimUserError):
    """`check_renderer` found a renderer that breaks the protocol (one line naming every problem)."""


_CALLS = {   # method -> (how the worker calls it, the arguments it passes)
    "open": ("open(seed, prompt='', first_frame=None, controls=())", (0, "", None, ())),
    "step": ("step(states, packets)", ([], [])),
    "close": ("close(state)", (None,)),
}


def check_renderer(renderer: Any, options: dict | None = None, steps: int = 3, sessions: int = 2,
                   seed: int = 0) -> Renderer:
    """Check a renderer (an instance, or a class/factory built with `options`) against the protocol.

    Checks the spec's fields (and that it survives msgpack, as it does on the wire), that open,
    step and close take the arguments the worker passes, then runs `sessions` sessions for `steps`
    batched steps with packets from the real rigs and checks every output: one uint8 array
    (frames_for_step(i), height, width, 3) per session. A step with the wrong packet count must
    raise RendererError. `steps=0` skips the run. Returns the instance; raises
    RendererContractError (a WorldsimUserError, one line) naming what is wrong."""
    label = getattr(renderer, "__qualname__", None) or type(renderer).__qualname__
    if isinstance(renderer, type) or (callable(renderer) and not hasattr(renderer, "step")):
        try:
            renderer = renderer(**(options or {}))
        except Exception as err:   # noqa: BLE001 - any failure to build is the finding
            raise RendererContractError(f"renderer {label}: building it with {options or {}} raised {_one_line(err)}") from None
    problems = _method_problems(renderer) + _spec_problems(getattr(renderer, "spec", None))
    if not problems and steps > 0:
        problems = _run_problems(renderer, steps, sessions, seed)
    if problems:
        name = getattr(getattr(renderer, "spec", None), "name", label)
        raise RendererContractError(f"renderer {name!r} breaks the protocol: " + "; ".join(problems))
    return renderer


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def _method_problems(renderer: Any) -> list[str]:
    import inspect
    problems = []
    for method, (call, args) in _CALLS.items():
        fn = getattr(renderer, method, None)
        if not callable(fn):
            problems.append(f"missing method {call}")
            continue
        try:
            inspect.signature(fn).bind(*args)
        except TypeError:
            problems.append(f"{method}{inspect.signature(fn)} cannot be called as {call}")
        except ValueError:
            pass                                          # no visible signature (a builtin): trust it
    return problems


def _spec_problems(spec: Any) -> list[str]:
    import math

    import msgpack
    if not isinstance(spec, RendererSpec):
        return [f"spec must be a worldsim.rendering.RendererSpec, got {type(spec).__name__}"]
    problems = []
    if not isinstance(spec.name, str) or not spec.name:
        problems.append(f"spec.name must be a non-empty string, got {spec.name!r}")
    for field_name in ("width", "height", "frames_per_step", "first_step_frames"):
        value = getattr(spec, field_name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"spec.{field_name} must be a positive int, got {value!r}")
    if not isinstance(spec.fps, (int, float)) or not math.isfinite(spec.fps) or spec.fps <= 0:
        problems.append(f"spec.fps must be a positive number, got {spec.fps!r}")
    if not isinstance(spec.control_kinds, dict) or not all(isinstance(k, str) for k in spec.control_kinds):
        problems.append("spec.control_kinds must be a dict: control kind -> packet schema")
    else:
        from .controls.registry import available_controls
        unknown = sorted(set(spec.control_kinds) - set(available_controls()))
        if unknown:
            problems.append(f"spec.control_kinds names unknown controls {unknown} "
                            f"(available: {', '.join(available_controls())}; a plugin's control must be registered)")
    if not isinstance(spec.info, dict):
        problems.append(f"spec.info must be a dict, got {type(spec.info).__name__}")
    if not problems:
        try:
            back = RendererSpec.from_dict(msgpack.unpackb(msgpack.packb(spec.to_dict())))
        except (TypeError, ValueError) as err:
            problems.append(f"spec must be msgpack-able (it is sent to every client): {_one_line(err)}")
        else:
            if back != spec:
                problems.append("spec does not survive a msgpack round trip (use lists, not tuples, in control_kinds/info)")
    return problems


def _run_problems(renderer: Any, steps: int, sessions: int, seed: int) -> list[str]:
    kinds = list(renderer.spec.control_kinds)
    states: list[Any] = []
    problems: list[str] = []
    try:
        for i in range(sessions):
            try:
                states.append(renderer.open(seed + i, "", None, kinds))
            except Exception as err:   # noqa: BLE001 - a failure is the finding
                return [f"open(seed={seed + i}, controls={kinds}) raised {_one_line(err)}"]
        problems = _step_problems(renderer, states, steps)
    finally:
        for state in states:
            try:
                renderer.close(state)
            except Exception as err:   # noqa: BLE001
                problems.append(f"close(state) raised {_one_line(err)}")
    return problems


def _step_problems(renderer: Any, states: list, steps: int) -> list[str]:
    from .controls import PacketBuilder, idle_actions
    spec: RendererSpec = renderer.spec
    busy = idle_actions() | {"move_forward": 1.0, "turn_left": 1.0, "look_dx": 3.0}
    builders = [PacketBuilder(list(spec.control_kinds), fps=spec.fps) for _ in states]
    for index in range(steps):
        count = spec.frames_for_step(index)
        if index == 1:
            wrong = [[b.tick(idle_actions()) for _ in range(count + 1)] for b in builders]
            try:
                renderer.step(states, wrong)
                return [f"step {index} with {count + 1} packets per session (it takes {count}) must raise "
                        "worldsim.rendering.RendererError, it returned"]
            except RendererError:
                pass
            except Exception as err:   # noqa: BLE001
                return [f"step {index} with the wrong packet count must raise RendererError, it raised {_one_line(err)}"]
        packets = [[b.tick(busy if f % 2 else idle_actions()) for f in range(count)] for b in builders]
        try:
            out = renderer.step(states, packets)
        except Exception as err:   # noqa: BLE001
            return [f"step {index} of {len(states)} sessions raised {_one_line(err)}"]
        if not isinstance(out, Sequence) or len(out) != len(states):
            got = len(out) if isinstance(out, Sequence) else type(out).__name__
            return [f"step {index} must return one frame array per session ({len(states)}), got {got}"]
        want = (count, spec.height, spec.width, 3)
        for frames in out:
            if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.shape != want:
                got = f"{frames.dtype} {tuple(frames.shape)}" if isinstance(frames, np.ndarray) else type(frames).__name__
                return [f"step {index} must return uint8 arrays {want} (frames, height, width, RGB), got {got}"]
    return []
