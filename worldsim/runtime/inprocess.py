"""In-process mode: the renderer runs inside the game process behind the Client interface.

For embedding worldsim in an existing game loop without a second process, and for measuring what
the worker path costs (`worldsim bench runtime`). Steps run synchronously in `submit_step`.
"""
from __future__ import annotations

import itertools
import time
from typing import Sequence

import numpy as np

from .client import RequestError, Session, StepResult
from .registry import create_renderer
from ..rendering import Renderer, RendererError


class LocalClient:
    """Same methods as `Client` (open, submit_step, poll, step, close, ping, shutdown)."""

    def __init__(self, renderer: Renderer | str, options: dict | None = None):
        self.renderer = create_renderer(renderer, **(options or {})) if isinstance(renderer, str) else renderer
        self.name = self.renderer.spec.name
        self.sessions: list[Session] = []
        self.restarts = 0
        self._states: dict[int, object] = {}
        self._ids = itertools.count(1)
        self._rids = itertools.count(1)
        self._done: list[StepResult] = []
        self.welcome = {"renderers": [self.name], "specs": {self.name: self.renderer.spec.to_dict()},
                        "worker": "in-process"}

    def open(self, renderer: str, seed: int = 0, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> Session:
        if renderer != self.name:
            raise RequestError("bad_request", f"renderer {renderer!r} is not served here; this client serves {self.name!r}")
        try:
            state = self.renderer.open(seed, prompt, first_frame, controls)
        except RendererError as err:
            raise RequestError("bad_request", str(err)) from err
        session = Session(next(self._ids), renderer, self.renderer.spec, seed, prompt, tuple(controls), first_frame)
        self._states[session.id] = state
        self.sessions.append(session)
        return session

    def submit_step(self, session: Session, tick: int, packets: list[dict]) -> int:
        rid = next(self._rids)
        sent = time.perf_counter()
        try:
            frames = np.ascontiguousarray(self.renderer.step([self._states[session.id]], [packets])[0], dtype=np.uint8)
            result = StepResult(rid, session, tick, frames, sent, time.perf_counter(), session.steps_sent)
        except RendererError as err:
            result = StepResult(rid, session, tick, None, sent, time.perf_counter(), error=RequestError("bad_request", str(err)))
        session.steps_sent += 1
        self._done.append(result)
        return rid

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def poll(self, timeout: float = 0.0) -> list[StepResult]:
        done, self._done = self._done, []
        return done

    def step(self, session: Session, tick: int, packets: list[dict], timeout: float | None = None) -> StepResult:
        rid = self.submit_step(session, tick, packets)
        index = next(i for i, r in enumerate(self._done) if r.rid == rid)
        return self._done.pop(index)

    def close(self, session: Session) -> None:
        if session in self.sessions:
            self.sessions.remove(session)
            self.renderer.close(self._states.pop(session.id))

    def ping(self) -> dict:
        return {"sessions": len(self.sessions), "pending": 0}

    def shutdown(self) -> None:
        for session in list(self.sessions):
            self.close(session)

    def __enter__(self) -> "LocalClient":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
