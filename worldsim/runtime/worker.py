"""The worker process: serves renderers to clients over a ZMQ ROUTER socket.

    IO thread:    ROUTER <-> queues (worldsim.runtime.worker_io): message limits, validation, PING,
                  per-client quotas, disconnects.
    main thread:  blocks only when idle; takes bounded round-robin slices of requests
                  (HELLO/OPEN/STEP/CLOSE, worldsim.runtime.scheduling) and between two slices
                  runs the oldest pending STEP of every session in batched `Renderer.step` calls
                  per renderer, of (or a little below: padded) the sizes in `batch_buckets`
                  (scheduling.py); sends replies
                  back through an inproc PUSH socket to the IO thread.

Nothing a client sends can raise out of the main loop: every request is handled under its own
guard, every session's packets are checked under their own guard, and a renderer failure is
narrowed down to the session that caused it. Sessions of clients that vanish are freed
(worldsim.runtime.sessions).
"""
from __future__ import annotations

import collections
import itertools
import os
import sys
import threading
import time
import traceback
from typing import Mapping

import numpy as np
import zmq

from worldsim.controls import ControlError, validate_packet

from . import protocol as P
from ..rendering import Renderer, RendererError, RendererFull
from .scheduling import (CONTROL_SLICE, DEFAULT_BATCH_BUCKETS, STEP_DEADLINE_S, FairInbox, buckets_for,
                         split_for_step, warm_up_static)
from .sessions import SESSION_IDLE_S, Session, SessionTable
from .sharing import SharedSessions
from .shm import WorkerSlots
from .worker_io import WorkerIO


