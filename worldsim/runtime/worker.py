"""The worker process: serves renderers to clients over a ZMQ ROUTER socket.

    IO thread:    ROUTER <-> queues. Decodes and validates every message (ZMQ releases the GIL, so
                  this overlaps renderer work), answers PING itself and refuses bad input with ERROR.
    main thread:  blocks on the input queue only when idle; handles HELLO/OPEN/CLOSE; gathers the
                  pending STEP of every session and runs them as one batched `Renderer.step` per
                  renderer; sends FRAMES back through an inproc PUSH socket to the IO thread.

One bad message or one failing session gets an ERROR and never stops the others.
"""
from __future__ import annotations

import collections
import itertools
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import zmq

from worldsim.controls import ControlError, validate_packet

from . import protocol as P
from .renderer import Renderer, RendererError
from .shm import AttachedSlots

MAX_SESSIONS = 64
MAX_PENDING_STEPS = 8          # per session; more is a client that does not wait for frames


@dataclass
class _Session:
    id: int
    owner: bytes                 # ZMQ identity of the client that opened it
    renderer_name: str
    controls: list[str]          # control kinds every packet of this session carries
    state: Any
    slots: AttachedSlots | None = None   # the client's shared-memory frame slots (local clients)
    steps: int = 0
    pending: collections.deque = field(default_factory=collections.deque)   # (rid, tick, packets, t_recv, slot)


