"""The worker's snapshots over the wire and shared sessions (a mixin of `Worker`; docs/sdk.md).

Snapshots: SNAPSHOT answers STATE with the session's state as bytes (`worldsim.snapshot.dumps`:
safetensors + JSON, the form of `World.save_snapshot`); RESTORE takes such bytes back. A snapshot
is at most `MAX_SNAPSHOT_BYTES`; bytes that are not a snapshot, or a snapshot of another renderer
or frame size, are a `bad_request` and leave the session as it was.

Shared sessions: OPENED carries a join token ("ID.SECRET"). A client with the token JOINs the
session as a spectator and asks for frames with WATCH: each WATCH is answered by the FRAMES of
the controller's next step (or the oldest one kept for it). A spectator that does not ask has at
most `SPECTATOR_QUEUE` steps kept; past that the oldest is dropped and counted (FRAMES `dropped`),
so a spectator never holds the controller up. Spectators cannot step or restore (`forbidden`).
The controller passes control with HANDOVER (to a spectator by its viewer id, default the one
watching longest) and becomes a spectator itself; when the controller closes the session or
leaves, the session ends and every spectator's WATCH is answered `unknown_session`. A spectator
leaves with CLOSE.
"""
from __future__ import annotations

import collections
import hmac
import itertools
import secrets
import time

from . import protocol as P
from ..rendering import RendererError
from .sessions import Session, Viewer

RESTORE_ERRORS = (RendererError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError)


