"""The worker's session table: limits per worker and per client, ownership, lifetime.

The per-worker limit is the worker's setting (`worldsim serve --max-sessions N`, default
MAX_SESSIONS_PER_WORKER, at most MAX_SESSIONS_PER_WORKER_BOUND); an OPEN past it is `overloaded`.

A session lives until its client closes it, its client disconnects (the IO thread sees the
connection close), or its client has sent nothing for `idle_s` seconds (a client that polls
sends heartbeat PINGs, which count). A freed session's id is remembered for a while so a late
STEP is told why the session is gone.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

from . import protocol as P
from .shm import WorkerSlots

SESSION_IDLE_S = 60.0


@dataclass
class Viewer:
    """A spectator of a session (worldsim.runtime.sharing): frames kept for it, its WATCHes waiting."""
    id: int
    identity: bytes
    kept: collections.deque = field(default_factory=lambda: collections.deque(maxlen=P.SPECTATOR_QUEUE))
    waiting: collections.deque = field(default_factory=collections.deque)   # rids of its WATCH requests
    dropped: int = 0             # frames dropped (the oldest kept) because it did not ask in time


@dataclass
class Session:
    id: int
    owner: bytes                 # ZMQ identity of the client that opened it
    renderer_name: str
    controls: list[str]          # control kinds every packet of this session carries
    state: Any
    slots: WorkerSlots | None = None     # shared-memory frame slots (created here, for a local client)
    steps: int = 0
    slow: bool = False           # its last step overran the step deadline: stepped alone
    pending: collections.deque = field(default_factory=collections.deque)   # (rid, tick, packets, t_recv, slot)
    seed: int = 0
    token: str = ""              # "ID.SECRET": what a spectator JOINs with
    audience: dict[bytes, Viewer] = field(default_factory=dict)   # spectators, in the order they joined


def check_max_sessions(value: int) -> int:
    """A worker's session limit, or ValueError (one line) outside 1..MAX_SESSIONS_PER_WORKER_BOUND."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= P.MAX_SESSIONS_PER_WORKER_BOUND:
        raise ValueError(f"must be 1..{P.MAX_SESSIONS_PER_WORKER_BOUND}, got {value!r}")
    return value


class SessionTable:
    def __init__(self, max_sessions: int = P.MAX_SESSIONS_PER_WORKER,
                 max_per_client: int = P.MAX_SESSIONS_PER_CLIENT, idle_s: float = SESSION_IDLE_S):
        check_max_sessions(max_sessions)
        self.max_sessions, self.max_per_client, self.idle_s = max_sessions, max_per_client, idle_s
        self.sessions: dict[int, Session] = {}
        self.by_owner: dict[bytes, set[int]] = collections.defaultdict(set)
        self.ended: collections.OrderedDict[int, str] = collections.OrderedDict()   # id -> why it ended

    def __len__(self) -> int:
        return len(self.sessions)

    def values(self):
        return self.sessions.values()

    def check_room(self, owner: bytes, rid: int, last_seen: dict[bytes, float]) -> None:
        """Raise `overloaded` (saying when to retry) if `owner` may not open another session."""
        if len(self.by_owner.get(owner, ())) >= self.max_per_client:
            raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"this client already has {self.max_per_client} sessions "
                                  f"open, the most a worker allows per client; close one and retry", rid)
        if len(self.sessions) >= self.max_sessions:
            now = time.monotonic()
            expiry = [last_seen.get(o, now) + self.idle_s - now for o in self.by_owner]
            retry = min(max(1.0, min(expiry, default=self.idle_s)), 3600.0)
            raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"worker serves {self.max_sessions} sessions, the most it "
                                  f"takes; retry in {retry:.0f} s (sessions of clients that disconnect are freed at "
                                  f"once, of silent clients after {self.idle_s:g} s)", rid, retry_s=retry)

    def add(self, session: Session) -> None:
        self.sessions[session.id] = session
        self.by_owner[session.owner].add(session.id)

    def remove(self, sid: int, why: str) -> Session | None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return None
        owned = self.by_owner.get(session.owner)
        if owned is not None:
            owned.discard(sid)
            if not owned:
                del self.by_owner[session.owner]
        self.ended[sid] = why
        while len(self.ended) > 4096:
            self.ended.popitem(last=False)
        return session

    def transfer(self, session: Session, owner: bytes) -> None:
        """`owner` controls `session` from now on (a handover)."""
        owned = self.by_owner.get(session.owner)
        if owned is not None:
            owned.discard(session.id)
            if not owned:
                del self.by_owner[session.owner]
        session.owner = owner
        self.by_owner[owner].add(session.id)

    def owned(self, identity: bytes, sid: int, rid: int) -> Session:
        session = self.sessions.get(sid)
        if session is None or session.owner != identity:
            why = self.ended.get(sid, "") if session is None else ""
            raise P.ProtocolError(P.ErrorCode.UNKNOWN_SESSION, f"no session {sid} open for this client"
                                  + (f" ({why})" if why else ""), rid, sid)
        return session

    def of_owner(self, owner: bytes) -> list[Session]:
        return [self.sessions[sid] for sid in sorted(self.by_owner.get(owner, ()))]

    def idle(self, last_seen: dict[bytes, float], now: float | None = None) -> list[Session]:
        """Sessions whose client has been silent for longer than `idle_s`."""
        now = time.monotonic() if now is None else now
        return [s for owner in list(self.by_owner) if now - last_seen.get(owner, now) > self.idle_s
                for s in self.of_owner(owner)]

    def pending(self) -> int:
        return sum(len(s.pending) for s in list(self.sessions.values()))