class Worker:
    """Owns the renderers and sessions. `serve()` runs until `stop()` (or SIGTERM)."""

    def __init__(self, address: str, renderers: Mapping[str, Renderer], name: str = "worldsim-worker",
                 curve_dir: str | None = None):
        self.address = address
        self.curve_dir = curve_dir          # CURVE keys: encrypt and allow-list clients (worldsim.runtime.security)
        self.renderers = dict(renderers)
        self.name = name
        self.sessions: dict[int, _Session] = {}
        self._ids = itertools.count(1)
        self._inbox: queue.Queue = queue.Queue()
        self._ctx = zmq.Context.instance()
        self._stop = threading.Event()
        self._outbox_addr = f"inproc://worldsim-outbox-{id(self)}"
        self._bound = threading.Event()
        self._bind_error: BaseException | None = None
        self._io = threading.Thread(target=self._io_loop, name="worldsim-io", daemon=True)
        self._specs = {n: r.spec.to_dict() for n, r in self.renderers.items()}
        self.stats = {"steps": 0, "batches": 0, "errors": 0}

    # ---- IO thread ------------------------------------------------------------------------
    def start_io(self, timeout: float = 10.0) -> None:
        self._io.start()
        if not self._bound.wait(timeout):
            raise RuntimeError(f"worker IO thread did not bind {self.address} within {timeout} s")
        if self._bind_error is not None:
            raise RuntimeError(f"cannot bind {self.address}: {self._bind_error}") from self._bind_error

    def _io_loop(self) -> None:
        router = self._ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
        outbox = self._ctx.socket(zmq.PULL)
        outbox.setsockopt(zmq.LINGER, 0)
        auth = None
        try:
            if self.curve_dir is not None:
                from .security import secure_server
                auth = secure_server(self._ctx, router, self.curve_dir)
            router.bind(self.address)
            self.address = router.getsockopt(zmq.LAST_ENDPOINT).decode()   # the real port for "tcp://host:*"
            outbox.bind(self._outbox_addr)
        except (zmq.ZMQError, ValueError) as err:
            self._bind_error = err
            self._bound.set()
            return
        self._bound.set()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(outbox, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(100))
                if router in events:
                    for _ in range(64):               # drain a burst, then check the outbox
                        try:
                            frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._on_message(router, frames)
                if outbox in events:
                    while True:
                        try:
                            frames = outbox.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        router.send_multipart(frames, copy=False)
        finally:
            router.close(0)
            outbox.close(0)
            if auth is not None:
                auth.stop()

    def _on_message(self, router: zmq.Socket, frames: list) -> None:
        identity, body = frames[0].bytes, frames[1:]
        try:
            msg = P.decode(body)
        except P.ProtocolError as err:
            self.stats["errors"] += 1
            router.send_multipart([identity, *P.error(err.rid, err.code, str(err))])
            return
        if msg.type is P.MsgType.PING:              # answered here, so liveness never waits for the GPU
            pending = sum(len(s.pending) for s in list(self.sessions.values())) + self._inbox.qsize()
            router.send_multipart([identity, *P.encode(P.MsgType.PONG, {
                "rid": msg.header["rid"], "sessions": len(self.sessions), "pending": pending})])
            return
        self._inbox.put((identity, msg, time.perf_counter()))

    # ---- main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        if not self._io.is_alive():
            self.start_io()
        self._out = self._ctx.socket(zmq.PUSH)
        self._out.setsockopt(zmq.LINGER, 0)
        self._out.connect(self._outbox_addr)
        try:
            while not self._stop.is_set():
                has_work = any(s.pending for s in self.sessions.values())
                try:   # block only when idle
                    item = self._inbox.get_nowait() if has_work else self._inbox.get(timeout=0.5)
                except queue.Empty:
                    item = None
                while item is not None:
                    if item == "stop":
                        return
                    self._handle(*item)
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        item = None
                self._run_batches()
        finally:
            self._stop.set()
            self._io.join(timeout=2)
            self._out.close(0)
            for session in self.sessions.values():
                self._close_state(session)

    def stop(self) -> None:
        self._stop.set()
        self._inbox.put("stop")

    def _send(self, identity: bytes, frames: list) -> None:
        self._out.send_multipart([identity, *frames], copy=False)

    def _error(self, identity: bytes, rid: int, code: P.ErrorCode, message: str, session: int = -1) -> None:
        self.stats["errors"] += 1
        self._send(identity, P.error(rid, code, message, session))

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
                session = self._owned(identity, h["session"], rid)
                if len(session.pending) >= MAX_PENDING_STEPS:
                    raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"session {session.id} has {MAX_PENDING_STEPS} "
                                          "steps pending; wait for FRAMES before sending more", rid, session.id)
                session.pending.append((rid, h["tick"], h["packets"], t_recv, h.get("slot")))
            elif msg.type is P.MsgType.CLOSE:
                session = self._owned(identity, h["session"], rid)
                del self.sessions[session.id]
                self._close_state(session)
                self._send(identity, P.encode(P.MsgType.CLOSED, {"rid": rid, "session": session.id}))
            else:
                raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"a worker does not accept {msg.type.name}", rid)
        except P.ProtocolError as err:
            self._error(identity, err.rid, err.code, str(err), err.session)
        except RendererError as err:
            self._error(identity, rid, P.ErrorCode.BAD_REQUEST, str(err), h.get("session", -1))
        except Exception as err:   # a bug while serving one request must not stop the worker
            traceback.print_exc(file=sys.stderr)
            self._error(identity, rid, P.ErrorCode.INTERNAL, f"{type(err).__name__}: {err}", h.get("session", -1))

    def _owned(self, identity: bytes, sid: int, rid: int) -> _Session:
        session = self.sessions.get(sid)
        if session is None or session.owner != identity:
            raise P.ProtocolError(P.ErrorCode.UNKNOWN_SESSION, f"no session {sid} open for this client", rid, sid)
        return session

    def _open(self, identity: bytes, msg: P.Message) -> None:
        h, rid = msg.header, msg.header["rid"]
        renderer = self.renderers.get(h["renderer"])
        if renderer is None:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"renderer {h['renderer']!r} is not served here; "
                                  f"this worker serves {sorted(self.renderers)}", rid)
        if len(self.sessions) >= MAX_SESSIONS:
            raise P.ProtocolError(P.ErrorCode.OVERLOADED, f"worker already serves {MAX_SESSIONS} sessions", rid)
        first_frame = None
        if "first_frame" in h:
            if len(msg.payload) != 1:
                raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, "first_frame described but no payload frame sent", rid)
            first_frame = P.array_from_payload(h["first_frame"], msg.payload[0], rid)
        controls = h.get("controls", [])
        if not all(isinstance(c, str) for c in controls):
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, "controls must be a list of control kind names", rid)
        unknown = set(controls) - set(renderer.spec.control_kinds)
        if unknown:
            raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"renderer {h['renderer']!r} takes controls "
                                  f"{sorted(renderer.spec.control_kinds)}, not {sorted(unknown)}", rid)
        slots = None
        if "shm" in h:
            try:
                slots = AttachedSlots(h["shm"])
            except (ValueError, OSError) as err:
                raise P.ProtocolError(P.ErrorCode.BAD_REQUEST, f"cannot attach shared memory: {err}", rid) from None
        try:
            state = renderer.open(h.get("seed", 0), h.get("prompt", ""), first_frame, controls)
        except BaseException:
            if slots is not None:
                slots.close()
            raise
        sid = next(self._ids)
        kinds = list(controls) or sorted(renderer.spec.control_kinds)
        self.sessions[sid] = _Session(sid, identity, h["renderer"], kinds, state, slots)
        self._send(identity, P.encode(P.MsgType.OPENED, {"rid": rid, "session": sid, "spec": self._specs[h["renderer"]]}))

    def _close_state(self, session: _Session) -> None:
        if session.slots is not None:
            session.slots.close()
        try:
            self.renderers[session.renderer_name].close(session.state)
        except Exception:
            traceback.print_exc(file=sys.stderr)

    # ---- batching -------------------------------------------------------------------------
    def _run_batches(self) -> None:
        """Take the oldest pending STEP of every session and run one batch per renderer."""
        groups: dict[str, list[_Session]] = collections.defaultdict(list)
        for session in self.sessions.values():
            if session.pending:
                groups[session.renderer_name].append(session)
        for name, sessions in groups.items():
            ready = []
            for session in sessions:
                rid, tick, packets = session.pending[0][:3]
                problem = _check_packets(packets, self.renderers[name].spec.frames_for_step(session.steps),
                                         session.controls)
                if problem:
                    session.pending.popleft()
                    self._error(session.owner, rid, P.ErrorCode.BAD_REQUEST, problem, session.id)
                else:
                    ready.append(session)
            self._step(name, ready)

    def _step(self, name: str, sessions: list[_Session]) -> None:
        if not sessions:
            return
        renderer = self.renderers[name]
        t0 = time.perf_counter()
        try:
            frames = renderer.step([s.state for s in sessions], [s.pending[0][2] for s in sessions])
        except RendererError as err:
            if err.index is None and len(sessions) > 1:
                for session in sessions:            # find the culprit one by one
                    self._step(name, [session])
                return
            bad = sessions[err.index or 0]
            rid = bad.pending.popleft()[0]
            self._error(bad.owner, rid, P.ErrorCode.BAD_REQUEST, str(err), bad.id)
            self._step(name, [s for s in sessions if s is not bad])
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
        render_ms = (time.perf_counter() - t0) * 1e3
        self.stats["batches"] += 1
        for session, out in zip(sessions, frames):
            rid, tick, _, t_recv, slot = session.pending.popleft()
            out = np.ascontiguousarray(out, dtype=np.uint8)
            header = {"rid": rid, "session": session.id, "tick": tick, "step": session.steps,
                      "frames": P.describe(out),
                      "timings": {"queue_ms": (t0 - t_recv) * 1e3, "render_ms": render_ms, "batch": len(sessions)}}
            session.steps += 1
            self.stats["steps"] += 1
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


