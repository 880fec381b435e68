"""FrameLoop: the fixed-tick game loop between the player's input and the renderer's frames.

    a step's first tick:   the controls of all the step's frames are read at once (a live input is
                           held for the step, a script gives each tick's own actions) -> one control
                           packet per frame -> the STEP goes out on that same tick (up to
                           `max_in_flight` steps outstanding; a step is read only when it can be sent
                           at once, so no read controls wait behind the renderer). Reading ahead
                           instead of waiting for the step's last tick takes `frames_per_step - 1`
                           ticks off latency.
    every tick:            the next received frame is presented (latest-wins: a backlog is dropped)

Time comes from an injectable clock, accumulated with a clamp so a stall never spirals. When the
renderer cannot keep up, ticks wait for a free pipeline slot instead of queueing input: the world
slows down, but latency stays bounded and every sampled packet is rendered (replays are exact).
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from worldsim.controls.actions import sample_step

from .client import Session, WorkerRestarted
from .stats import LoopStats


class InputSource(Protocol):
    def sample(self) -> dict: ...            # named actions for this tick
    def pop_triggers(self) -> list[str]: ...  # one-shot actions since the last call


class PacketSource(Protocol):
    def tick(self, actions: dict) -> dict: ...   # one control packet per video frame
    def reset(self) -> None: ...


@dataclass
class _Frame:
    image: np.ndarray       # uint8 [H, W, 3]
    tick: int               # the tick whose control packet produced it
    sampled_at: float       # clock time that packet was sampled
    first: bool = True      # the first frame made from that read of the controls (latency counts it)


class FrameLoop:
    def __init__(self, client, session: Session, input: InputSource, packets: PacketSource,
                 display=None, recorder=None, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep, realtime: bool = True, max_in_flight: int = 1,
                 max_frame_time: float = 0.25, on_trigger: Callable[[str], Any] | None = None):
        self.client, self.session = client, session
        self.input, self.packets = input, packets
        self.display, self.recorder = display, recorder
        self.clock, self.sleep = clock, sleep
        self.realtime = realtime
        self.max_in_flight = max_in_flight
        self.max_frame_time = max_frame_time
        self.on_trigger = on_trigger
        self.spec = session.spec
        self.dt = 1.0 / self.spec.fps
        self.stats = LoopStats()
        self.tick = 0
        self.running = False
        self.last_frame: np.ndarray | None = None
        self._lead = 0                                               # ticks still covered by the last step read
        self._ready: collections.deque = collections.deque()        # complete steps not yet sent
        self._sent: dict[int, list[tuple[int, float]]] = {}         # rid -> [(tick, sampled_at)] per frame
        self._frames: collections.deque[_Frame] = collections.deque()
        self._steps_built = 0

    # ---- the run loop ---------------------------------------------------------------------
    def run(self, ticks: int | None = None) -> LoopStats:
        """Run until quit (or `ticks` ticks), then drain what is in flight and present the last frame."""
        self.running = True
        acc, last = 0.0, self.clock()
        while self.running and (ticks is None or self.tick < ticks):
            now = self.clock()
            acc += min(now - last, self.max_frame_time) if self.realtime else self.dt
            last = now
            self._pump_events()
            ticked = blocked = False
            while acc >= self.dt and self.running and (ticks is None or self.tick < ticks):
                if not self._can_tick():
                    acc = min(acc, self.dt)       # wait for the renderer; no catch-up burst later
                    blocked = True
                    break
                self._do_tick(now)
                acc -= self.dt
                ticked = True
            self._submit_ready()
            self._receive(timeout=0.0 if ticked or not self.realtime else 0.002 if blocked else min(self.dt - acc, 0.002))
            if ticked and not self._frames and self._sent:
                # nothing to show this tick but a step is in flight: wait for it (up to half a tick)
                # rather than stalling a whole tick; this takes a tick off input-to-photon latency
                self._receive(timeout=self.dt / 2 if self.realtime else 1.0)
            if ticked:
                self._present()
            elif not self.realtime and not self._can_tick():
                self._receive(timeout=1.0)
            elif self.realtime and acc < self.dt:
                self.sleep(max(0.0, min(self.dt - acc, 0.002)))
        self._drain()
        self.running = False
        return self.stats

    def stop(self) -> None:
        self.running = False

    def _pump_events(self) -> None:
        if self.display is not None and hasattr(self.input, "handle_event"):
            for event in self.display.events():
                self.input.handle_event(event)
        for trigger in self.input.pop_triggers():
            self._trigger(trigger)

    def _trigger(self, name: str) -> None:
        if name == "quit":
            self.running = False
        elif name == "reset":
            self.reset()
        elif self.on_trigger is not None:
            self.on_trigger(name)

    # ---- ticks and steps ------------------------------------------------------------------
    def _can_tick(self) -> bool:
        """A tick that starts a step needs room to send it now."""
        # a step's first tick reads its controls only when the step can go out at once: controls
        # read into a step that then waits for the renderer would only age
        return self._lead > 0 or len(self._ready) + self.client.in_flight < self.max_in_flight

    def _do_tick(self, now: float) -> None:
        if self._lead == 0:
            # a step's first tick: read the controls of all its frames now, so the STEP can be sent
            # on this tick instead of after its last frame's tick
            frames = self.spec.frames_for_step(self._steps_built)
            step = []
            for i, actions in enumerate(sample_step(self.input, frames)):
                packet = self.packets.tick(actions)
                if self.recorder is not None:
                    self.recorder.log_tick({"tick": self.tick + i, "actions": actions, "packet": packet})
                step.append((self.tick + i, now, packet))
            self._ready.append(step)
            self._steps_built += 1
            self._lead = frames
        self._lead -= 1
        self.tick += 1
        self.stats.ticks = self.tick

    def _submit_ready(self) -> None:
        while self._ready and self.client.in_flight < self.max_in_flight:
            step = self._ready.popleft()
            try:
                rid = self.client.submit_step(self.session, step[0][0], [p for _, _, p in step])
            except WorkerRestarted:
                self._on_restart()
                return
            self._sent[rid] = [(tick, sampled) for tick, sampled, _ in step]

    def _receive(self, timeout: float) -> None:
        try:
            results = self.client.poll(timeout)
        except WorkerRestarted:
            self._on_restart()
            return
        for result in results:
            origin = self._sent.pop(result.rid, None)
            if origin is None:                       # a step from before a reset: stale
                continue
            if result.error is not None:
                self.stats.errors += 1
                raise result.error
            self.stats.on_step(result.round_trip_ms, result.timings)
            self.stats.frames_received += len(result.frames)
            if self.recorder is not None:
                self.recorder.add_frames(result.frames)
            for i, (image, (tick, sampled)) in enumerate(zip(result.frames, origin)):
                self._frames.append(_Frame(image, tick, sampled, first=i == 0))
        # latest-wins: never keep more than one step (+1 frame of jitter) waiting for the screen
        keep = self.spec.frames_per_step + 1
        while len(self._frames) > keep:
            self._frames.popleft()
            self.stats.frames_dropped += 1

    def _present(self) -> None:
        if not self._frames:
            self.stats.stalls += 1
            return
        frame = self._frames.popleft()
        self.last_frame = frame.image
        if self.display is not None:
            self.display.present(frame.image, self.hud())
        now = self.clock()
        self.stats.on_present(now, now - frame.sampled_at, first=frame.first)

    def hud(self) -> dict:
        return {**self.stats.hud(), "renderer": self.spec.name}

    # ---- resets ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Teleport back to the start: flush everything in flight and reopen the session."""
        s = self.session
        self.client.close(s)
        self.session = self.client.open(s.renderer, s.seed, s.prompt, s.first_frame, s.controls)
        self.packets.reset()
        self._flush()

    def _on_restart(self) -> None:
        self.stats.restarts += 1
        self._flush()

    def _flush(self) -> None:
        self._lead, self._sent = 0, {}
        self._ready.clear()
        self._frames.clear()
        self._steps_built = 0

    def _drain(self, timeout: float = 30.0) -> None:
        """After the last tick: wait for the steps in flight, then show the newest frame."""
        deadline = time.monotonic() + timeout
        while (self._ready or self._sent) and time.monotonic() < deadline:
            self._submit_ready()
            self._receive(timeout=0.05)
            while len(self._frames) > 1:
                self._present()
        while self._frames:
            self._present()
