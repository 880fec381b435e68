"""Client side of snapshots over the wire and shared sessions (a mixin of `Client`; docs/sdk.md).

    data = client.snapshot(session)                 # bytes: worldsim.snapshot.dumps of the session
    client.restore(session, data)                   # back to it (a controller only)
    watched = other.join(session.token)             # another client: a spectator of the session
    for result in other.frames(watched, timeout=1): ...   # StepResult of each step the controller takes
    client.handover(session)                        # control to the spectator watching longest

A spectator keeps `WATCH_WINDOW` WATCH requests at the worker; frames that arrive while the
caller does not read are kept up to `SPECTATOR_QUEUE` steps, then the oldest is dropped and
counted in `session.dropped` (with those the worker dropped).
"""
from __future__ import annotations

import collections
import time

from . import protocol as P
from ..rendering import RendererSpec

WATCH_WINDOW = 2       # WATCH requests a spectator keeps at the worker


class SharingClient:
    """Mixin of `Client`: needs `_request`, `_send`, `_sent`, `_recv`, `_dispatch`, `_rids`, `sessions`."""

    def _init_sharing(self) -> None:
        self.watching: list = []                   # sessions this client watches as a spectator
        self._watches: dict[int, object] = {}      # rid of a WATCH -> its session

    # ---- snapshots ---------------------------------------------------------------------------
    def snapshot(self, session) -> bytes:
        """The session's state as bytes (worldsim.snapshot.loads reads them)."""
        reply = self._request(P.MsgType.SNAPSHOT, {"session": session.id})
        return bytes(reply.payload[0])

    def restore(self, session, data: bytes) -> int:
        """Put the state `snapshot` gave back into `session`; returns the session's step count."""
        if len(data) > P.MAX_SNAPSHOT_BYTES:
            raise ValueError(f"a snapshot of {len(data)} bytes exceeds the {P.MAX_SNAPSHOT_BYTES} one message carries")
        step = self._request(P.MsgType.RESTORE, {"session": session.id}, [data]).header["step"]
        session.steps_sent = step
        return step

    # ---- spectators ----------------------------------------------------------------------------
    def join(self, token: str):
        """Watch the session of join `token` as a spectator; frames come out of `frames`."""
        from .client import Session
        h = self._request(P.MsgType.JOIN, {"token": str(token)}).header
        session = Session(h["session"], h["renderer"], RendererSpec.from_dict(h["spec"]), h["seed"],
                          steps_sent=h["step"], token=str(token), role="spectator", viewer=h["viewer"])
        self.watching.append(session)
        self._top_up(session)
        return session

    def frames(self, session, timeout: float = 0.0) -> list:
        """Steps the controller took since the last call (StepResult each, oldest first), waiting up
        to `timeout` s for the first; RequestError `unknown_session` once the session has ended."""
        deadline = time.monotonic() + timeout
        while not session.received and session.role == "spectator" and not session.ended:
            msg = self._recv(max(0.0, deadline - time.monotonic()))
            if msg is None:
                break
            self._dispatch(msg)
        for _ in range(4 * P.SPECTATOR_QUEUE):       # and what else has arrived already
            msg = self._recv(0.0) if session.received else None
            if msg is None:
                break
            self._dispatch(msg)
        out = list(session.received)
        session.received.clear()
        if not out and session.ended:
            from .client import RequestError
            raise RequestError("unknown_session", session.ended)
        return out

    def await_control(self, session, timeout: float = 0.0) -> bool:
        """Wait up to `timeout` s for control of a watched session to come here (frames that arrive
        meanwhile are kept for `frames`); True if this client controls it."""
        deadline = time.monotonic() + timeout
        while session.role == "spectator" and not session.ended:
            msg = self._recv(max(0.0, deadline - time.monotonic()))
            if msg is None:
                break
            self._dispatch(msg)
        return session.role == "controller"

    def handover(self, session, to: int | None = None) -> int:
        """Give control of `session` to spectator `to` (default: the one watching longest); this
        client watches it from now on. Returns this client's viewer id."""
        header = {"session": session.id} if to is None else {"session": session.id, "to": int(to)}
        reply = self._request(P.MsgType.HANDOVER, header).header
        if session in self.sessions:
            self.sessions.remove(session)
        if session.slots is not None:
            session.slots.close()
            session.slots = None
        session.role, session.viewer = "spectator", reply.get("viewer", 0)
        self.watching.append(session)
        self._top_up(session)
        return session.viewer

    def _leave(self, session) -> None:
        self.watching.remove(session)
        if not session.ended:
            session.ended = "this client left it"
            self._request(P.MsgType.CLOSE, {"session": session.id})

    # ---- internals -----------------------------------------------------------------------------
    def _top_up(self, session) -> None:
        while (session.role == "spectator" and not session.ended
               and sum(s is session for s in self._watches.values()) < WATCH_WINDOW):
            rid = next(self._rids)
            self._sent()
            self._send(P.encode(P.MsgType.WATCH, {"rid": rid, "session": session.id}))
            self._watches[rid] = session

    def _dispatch_shared(self, msg: P.Message) -> bool:
        """A reply to a WATCH, or a CONTROL notice; False for anything else."""
        rid = msg.header["rid"]
        session = self._watches.pop(rid, None)
        if session is None:
            if msg.type is not P.MsgType.CONTROL or rid >= 0:
                return False
            session = next((s for s in self.watching if s.id == msg.header["session"]), None)
            if session is None:
                return True
        if msg.type is P.MsgType.FRAMES:
            from .client import StepResult
            now = time.perf_counter()
            frames = P.array_from_payload(msg.header["frames"], msg.payload[0], rid) if msg.payload else None
            if len(session.received) == session.received.maxlen:
                session.dropped_here += 1
            session.received.append(StepResult(rid, session, msg.header["tick"], frames, now, now, msg.header["step"],
                                               msg.header.get("timings", {})))
            session.dropped_there = msg.header.get("dropped", 0)
            session.steps_sent = msg.header["step"] + 1
        elif msg.type is P.MsgType.CONTROL and msg.header["role"] == "controller" and session.role != "controller":
            session.role, session.steps_sent = "controller", msg.header["step"]
            if session in self.watching:
                self.watching.remove(session)
            self.sessions.append(session)
        elif msg.type is P.MsgType.ERROR and msg.header.get("code") == "unknown_session":
            session.ended = session.ended or msg.header.get("message", "the session ended")
        self._top_up(session)
        return True

    def _drop_watches(self, reason: str) -> None:
        """The worker died or was restarted: what was watched there has ended."""
        self._watches.clear()
        for session in self.watching:
            session.ended = session.ended or reason


def received_queue() -> collections.deque:
    return collections.deque(maxlen=P.SPECTATOR_QUEUE)