# ---- process entry point ------------------------------------------------------------------
def _die_with_parent(parent_pid: int | None) -> None:
    """Linux: PR_SET_PDEATHSIG; everywhere: a watchdog that exits when the parent is gone."""
    if parent_pid is None:
        return
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent_pid:
        os._exit(0)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(0)
    threading.Thread(target=watch, name="worldsim-parent-watch", daemon=True).start()


def run_worker(address: str, renderer_names: list[str], options: Mapping[str, Any] | None = None,
               ready_fd: int | None = None, parent_pid: int | None = None, curve_dir: str | None = None) -> None:
    """Build the renderers, bind, report READY on `ready_fd`, serve until SIGTERM/SIGINT."""
    from .registry import create_renderer
    _die_with_parent(parent_pid)
    renderers = {}
    for name in renderer_names:
        try:
            renderers[name] = create_renderer(name, **dict(options or {}))
        except Exception as err:   # a bad checkpoint or option: one clear line, no traceback
            print(f"worldsim worker: cannot start renderer {name!r}: {type(err).__name__}: {err}",
                  file=sys.stderr, flush=True)
            sys.exit(1)
    worker = Worker(address, renderers, curve_dir=curve_dir)
    worker.start_io()
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    if ready_fd is not None:
        os.write(ready_fd, b"READY\n")
        os.close(ready_fd)
    print(f"worldsim worker pid {os.getpid()} serving {', '.join(renderers)} on {worker.address}", file=sys.stderr, flush=True)
    worker.serve()
