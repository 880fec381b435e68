"""The SDK surface: `worldsim.open(...)` gives a `World` you step with named actions and get frames from.

    with worldsim.open() as world:                          # the embedded model, as `worldsim play`
        frames = world.step({"move_forward": 1.0})          # uint8 (F, H, W, 3), F = world.frames_per_step()
        world.record("walk.mp4")                            # every frame stepped from now on
        world.reset(seed=3)

A worker process renders unless `in_process=True` (the renderer runs in this process) or
`connect="tcp://host:port"` (a worker started with `worldsim serve`); with `join=world.join_token`
too, the World watches another World's session as a spectator (`frames()`). Bad arguments raise
`WorldsimUserError` with a one-line message. Docs: docs/sdk.md.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .errors import WorldsimUserError
from .rendering import RendererSpec
from .world_sharing import SharedSession, one_line as _one_line

__all__ = ["World", "load_snapshot", "open", "step_together"]


class World(SharedSession):
    """One session on a renderer. Made by `worldsim.open`; close it (or use `with`)."""

    def __init__(self, client, renderer: str | None, options: dict, seed: int = 0, join: str | None = None,
                 prompt: str = ""):
        from .controls import PacketBuilder
        self.session = None
        if join is not None:                    # a spectator of another client's session
            from .runtime.client import RequestError
            try:
                self.session = client.join(join)
            except RequestError as err:
                raise WorldsimUserError(_one_line(f"cannot join the session: {err}")) from None
            renderer, seed = self.session.renderer, self.session.seed
        spec = client.welcome.get("specs", {}).get(renderer)
        if spec is None:
            raise WorldsimUserError(f"the worker does not serve {renderer!r}; it serves "
                                    f"{', '.join(client.welcome.get('renderers', [])) or 'nothing'}")
        self.client, self.renderer, self.options = client, renderer, options
        self.kinds: list[str] = sorted(spec["control_kinds"])
        self.seed, self.prompt = seed, prompt
        self.steps = 0                          # steps taken since open/reset
        self.last_packets: list[dict] = []      # the packets of the last step (one per frame)
        self._recorder = None
        self._closed = False
        self._owns_client = True                # False for open_sibling(): close() leaves the worker running
        self.last_batch = 0                     # sessions the worker rendered in the batch of the last step
        self._on_step: list[Callable[["World", np.ndarray], None]] = []
        if self.session is None:
            self._open_session(seed)
        self.steps = self.session.steps_sent
        self._ticks = 0
        self._role = self.role
        rig_options: dict[str, Any] = {"fps": self.spec.fps}
        if "camera" in self.kinds:
            rig_options["mode"] = "walk"        # as `worldsim play` (without --fly)
        if "pose" in self.kinds:
            rig_options.update(width=self.spec.width, height=self.spec.height)
        self._rig = PacketBuilder(self.kinds, **rig_options)

    # ---- information ------------------------------------------------------------------------
    @property
    def spec(self) -> RendererSpec:
        """The renderer's spec: name, width, height, fps, frames_per_step, control_kinds, info."""
        return self.session.spec

    def frames_per_step(self, step: int | None = None) -> int:
        """How many frames (and packets) step number `step` has; default: the next step."""
        return self.spec.frames_for_step(self.steps if step is None else step)

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- stepping ---------------------------------------------------------------------------
    def step(self, controls: dict[str, float] | Sequence[dict] | None = None, as_torch: bool = False):
        """Render one step: uint8 (F, H, W, 3) frames (a torch tensor with as_torch=True).

        `controls` is a dict of named actions (worldsim.controls.ACTIONS, e.g. {"move_forward": 1.0,
        "look_dx": 3.0}; each value held for every frame of the step; None: nothing pressed), or a
        list of ready control packets, one per frame (`frames_per_step()` of them)."""
        self._check_open("step")
        self._check_controller("step")
        packets, logged = self._packets(controls)
        from .runtime.client import RequestError
        try:
            result = self.client.step(self.session, self.steps, packets)
        except RequestError as err:
            raise WorldsimUserError(_one_line(f"step {self.steps}: {err}")) from None
        return self._finish(result, packets, logged, as_torch)

    def _packets(self, controls) -> tuple[list[dict], list[dict]]:
        """The control packets of the next step and the named actions logged with them."""
        n = self.frames_per_step()
        if controls is None or isinstance(controls, dict):
            actions = _actions(controls or {})
            return [self._rig.tick(actions) for _ in range(n)], [actions] * n
        if isinstance(controls, (list, tuple)):
            if len(controls) != n or not all(isinstance(p, dict) for p in controls):
                raise WorldsimUserError(f"step {self.steps} takes {n} control packets (dicts), one per frame; "
                                        f"got {len(controls)}" + ("" if all(isinstance(p, dict) for p in controls)
                                                                  else " with non-dicts"))
            from .controls import ControlError, validate_packet
            for i, packet in enumerate(controls):   # checked here too: an in-process renderer may not
                try:
                    validate_packet(packet, self.kinds)
                except ControlError as err:
                    raise WorldsimUserError(_one_line(f"step {self.steps}, packet {i}: {err}")) from None
            return list(controls), [{}] * n
        raise WorldsimUserError(f"controls must be a dict of named actions or a list of packets, "
                                f"got {type(controls).__name__}")

    def _finish(self, result, packets: list[dict], logged: list[dict], as_torch: bool = False):
        """The frames of a step's result; records them and moves the step count on."""
        if result.error is not None:
            if result.error.code == "bad_request":
                raise WorldsimUserError(_one_line(f"step {self.steps}: {result.error}")) from None
            raise result.error
        frames = np.array(result.frames, dtype=np.uint8, copy=True)
        if self._recorder is not None:
            for i, (actions, packet) in enumerate(zip(logged, packets)):
                self._recorder.log_tick({"tick": self._ticks + i, "actions": actions, "packet": packet})
            self._recorder.add_frames(frames)
        self._ticks += len(packets)
        self.steps += 1
        self.last_packets = packets
        self.last_batch = int(result.timings.get("batch", 1))
        for callback in list(self._on_step):
            callback(self, frames)
        if as_torch:
            import torch
            return torch.from_numpy(frames)
        return frames

    def on_step(self, callback: Callable[["World", np.ndarray], None]) -> Callable[[], None]:
        """Call `callback(world, frames)` after every step of this world (frames uint8 (F, H, W, 3),
        before `step` returns them; `world.steps` already counts the step). Returns a function that
        removes the callback. A callback that raises stops that `step` with its exception."""
        if not callable(callback):
            raise WorldsimUserError(f"on_step takes a callable, got {type(callback).__name__}")
        self._on_step.append(callback)

        def remove() -> None:
            if callback in self._on_step:
                self._on_step.remove(callback)
        return remove

    def open_sibling(self, seed: int = 0) -> "World":
        """Another World on this one's worker: a new session (seed `seed`) of the same renderer, so
        `step_together` can render both in one batch. Closing it closes its session only; closing
        this World stops the worker under both."""
        self._check_open("open_sibling")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise WorldsimUserError(f"open_sibling: seed takes an int, got {seed!r}")
        sibling = World(self.client, self.renderer, self.options, seed, prompt=self.prompt)
        sibling._owns_client = False
        return sibling

    def reset(self, seed: int | None = None) -> None:
        """Start again: a new session (same seed, or `seed`), the camera back at its start."""
        self._check_open("reset")
        self._check_controller("reset")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise WorldsimUserError(f"reset: seed takes an int, got {seed!r}")
        old = self.session
        self._open_session(self.seed if seed is None else seed)
        self.client.close(old)
        self._rig.reset()
        self.last_packets = []

    # ---- recording --------------------------------------------------------------------------
    def record(self, path: str | None) -> None:
        """Write every frame stepped from now on to the mp4 `path` (and its control log,
        `NAME.ctl.msgpack`, replayable with `worldsim replay`); `record(None)` stops."""
        self._check_open("record")
        self._stop_recording()
        if path is None:
            return
        from .render.recorder import Recorder
        try:
            self._recorder = Recorder(path, self.spec.fps, {
                "renderer": self.renderer, "seed": self.seed, "prompt": self.prompt, "controls": self.kinds,
                "spec": self.spec.to_dict(), "renderer_options": self.options,
                "worker": self.client.welcome.get("worker")})
        except (ValueError, OSError) as err:
            raise WorldsimUserError(_one_line(f"record: {err}")) from None

    # ---- snapshots --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The whole state of this world now (the renderer's session and the camera rig), to give
        to `restore` later: stepping on from a restored snapshot gives the same frames. Renderers
        that support it (`reference`, `aapt`), in process or on a worker (sent over the protocol)."""
        self._check_open("snapshot")
        from .snapshot import FORMAT, object_state, session_state
        session = session_state(self, "snapshot")
        return {"format": FORMAT, "renderer": self.renderer, "size": [self.spec.width, self.spec.height],
                "seed": self.seed, "steps": self.steps, "ticks": self._ticks,
                "last_packets": json_copy(self.last_packets),
                "rig": {kind: object_state(rig) for kind, rig in self._rig.rigs.items()},
                "session": session}

    def restore(self, state: dict) -> None:
        """Go back to a `snapshot()` of a world of the same renderer and size (this one, or
        one loaded with `worldsim.load_snapshot`)."""
        self._check_open("restore")
        self._check_controller("restore")
        from .snapshot import FORMAT, restore_session, set_object_state
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise WorldsimUserError("restore takes a snapshot made by World.snapshot or worldsim.load_snapshot")
        size = [self.spec.width, self.spec.height]
        if state["renderer"] != self.renderer or list(state["size"]) != size:
            raise WorldsimUserError(f"restore: the snapshot is of {state['renderer']} {state['size'][0]}x"
                                    f"{state['size'][1]}, this world is {self.renderer} {size[0]}x{size[1]}")
        if state["seed"] != self.seed:
            self.reset(state["seed"])
        restore_session(self, state)
        for kind, rig_state in state["rig"].items():
            set_object_state(self._rig.rigs[kind], rig_state)
        self.steps, self._ticks = int(state["steps"]), int(state["ticks"])
        self.last_packets = json_copy(state["last_packets"])
        self.session.steps_sent = self.steps

    def save_snapshot(self, path: str) -> None:
        """`snapshot()` written to `path` (one safetensors file; read it with `worldsim.load_snapshot`)."""
        from .snapshot import save
        try:
            save(self.snapshot(), path)
        except OSError as err:
            raise WorldsimUserError(_one_line(f"save_snapshot: {err}")) from None

    # ---- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Finish any recording, close the session and stop the worker (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stop_recording()
        finally:
            if self._owns_client:
                self.client.shutdown()
            elif self.client.sessions and self.session in self.client.sessions:
                from .runtime.client import RequestError, WorkerDied
                try:
                    self.client.close(self.session)
                except (RequestError, WorkerDied, TimeoutError):
                    pass                        # the worker is gone, or forgot the session: nothing left to close

    def __enter__(self) -> "World":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"step {self.steps}"
        return f"<World {self.renderer} {self.spec.width}x{self.spec.height} seed {self.seed}, {state}>"

    # ---- internals --------------------------------------------------------------------------
    def _open_session(self, seed: int) -> None:
        from .runtime.client import RequestError
        try:
            self.session = self.client.open(self.renderer, seed, prompt=self.prompt, controls=self.kinds)
        except RequestError as err:
            raise WorldsimUserError(_one_line(f"cannot open a session on {self.renderer!r}: {err}")) from None
        self.seed, self.steps, self._ticks = seed, 0, 0

    def _stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise WorldsimUserError(f"{what}: this world is closed")


def step_together(worlds: Sequence["World"], controls: Sequence | None = None) -> list[np.ndarray]:
    """Step several Worlds of one worker (`open_sibling`) at once: every step is sent before any
    is waited for, so the worker renders them in one batch. `controls[i]` is what `worlds[i].step`
    takes (None: nothing pressed); returns each world's uint8 (F, H, W, 3) frames, in order."""
    worlds = list(worlds)
    controls = [None] * len(worlds) if controls is None else list(controls)
    if len(controls) != len(worlds):
        raise WorldsimUserError(f"step_together: {len(worlds)} worlds but {len(controls)} controls")
    if not worlds:
        return []
    client = worlds[0].client
    if any(w.client is not client for w in worlds) or len({id(w) for w in worlds}) != len(worlds):
        raise WorldsimUserError("step_together steps distinct worlds of one worker: open them with world.open_sibling()")
    prepared = []
    for world, c in zip(worlds, controls):
        world._check_open("step")
        world._check_controller("step")
        prepared.append(world._packets(c))
    import time
    from .runtime.client import RequestError
    try:
        rids = [client.submit_step(w.session, w.steps, packets) for w, (packets, _) in zip(worlds, prepared)]
        results: dict[int, Any] = {}
        deadline = time.monotonic() + getattr(client, "timeout", 30.0)
        while len(results) < len(rids):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the worker did not answer {len(rids) - len(results)} of {len(rids)} steps in time")
            results.update((r.rid, r) for r in client.poll(timeout=min(left, 0.05)))
    except RequestError as err:
        raise WorldsimUserError(_one_line(f"step_together: {err}")) from None
    return [w._finish(results[rid], packets, logged) for w, rid, (packets, logged) in zip(worlds, rids, prepared)]


def _actions(controls: dict) -> dict[str, float]:
    """A full sample of named actions (missing ones at 0) from the caller's dict, checked."""
    from .controls.actions import AXES, BUTTONS, TRIGGERS, idle_actions
    actions = idle_actions()
    for name, value in controls.items():
        if name not in actions:
            hint = " (a one-shot event, not a held control)" if name in TRIGGERS else ""
            raise WorldsimUserError(f"unknown action {name!r}{hint}; known: {', '.join(BUTTONS + AXES)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise WorldsimUserError(f"action {name!r} takes a number, got {value!r}") from None
        if not math.isfinite(value):
            raise WorldsimUserError(f"action {name!r} is {value}: it must be finite")
        actions[name] = value
    return actions


def load_snapshot(path: str) -> dict:
    """A snapshot saved by `World.save_snapshot`, for `World.restore`."""
    from .snapshot import load
    try:
        return load(path)
    except (OSError, ValueError) as err:
        raise WorldsimUserError(_one_line(f"load_snapshot: {err}")) from None


def json_copy(value):
    import json
    return json.loads(json.dumps(value))


from .world_open import open, renderer_parameters  # noqa: E402,F401 -- the SDK's entry point lives beside World