class Worker(SharedSessions):
    """Owns the renderers and sessions (snapshots and spectators: `sharing`). `serve()` runs until `stop()`."""

    def __init__(self, address: str, renderers: Mapping[str, Renderer], name: str = "worldsim-worker",
                 curve_dir: str | None = None, session_idle_s: float = SESSION_IDLE_S,
                 step_deadline_s: float = STEP_DEADLINE_S, batch_buckets: tuple[int, ...] = DEFAULT_BATCH_BUCKETS,
                 max_sessions: int = P.MAX_SESSIONS_PER_WORKER):
        self.renderers = dict(renderers)
        # the batch sizes a renderer is stepped with: none past what max_sessions sessions can fill
        self.batch_buckets = buckets_for(tuple(batch_buckets), max_sessions)
        warm_up_static(self.renderers, self.batch_buckets)   # compiled steps trace now, not during play
        self.name = name
        self.table = SessionTable(max_sessions=max_sessions, idle_s=session_idle_s)   # ValueError outside 1..bound
        self.step_deadline_s = step_deadline_s
        self._ids = itertools.count(1)
        self._inbox = FairInbox()
        self._ctx = zmq.Context.instance()
        self._stop = threading.Event()
        self._outbox_addr = f"inproc://worldsim-outbox-{id(self)}"
        self.io = WorkerIO(address, self._inbox, self._ctx, self._outbox_addr,
                           lambda: (len(self.table), self.table.pending()), curve_dir)
        self._specs = {n: r.spec.to_dict() for n, r in self.renderers.items()}
        self._slow_turn = 0
        self.stats = {"steps": 0, "batches": 0, "errors": 0, "freed_gone": 0, "freed_idle": 0}
        self._init_sharing()

    @property
    def address(self) -> str:
        return self.io.address

    @property
    def sessions(self) -> dict[int, Session]:
        return self.table.sessions

    def start_io(self, timeout: float = 10.0) -> None:
        self.io.start(timeout)

    def pending_messages(self) -> int:
        """Requests waiting for the main thread."""
        return len(self._inbox)

    # ---- main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        if not self.io.thread.is_alive():
            self.start_io()
        self._out = self._ctx.socket(zmq.PUSH)
        self._out.setsockopt(zmq.LINGER, 0)
        self._out.connect(self._outbox_addr)
        next_sweep = 0.0
        try:
            while not self._stop.is_set():
                if not any(s.pending for s in self.table.values()):
                    self._inbox.wait(0.25)                # block only when idle
                # one request per client in turn; at least one per open session, so every session's
                # queued step joins the next batch (a fixed slice split 128 sessions into 8 batches)
                for item in self._inbox.take(max(CONTROL_SLICE, len(self.table))):
                    if item == "stop":
                        return
                    if item[0] == "gone":
                        self._free(self.table.of_owner(item[1]), "its client disconnected", "freed_gone")
                        self._unwatch(item[1])
                    else:
                        self._handle(*item)
                self._run_batches()
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + min(1.0, self.table.idle_s / 4)
        finally:
            self._stop.set()
            self.io.stop.set()
            self.io.thread.join(timeout=2)
            self._out.close(0)
            for session in list(self.table.values()):
                self._close_state(session)

    def stop(self) -> None:
        self._stop.set()
        self._inbox.put_control("stop")

    def _sweep(self, now: float) -> None:
        """Free the sessions of silent clients; forget clients that have no session and went quiet."""
        seen = self.io.last_seen
        self._free(self.table.idle(seen, now), f"freed after {self.table.idle_s:g} s idle: "
                   "no message from its client", "freed_idle")
        self._sweep_spectators(now)
        for owner, at in list(seen.items()):            # bounded by the clients heard in the last 10 s
            if now - at > min(self.table.idle_s, 10.0) and owner not in self.table.by_owner \
                    and owner not in self.watching:
                seen.pop(owner, None)

    def _free(self, sessions: list[Session], why: str, stat: str) -> None:
        for session in sessions:
            if self.table.remove(session.id, why) is not None:
                self.stats[stat] += 1
                self._drop_pending(session, why)
                self._close_state(session)

    def _send(self, identity: bytes, frames: list) -> None:
        self._out.send_multipart([identity, *frames], copy=False)

    def _error(self, identity: bytes, rid: int, code: P.ErrorCode, message: str, session: int = -1,
               retry_s: float | None = None) -> None:
        self.stats["errors"] += 1
        self._send(identity, P.error(rid, code, message, session, retry_s))

    def _handle(self, identity: bytes, msg: P.Message, t_recv: float) -> None:
        h, rid = msg.header, msg.header["rid"]
        try:
            if msg.type is P.MsgType.HELLO:
                if h["version"] != P.PROTOCOL_VERSION:
                    raise P.ProtocolError(P.ErrorCode.VERSION, f"client speaks protocol {h['version']}, "
                                          f"this worker speaks {P.PROTOCOL_VERSION}; upgrade the older side", rid)
                self._send(identity, P.encode(P.MsgType.WELCOME, {
                    "rid": rid, "version": P.PROTOCOL_VERSION, "renderers": sorted(self.renderers),
                    "specs": self._specs, "worker": f"{self.name} pid {os.getpid()}"}))
            elif msg.type is P.MsgType.OPEN:
                self._open(identity, msg)
            elif msg.type is P.MsgType.STEP:
                session = self._controlled(identity, h["session"], rid)
                if len(session.pending) >= P.MAX_PENDING_STEPS:
                    raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"session {session.id} has {P.MAX_PENDING_STEPS} "
                                          "steps pending; wait for FRAMES before sending more", rid, session.id,
                                          retry_s=0.05)
                session.pending.append((rid, h["tick"], h["packets"], t_recv, h.get("slot")))
            elif not self._handle_shared(identity, msg):      # CLOSE, snapshots, spectators
                raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"a worker does not accept {msg.type.name}", rid)
        except P.ProtocolError as err:
            self._error(identity, err.rid, err.code, str(err), err.session, err.retry_s)
        except RendererError as err:
            self._error(identity, rid, P.ErrorCode.BAD_REQUEST, str(err), h.get("session", -1))
        except Exception as err:   # a bug while serving one request must not stop the worker
            traceback.print_exc(file=sys.stderr)
            self._error(identity, rid, P.ErrorCode.INTERNAL, f"{type(err).__name__}: {err}", h.get("session", -1))

    def _open(self, identity: bytes, msg: P.Message) -> None:
        h, rid = msg.header, msg.header["rid"]
        renderer = self.renderers.get(h["renderer"])
        if renderer is None:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"renderer {h['renderer']!r} is not served here; "
                                  f"this worker serves {sorted(self.renderers)}", rid)
        self.table.check_room(identity, rid, self.io.last_seen)
        first_frame = None
        if "first_frame" in h:
            if len(msg.payload) != 1:
                raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, "first_frame described but no payload frame sent", rid)
            first_frame = P.array_from_payload(h["first_frame"], msg.payload[0], rid)
        elif msg.payload:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, "a payload frame sent without first_frame", rid)
        controls = h.get("controls", [])
        if not all(isinstance(c, str) for c in controls):
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, "controls must be a list of control kind names", rid)
        unknown = set(controls) - set(renderer.spec.control_kinds)
        if unknown:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"renderer {h['renderer']!r} takes controls "
                                  f"{sorted(renderer.spec.control_kinds)}, not {sorted(unknown)}", rid)
        try:
            state = renderer.open(h.get("seed", 0), h.get("prompt", ""), first_frame, controls)
        except Exception as err:
            if isinstance(err, RendererFull):
                raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"{err}; retry when a session closes", rid,
                                      retry_s=1.0) from None
            if isinstance(err, MemoryError) or "OutOfMemory" in type(err).__name__:
                raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"out of memory opening a session ({len(self.table)} "
                                      "open); retry when sessions close, or ask for a smaller size", rid,
                                      retry_s=5.0) from None
            raise
        sid = next(self._ids)
        kinds = list(controls) or sorted(renderer.spec.control_kinds)
        session = Session(sid, identity, h["renderer"], kinds, state, seed=h.get("seed", 0), token=self._new_token(sid))
        reply = {"rid": rid, "session": sid, "spec": self._specs[h["renderer"]], "token": session.token}
        if "shm" in h:
            spec = renderer.spec
            frames = max(spec.frames_per_step, spec.first_step_frames)
            try:
                session.slots = WorkerSlots(frames * spec.height * spec.width * 3, h["shm"])
                reply["shm"] = session.slots.describe()
            except (OSError, ValueError) as err:   # no shared memory: frames travel inline
                print(f"worldsim worker: no shared memory for session {sid}: {err}", file=sys.stderr)
        self.table.add(session)
        self.io.last_seen.setdefault(identity, time.monotonic())   # its idle clock runs from now at the latest
        self._send(identity, P.encode(P.MsgType.OPENED, reply))

    def _drop_pending(self, session: Session, why: str) -> None:
        """Steps of a session that ended before they ran: each still gets its one reply."""
        while session.pending:
            rid = session.pending.popleft()[0]
            self._error(session.owner, rid, P.ErrorCode.UNKNOWN_SESSION, f"session {session.id} ended before "
                        f"this step ran ({why})", session.id)

    def _close_state(self, session: Session) -> None:
        if session.audience and not self._stop.is_set():
            self._end_audience(session)
        if session.slots is not None:
            session.slots.close()
            session.slots = None
        try:
            self.renderers[session.renderer_name].close(session.state)
        except Exception:
            traceback.print_exc(file=sys.stderr)

    # ---- batching -------------------------------------------------------------------------
    def _run_batches(self) -> None:
        """Take the oldest pending STEP of every session and run them in batches per renderer.

        Sessions are batched with those whose step makes as many frames (a first step apart from
        later ones), cut into batches: for a renderer compiled for fixed batch sizes
        (`spec.static_batches`), of the bucket sizes (`batch_buckets`) or a little below one, which the
        renderer pads up to it (scheduling.split_padded: 127 ready sessions are one batch, run as 128;
        the renderer is handed only the real sessions), else of at most the largest bucket. Sessions whose last step
        overran the step deadline are stepped alone, after the batches of the others, in turn, until
        this round's solo steps have used up one deadline."""
        groups: dict[str, list[Session]] = collections.defaultdict(list)
        for session in self.table.values():
            if session.pending:
                groups[session.renderer_name].append(session)
        for name, sessions in groups.items():
            ready = []
            for session in sessions:
                rid = session.pending[0][0]
                try:
                    problem = _check_packets(session.pending[0][2],
                                             self.renderers[name].spec.frames_for_step(session.steps),
                                             session.controls)
                except Exception as err:          # a control plugin's validator failed on this input
                    problem = f"packets could not be checked: {type(err).__name__}: {err}"
                if problem:
                    session.pending.popleft()
                    self._error(session.owner, rid, P.ErrorCode.BAD_REQUEST, problem, session.id)
                else:
                    ready.append(session)
            slow = [s for s in ready if s.slow]
            by_frames: dict[int, list[Session]] = collections.defaultdict(list)
            for session in ready:
                if not session.slow:
                    by_frames[self.renderers[name].spec.frames_for_step(session.steps)].append(session)
            for group in by_frames.values():
                for batch in self._batches(name, group):
                    self._guarded_step(name, batch)
            t0 = time.perf_counter()
            for k in range(len(slow)):
                self._guarded_step(name, [slow[(self._slow_turn + k) % len(slow)]])
                if time.perf_counter() - t0 > self.step_deadline_s:
                    self._slow_turn += k + 1
                    break

    def _batches(self, name: str, sessions: list[Session]) -> list[list[Session]]:
        static = bool(getattr(self.renderers[name].spec, "static_batches", False))
        return split_for_step(sessions, self.batch_buckets, static)

    def _guarded_step(self, name: str, sessions: list[Session]) -> None:
        """`_step`, and should its own error handling fail, an `internal` ERROR for those sessions only."""
        try:
            self._step(name, [s for s in sessions if s.pending])
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            for session in sessions:
                if session.pending:
                    rid = session.pending.popleft()[0]
                    self._error(session.owner, rid, P.ErrorCode.INTERNAL, f"step failed: {type(err).__name__}: {err}",
                                session.id)

    def _step(self, name: str, sessions: list[Session]) -> None:
        if not sessions:
            return
        renderer = self.renderers[name]
        t0 = time.perf_counter()
        try:
            frames = renderer.step([s.state for s in sessions], [s.pending[0][2] for s in sessions])
            if not isinstance(frames, (list, tuple)) or len(frames) != len(sessions):
                count = len(frames) if isinstance(frames, (list, tuple)) else type(frames).__name__
                raise RuntimeError(f"returned {count} outputs for {len(sessions)} sessions")
        except RendererError as err:
            if err.index is None and len(sessions) > 1:
                for session in sessions:            # find the culprit one by one
                    self._step(name, [session])
                return
            index = err.index if isinstance(err.index, int) and 0 <= err.index < len(sessions) else 0
            bad = sessions[index]
            rid = bad.pending.popleft()[0]
            self._error(bad.owner, rid, P.ErrorCode.BAD_REQUEST, str(err), bad.id)
            for batch in self._batches(name, [s for s in sessions if s is not bad]):
                self._step(name, batch)
            return
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            if len(sessions) > 1:
                for session in sessions:
                    self._step(name, [session])
                return
            rid = sessions[0].pending.popleft()[0]
            self._error(sessions[0].owner, rid, P.ErrorCode.INTERNAL, f"renderer {name} failed: {type(err).__name__}: {err}",
                        sessions[0].id)
            return
        render_s = time.perf_counter() - t0
        self.stats["batches"] += 1
        for session in sessions:
            session.slow = render_s > self.step_deadline_s   # a slow batch: each steps alone until it is fast
        for session, out in zip(sessions, frames):
            rid = session.pending[0][0]
            try:
                self._reply(renderer, session, out, t0, render_s, len(sessions))
            except Exception as err:             # this session's reply only
                traceback.print_exc(file=sys.stderr)
                self._error(session.owner, rid, P.ErrorCode.INTERNAL, f"cannot send frames: {type(err).__name__}: {err}",
                            session.id)

    def _reply(self, renderer: Renderer, session: Session, out, t0: float, render_s: float, batch: int) -> None:
        rid, tick, _, t_recv, slot = session.pending.popleft()
        spec = renderer.spec
        want = (spec.frames_for_step(session.steps), spec.height, spec.width, 3)
        out = np.asarray(out)
        if out.shape != want:
            self._error(session.owner, rid, P.ErrorCode.INTERNAL, f"renderer {spec.name} returned frames of shape "
                        f"{out.shape} for step {session.steps}, expected {want}", session.id)
            return
        out = np.ascontiguousarray(out, dtype=np.uint8)
        header = {"rid": rid, "session": session.id, "tick": tick, "step": session.steps, "frames": P.describe(out),
                  "timings": {"queue_ms": (t0 - t_recv) * 1e3, "render_ms": render_s * 1e3, "batch": batch}}
        session.steps += 1
        self.stats["steps"] += 1
        self._broadcast(session, header, out)
        if slot is not None and session.slots is not None and session.slots.write(slot, out):
            header["slot"] = slot
            self._send(session.owner, P.encode(P.MsgType.FRAMES, header))
        else:
            self._send(session.owner, P.encode(P.MsgType.FRAMES, header, [out]))


def _check_packets(packets: list, expected: int, kinds: list[str]) -> str | None:
    if len(packets) != expected:
        return f"this step takes {expected} control packets (one per video frame), got {len(packets)}"
    for i, packet in enumerate(packets):
        try:
            validate_packet(packet, kinds)
        except ControlError as err:
            return f"packet {i}: {err}"
    return None