class SharedSessions:
    """Mixin: needs `table`, `renderers`, `_specs`, `_send`, `_error`, `io.last_seen`."""

    def _init_sharing(self) -> None:
        self.watching: dict[bytes, set[int]] = collections.defaultdict(set)   # spectator -> sessions
        self._viewer_ids = itertools.count(1)

    @staticmethod
    def _new_token(sid: int) -> str:
        return f"{sid}.{secrets.token_urlsafe(18)}"

    def _handle_shared(self, identity: bytes, msg: P.Message) -> bool:
        """Serve CLOSE, a snapshot or a sharing request; False if `msg` is none of them."""
        handler = {P.MsgType.CLOSE: self._close, P.MsgType.SNAPSHOT: self._snapshot, P.MsgType.RESTORE: self._restore,
                   P.MsgType.JOIN: self._join, P.MsgType.WATCH: self._watch,
                   P.MsgType.HANDOVER: self._handover}.get(msg.type)
        if handler is None:
            return False
        handler(identity, msg.header, msg.payload)
        return True

    # ---- who may do what ---------------------------------------------------------------------
    def _controlled(self, identity: bytes, sid: int, rid: int) -> Session:
        """The session `identity` controls; `forbidden` for its spectators."""
        session = self.table.sessions.get(sid)
        if session is not None and identity in session.audience:
            raise P.ProtocolError(P.ErrorCode.FORBIDDEN, f"this client watches session {sid} as a spectator; only "
                                  "its controller may step, restore or close it (a spectator leaves with CLOSE)", rid, sid)
        return self.table.owned(identity, sid, rid)

    def _seen(self, identity: bytes, sid: int, rid: int) -> Session:
        """A session `identity` controls or watches."""
        session = self.table.sessions.get(sid)
        if session is not None and identity in session.audience:
            return session
        return self.table.owned(identity, sid, rid)

    def _idle_check(self, session: Session, rid: int, what: str) -> None:
        if session.pending:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"session {session.id} has {len(session.pending)} steps "
                                  f"pending; wait for their frames before {what}", rid, session.id)

    def _snapshotting(self, session: Session, rid: int):
        renderer = self.renderers[session.renderer_name]
        if not (hasattr(renderer, "snapshot") and hasattr(renderer, "restore")):
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"the {session.renderer_name!r} renderer does not "
                                  "support snapshots", rid, session.id)
        return renderer

    # ---- snapshots ---------------------------------------------------------------------------
    def _snapshot(self, identity: bytes, h: dict, payload: list) -> None:
        from worldsim.snapshot import FORMAT, dumps
        session, rid = self._seen(identity, h["session"], h["rid"]), h["rid"]
        if session.owner == identity:
            self._idle_check(session, rid, "a snapshot")
        renderer = self._snapshotting(session, rid)
        spec = renderer.spec
        data = dumps({"format": FORMAT, "renderer": session.renderer_name, "size": [spec.width, spec.height],
                      "steps": session.steps, "session": renderer.snapshot(session.state)})
        if len(data) > P.MAX_SNAPSHOT_BYTES:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"the snapshot of session {session.id} has {len(data)} "
                                  f"bytes, more than the {P.MAX_SNAPSHOT_BYTES} one message carries", rid, session.id)
        self._send(identity, P.encode(P.MsgType.STATE, {"rid": rid, "session": session.id, "step": session.steps},
                                      [data]))

    def _restore(self, identity: bytes, h: dict, payload: list) -> None:
        from worldsim.snapshot import FORMAT, loads
        session, rid = self._controlled(identity, h["session"], h["rid"]), h["rid"]
        self._idle_check(session, rid, "a restore")
        renderer = self._snapshotting(session, rid)

        def refuse(why: str):
            return P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"RESTORE of session {session.id}: {why}", rid, session.id)
        try:
            snap = loads(payload[0].buffer if hasattr(payload[0], "buffer") else payload[0], P.MAX_SNAPSHOT_BYTES)
        except ValueError as err:
            raise refuse(str(err)) from None
        spec = renderer.spec
        here = f"{session.renderer_name} {spec.width}x{spec.height}"
        if not isinstance(snap, dict) or snap.get("format") != FORMAT or "session" not in snap:
            raise refuse(f"not a session snapshot of format {FORMAT}")
        size = snap.get("size")
        there = f"{snap.get('renderer')} {'x'.join(map(str, size)) if isinstance(size, list) else size}"
        if there != here:
            raise refuse(f"the snapshot is of {there}, this session is {here}")
        steps = snap.get("steps")
        if type(steps) is not int or not 0 <= steps < 2 ** 62:
            raise refuse(f"bad step count {steps!r}")
        backup = renderer.snapshot(session.state)
        try:
            renderer.restore(session.state, snap["session"])
        except RESTORE_ERRORS as err:
            renderer.restore(session.state, backup)              # as it was
            raise refuse(f"the snapshot does not fit: {type(err).__name__}: {err}") from None
        session.steps = steps
        self._send(identity, P.encode(P.MsgType.RESTORED, {"rid": rid, "session": session.id, "step": steps}))

    # ---- spectators ----------------------------------------------------------------------------
    def _join(self, identity: bytes, h: dict, payload: list) -> None:
        rid, token = h["rid"], h["token"]
        head, _, secret = token.partition(".")
        if not head.isdigit() or len(head) > 10 or not secret:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, "a join token looks like 'ID.SECRET' (what the controller's "
                                  f"open returned); got {token[:40]!r}", rid)
        sid = int(head)
        session = self.table.sessions.get(sid)
        if session is None:
            why = self.table.ended.get(sid, "")
            raise P.ProtocolError(P.ErrorCode.UNKNOWN_SESSION, f"no session {sid} to join" + (f" ({why})" if why else ""),
                                  rid, sid)
        if not hmac.compare_digest(session.token.encode(), token.encode()):
            raise P.ProtocolError(P.ErrorCode.FORBIDDEN, f"wrong join token for session {sid}", rid, sid)
        if session.owner == identity or identity in session.audience:
            role = "controls" if session.owner == identity else "already watches"
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"this client {role} session {sid}", rid, sid)
        if len(session.audience) >= P.MAX_SPECTATORS or len(self.watching[identity]) >= P.MAX_WATCHED_PER_CLIENT:
            raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"session {sid} has {P.MAX_SPECTATORS} spectators or this "
                                  f"client watches {P.MAX_WATCHED_PER_CLIENT} sessions, the most allowed", rid, sid,
                                  retry_s=5.0)
        viewer = self._add_viewer(session, identity)
        self.io.last_seen.setdefault(identity, time.monotonic())
        self._send(identity, P.encode(P.MsgType.JOINED, {
            "rid": rid, "session": sid, "renderer": session.renderer_name, "spec": self._specs[session.renderer_name],
            "seed": session.seed, "step": session.steps, "viewer": viewer.id}))

    def _add_viewer(self, session: Session, identity: bytes) -> Viewer:
        viewer = session.audience[identity] = Viewer(next(self._viewer_ids), identity)
        self.watching[identity].add(session.id)
        return viewer

    def _watch(self, identity: bytes, h: dict, payload: list) -> None:
        session, rid = self._seen(identity, h["session"], h["rid"]), h["rid"]
        if session.owner == identity:                  # control came to it: its WATCHes are answered so
            return self._send(identity, P.encode(P.MsgType.CONTROL, {"rid": rid, "session": session.id,
                                                                     "role": "controller", "step": session.steps}))
        viewer = session.audience[identity]
        if viewer.kept:
            header, frames = viewer.kept.popleft()
            return self._send(identity, P.encode(P.MsgType.FRAMES, {**header, "rid": rid, "dropped": viewer.dropped},
                                                 [frames]))
        if len(viewer.waiting) >= P.MAX_WATCHES:
            raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"{P.MAX_WATCHES} WATCH requests of this client already "
                                  f"wait for frames of session {session.id}", rid, session.id, retry_s=0.05)
        viewer.waiting.append(rid)

    def _broadcast(self, session: Session, header: dict, frames) -> None:
        """A step's frames to every spectator: to a waiting WATCH, else kept (the oldest dropped)."""
        if not session.audience:                       # the usual case: nothing to copy or send
            return
        header = dict(header)
        for viewer in session.audience.values():
            if viewer.waiting:
                self._send(viewer.identity, P.encode(P.MsgType.FRAMES, {
                    **header, "rid": viewer.waiting.popleft(), "dropped": viewer.dropped}, [frames]))
                continue
            if len(viewer.kept) == viewer.kept.maxlen:
                viewer.dropped += 1
            viewer.kept.append((header, frames))

    def _handover(self, identity: bytes, h: dict, payload: list) -> None:
        session, rid = self._controlled(identity, h["session"], h["rid"]), h["rid"]
        self._idle_check(session, rid, "handing control over")
        if not session.audience:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"session {session.id} has no spectator to hand "
                                  "control to", rid, session.id)
        to = h.get("to")
        new = next((v for v in session.audience.values() if to is None or v.id == to), None)
        if new is None:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"no spectator {to} watches session {session.id}; its "
                                  f"spectators: {[v.id for v in session.audience.values()]}", rid, session.id)
        if len(self.table.by_owner.get(new.identity, ())) >= self.table.max_per_client:
            raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"spectator {new.id} already controls "
                                  f"{self.table.max_per_client} sessions, the most allowed", rid, session.id)
        self._remove_viewer(session, new.identity)
        self.table.transfer(session, new.identity)
        if session.slots is not None:                  # the old controller's shared memory
            session.slots.close()
            session.slots = None
        old = self._add_viewer(session, identity)
        control = {"session": session.id, "role": "controller", "step": session.steps}
        for wrid in new.waiting or [-1]:              # its waiting WATCHes, or a notice
            self._send(new.identity, P.encode(P.MsgType.CONTROL, {"rid": wrid, **control}))
        self._send(identity, P.encode(P.MsgType.CONTROL, {"rid": rid, **control, "role": "spectator",
                                                          "viewer": old.id}))

    # ---- leaving -------------------------------------------------------------------------------
    def _close(self, identity: bytes, h: dict, payload: list) -> None:
        """CLOSE: the controller ends the session (for its spectators too); a spectator leaves it."""
        session = self.table.sessions.get(h["session"])
        if session is not None and identity in session.audience:
            self._remove_viewer(session, identity, "this client left it")
        else:
            session = self.table.owned(identity, h["session"], h["rid"])
            self.table.remove(session.id, "closed by its controller")
            self._drop_pending(session, "closed by its client")
            self._close_state(session)
        self._send(identity, P.encode(P.MsgType.CLOSED, {"rid": h["rid"], "session": session.id}))

    def _remove_viewer(self, session: Session, identity: bytes, why: str | None = None) -> None:
        viewer = session.audience.pop(identity, None)
        watched = self.watching.get(identity)
        if watched is not None:
            watched.discard(session.id)
            if not watched:
                del self.watching[identity]
        if viewer is not None and why is not None:
            for rid in viewer.waiting:                 # every WATCH gets its one answer
                self._error(identity, rid, P.ErrorCode.UNKNOWN_SESSION, f"session {session.id} ended for this "
                            f"spectator ({why})", session.id)

    def _end_audience(self, session: Session) -> None:
        """The session ended: every spectator's waiting WATCH is answered `unknown_session`."""
        why = self.table.ended.get(session.id, "the worker stopped")
        for identity in list(session.audience):
            self._remove_viewer(session, identity, why)

    def _unwatch(self, identity: bytes, why: str | None = None) -> None:
        """A spectator disconnected (no one to tell) or went silent (`why` answers its WATCHes):
        it leaves every session it watched."""
        for sid in list(self.watching.get(identity, ())):
            session = self.table.sessions.get(sid)
            if session is not None:
                self._remove_viewer(session, identity, why)
        self.watching.pop(identity, None)

    def _sweep_spectators(self, now: float) -> None:
        seen = self.io.last_seen
        for identity in [i for i in self.watching if now - seen.get(i, now) > self.table.idle_s]:
            self._unwatch(identity, f"a spectator silent for {self.table.idle_s:g} s leaves")
