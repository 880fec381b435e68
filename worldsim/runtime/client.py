"""The client side of the worker protocol: one DEALER socket, request/response matching by id.

    client = Client.spawn("testpattern")            # or Client.connect("tcp://host:5555")
    session = client.open("testpattern", seed=1)
    client.submit_step(session, tick, packets)       # pipelined: several steps may be in flight
    for result in client.poll(timeout=0.01): ...     # StepResult with uint8 frames [F, H, W, 3]

A dead worker is detected within about a second (process sentinel for a local worker,
heartbeat PING for a remote one). A locally spawned worker is restarted and every session
reopened; the call then raises `WorkerRestarted` so the caller can flush its pipeline.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import zmq

from . import protocol as P
from .client_share import SharingClient, received_queue
from .process import WorkerProcess
from ..rendering import RendererSpec
from .shm import SLOTS, FrameSlots

POLL_SLICE_S = 0.05        # the longest we block before checking that the worker lives


class WorkerDied(RuntimeError):
    """The worker process is gone (or stopped answering)."""


class WorkerRestarted(WorkerDied):
    """The local worker died and was restarted; sessions were reopened, steps in flight were lost."""


class RequestError(RuntimeError):
    """The worker answered a request with ERROR."""

    def __init__(self, code: str, message: str, retry_s: float | None = None):
        super().__init__(f"[{code}] {message}")
        self.code, self.retry_s = code, retry_s   # retry_s: with `overloaded`, when to try again


@dataclass
class Session:
    """A client-side handle; `id` changes if the worker is restarted and the session reopened."""
    id: int
    renderer: str
    spec: RendererSpec
    seed: int = 0
    prompt: str = ""
    controls: tuple = ()
    first_frame: np.ndarray | None = None
    steps_sent: int = 0
    slots: FrameSlots | None = None    # shared-memory frame slots (local worker only)
    token: str = ""                    # the join token spectators need (client_share)
    role: str = "controller"           # or "spectator" (Client.join; after a handover)
    viewer: int = 0                    # this client's spectator id, as a spectator
    received: Any = field(default_factory=received_queue)   # a spectator's frames not yet read
    dropped_here: int = 0              # ... dropped here because they were not read in time
    dropped_there: int = 0             # ... dropped by the worker because they were not asked for
    ended: str = ""                    # why a watched session ended

    @property
    def dropped(self) -> int:
        """Steps of the controller this spectator did not get (it did not read them in time)."""
        return self.dropped_here + self.dropped_there


@dataclass
class StepResult:
    rid: int
    session: Session
    tick: int
    frames: np.ndarray | None          # uint8 [F, H, W, 3], read-only view of the received buffer
    sent_at: float
    received_at: float
    step: int = -1
    timings: dict = field(default_factory=dict)
    error: RequestError | None = None

    @property
    def round_trip_ms(self) -> float:
        return (self.received_at - self.sent_at) * 1e3


class Client(SharingClient):
    def __init__(self, address: str, process: WorkerProcess | None = None, timeout: float = 30.0,
                 restart: bool = True, liveness_s: float = 1.0, curve: tuple[str, str] | None = None,
                 reconnect: bool = False, reconnect_timeout: float = 5.0):
        self.address = address
        self.curve = curve                         # (key dir, client name): CURVE to a remote worker
        self.process = process
        self.timeout = timeout
        self.restart = restart and process is not None
        # a remote worker that went silent, or no longer knows our sessions (restarted, or freed them
        # as idle): say hello again, reopen every session and raise WorkerRestarted
        self.reconnect = reconnect and process is None
        self.reconnect_timeout = reconnect_timeout
        self._reconnecting = False
        self.shared_memory = process is not None   # frames through shared memory with our own worker
        self.liveness_s = liveness_s
        self._ctx = zmq.Context.instance()
        self._rids = itertools.count(1)
        self._sock: zmq.Socket | None = None
        self._inflight: dict[int, tuple] = {}        # rid -> (session, tick, sent_at, shm slot) of STEPs
        self._replies: dict[int, P.Message] = {}     # rid -> reply of a blocking request
        self._done: list[StepResult] = []
        self.sessions: list[Session] = []
        self._init_sharing()
        self.welcome: dict = {}
        self.restarts = 0
        self._connect()
        try:
            self.welcome = self.hello()
        except BaseException:
            self._sock.close(0)
            raise

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def spawn(cls, renderer: str = "testpattern", options: dict | None = None, ready_timeout: float = 120.0,
              restart: bool = True, **kwargs) -> "Client":
        """Start a private worker process serving `renderer` and connect to it."""
        process = WorkerProcess([renderer], options, ready_timeout).start()
        try:
            return cls(process.address, process=process, restart=restart, **kwargs)
        except BaseException:
            process.stop()
            raise

    @classmethod
    def connect(cls, address: str, **kwargs) -> "Client":
        return cls(address, **kwargs)

    def _connect(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_FRAME_BYTES)
        self._sock.setsockopt(zmq.SNDTIMEO, int(self.liveness_s * 1000))   # no peer: a send must not hang
        if self.curve is not None:
            from .security import secure_client
            secure_client(self._sock, *self.curve)
        self._sock.connect(self.address)
        self._last_heard = time.monotonic()
        self._heartbeat_at = 0.0
        self._waiting = False

    # ---- requests -------------------------------------------------------------------------
    def hello(self) -> dict:
        return self._request(P.MsgType.HELLO, {"version": P.PROTOCOL_VERSION, "client": "worldsim"}).header

    def open(self, renderer: str, seed: int = 0, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> Session:
        header, payload = _open_header(renderer, seed, prompt, first_frame, controls)
        if self.shared_memory:
            header["shm"] = SLOTS
        reply = self._request(P.MsgType.OPEN, header, payload)
        session = Session(reply.header["session"], renderer, RendererSpec.from_dict(reply.header["spec"]),
                          seed, prompt, tuple(controls), first_frame, slots=_attach(reply.header),
                          token=reply.header.get("token", ""))
        self.sessions.append(session)
        return session

    def close(self, session: Session) -> None:
        """Close a session this client controls, or leave one it watches."""
        if session in self.watching:
            self._leave(session)
        elif session in self.sessions:
            self.sessions.remove(session)
            try:
                self._request(P.MsgType.CLOSE, {"session": session.id})
            finally:
                if session.slots is not None:
                    session.slots.close()

    def ping(self) -> dict:
        return self._request(P.MsgType.PING, {}).header

    def submit_step(self, session: Session, tick: int, packets: list[dict]) -> int:
        """Send one STEP without waiting; its result comes out of `poll`."""
        rid = next(self._rids)
        self._sent()
        header = {"rid": rid, "session": session.id, "tick": tick, "packets": packets}
        slot = session.slots.take() if session.slots is not None else None
        if slot is not None:
            header["slot"] = slot
        self._send(P.encode(P.MsgType.STEP, header))
        self._inflight[rid] = (session, tick, time.perf_counter(), slot)
        session.steps_sent += 1
        return rid

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def poll(self, timeout: float = 0.0) -> list[StepResult]:
        """Completed steps (frames or errors), waiting up to `timeout` seconds for the first one."""
        deadline = time.monotonic() + timeout
        while not self._done:
            msg = self._recv(max(0.0, deadline - time.monotonic()))
            if msg is None:
                break
            self._dispatch(msg)
        done, self._done = self._done, []
        return done

    def step(self, session: Session, tick: int, packets: list[dict], timeout: float | None = None) -> StepResult:
        """Blocking step (no pipelining): submit and wait for its result."""
        rid = self.submit_step(session, tick, packets)
        self._pump_until(lambda: any(r.rid == rid for r in self._done), timeout or self.timeout, f"STEP of tick {tick}")
        return self._done.pop(next(i for i, r in enumerate(self._done) if r.rid == rid))

    def shutdown(self) -> None:
        for session in [*self.sessions, *self.watching]:
            try:
                self.close(session)
            except (WorkerDied, RequestError, TimeoutError):
                pass                     # close() has released the session's shared memory anyway
        self.sessions.clear()
        self.watching.clear()
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # ---- internals ------------------------------------------------------------------------
    def _request(self, mtype: P.MsgType, header: dict, payload: list | None = None,
                 timeout: float | None = None) -> P.Message:
        rid = next(self._rids)
        self._sent()
        self._send(P.encode(mtype, {"rid": rid, **header}, payload))
        self._waiting = True
        try:
            self._pump_until(lambda: rid in self._replies, timeout or self.timeout, mtype.name)
        finally:
            self._waiting = False
        reply = self._replies.pop(rid)
        if reply.type is P.MsgType.ERROR:
            raise RequestError(reply.header["code"], reply.header["message"], reply.header.get("retry_s"))
        return reply

    def _pump_until(self, done, timeout: float, what: str) -> None:
        """Receive and dispatch messages until `done()`; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"worker at {self.address} did not answer {what} within {timeout} s")
            msg = self._recv(left)
            if msg is not None:
                self._dispatch(msg)

    def _dispatch(self, msg: P.Message) -> None:
        rid = msg.header["rid"]
        entry = self._inflight.pop(rid, None)
        if entry is None:
            if not self._dispatch_shared(msg):
                self._replies[rid] = msg
            return
        session, tick, sent_at, slot = entry
        now = time.perf_counter()
        if msg.type is P.MsgType.FRAMES:
            frames = self._frames_of(msg, session, rid)
            result = StepResult(rid, session, tick, frames, sent_at, now, msg.header["step"], msg.header.get("timings", {}))
        else:
            code = msg.header.get("code", "internal")
            if code == "unknown_session" and self.reconnect and not self._reconnecting and session in self.sessions:
                self._worker_died(f"worker at {self.address} no longer knows session {session.id}: "
                                  f"{msg.header.get('message', '')}")
            err = RequestError(code, msg.header.get("message", str(msg.header)), msg.header.get("retry_s"))
            result = StepResult(rid, session, tick, None, sent_at, now, error=err)
        if slot is not None and session.slots is not None:
            session.slots.release(slot)
        self._done.append(result)

    @staticmethod
    def _frames_of(msg: P.Message, session: Session, rid: int) -> np.ndarray:
        """The frames of a FRAMES reply: copied out of our shared-memory slot, or a view of the payload."""
        if "slot" in msg.header:
            if session.slots is None:
                raise RuntimeError(f"worker answered step {rid} in a shared-memory slot this session does not have")
            shape, dtype = P.validate_array_desc(msg.header["frames"], rid)
            return session.slots.read(msg.header["slot"], shape, dtype)
        if not msg.payload:
            raise RuntimeError(f"worker answered step {rid} with neither a payload nor a slot")
        return P.array_from_payload(msg.header["frames"], msg.payload[0], rid)

    def _recv(self, timeout: float) -> P.Message | None:
        """One message, or None after `timeout`; checks worker liveness every POLL_SLICE_S."""
        deadline = time.monotonic() + timeout
        while True:
            slice_ms = int(min(POLL_SLICE_S, max(0.0, deadline - time.monotonic())) * 1000)
            if self._sock.poll(slice_ms, zmq.POLLIN):
                frames = self._sock.recv_multipart(copy=False)
                self._last_heard = time.monotonic()
                try:
                    msg = P.decode(frames)
                except P.ProtocolError as err:
                    raise RuntimeError(f"worker at {self.address} sent a malformed message: {err}") from None
                if not (msg.type is P.MsgType.PONG and msg.header["rid"] < 0):   # heartbeat answers only prove life
                    return msg
            self._check_alive()
            if time.monotonic() >= deadline:
                return None

    def _check_alive(self) -> None:
        if self._reconnecting:
            return                     # the reconnecting request has its own timeout
        if self.process is not None:
            if not self.process.alive():
                self._worker_died(f"worker process {self.process.pid} exited with code {self.process.proc.returncode}")
            return
        now = time.monotonic()
        silent = now - self._last_heard
        if silent > self.liveness_s:
            hint = " (with CURVE, also check that the server allows this client's key)" if self.curve else ""
            self._worker_died(f"worker at {self.address} silent for {silent:.1f} s{hint}")
        if silent > self.liveness_s / 3 and now - self._heartbeat_at > self.liveness_s / 3:
            self._heartbeat_at = now   # the worker's IO thread answers PING even while it renders
            try:
                self._sock.send_multipart(P.encode(P.MsgType.PING, {"rid": -next(self._rids)}), zmq.NOBLOCK)
            except zmq.Again:
                pass                   # no connection at all: the silence decides


    def _send(self, frames: list) -> None:
        try:
            self._sock.send_multipart(frames, copy=False)
        except zmq.Again:
            if self._reconnecting:
                raise TimeoutError(f"no connection to {self.address} within {self.liveness_s} s") from None
            self._worker_died(f"cannot reach the worker at {self.address} (no connection within {self.liveness_s} s)")

    def _sent(self) -> None:
        """Called before a send: silence before a request is idleness, not death."""
        if not self._inflight and not self._waiting:
            self._last_heard = time.monotonic()

    def _worker_died(self, reason: str) -> None:
        t0 = time.monotonic()
        lost = len(self._inflight)
        self._inflight.clear()
        self._drop_watches(f"the worker is gone: {reason}")
        for session in self.sessions:
            if session.slots is not None:
                session.slots.reset()
        self._done.clear()
        if not self.restart and not (self.reconnect and self.welcome):   # never reached: nothing to reconnect
            tail = self.process.log_tail() if self.process else ""
            raise WorkerDied(f"{reason}; {lost} steps lost" + (f"\nworker log:\n{tail}" if tail else ""))
        if self.restart:
            self.process.stop()
            self.process = WorkerProcess(self.process.renderers, self.process.options,
                                         self.process.ready_timeout).start()
            self.address = self.process.address
        self._connect()
        self._reconnecting = self.reconnect
        try:
            self.welcome = self._request(P.MsgType.HELLO, {"version": P.PROTOCOL_VERSION, "client": "worldsim"},
                                         timeout=self.reconnect_timeout if self.reconnect else None).header
            self._reopen_all()
        except (TimeoutError, RequestError) as err:
            raise WorkerDied(f"{reason}; {lost} steps lost; reconnecting failed: {err}") from None
        finally:
            self._reconnecting = False
        self.restarts += 1
        what = f"worker restarted (pid {self.process.pid})" if self.restart else "reconnected"
        raise WorkerRestarted(f"{reason}; {what}, {len(self.sessions)} sessions reopened in "
                              f"{time.monotonic() - t0:.2f} s, {lost} steps lost")

    def _reopen_all(self) -> None:
        for session in self.sessions:                # reopen with the same parameters
            header, payload = _open_header(session.renderer, session.seed, session.prompt, session.first_frame,
                                           session.controls)
            if self.shared_memory:
                header["shm"] = SLOTS
            reply = self._request(P.MsgType.OPEN, header, payload)
            if session.slots is not None:
                session.slots.close()
            session.id, session.slots, session.steps_sent = reply.header["session"], _attach(reply.header), 0


def _attach(opened: dict) -> FrameSlots | None:
    """The worker's shared-memory slots named in OPENED (None: frames come inline)."""
    if "shm" not in opened:
        return None
    try:
        return FrameSlots(opened["shm"])
    except (OSError, ValueError):
        return None


def _open_header(renderer: str, seed: int, prompt: str, first_frame: np.ndarray | None,
                 controls: Sequence[str]) -> tuple[dict, list]:
    header: dict[str, Any] = {"renderer": renderer, "seed": int(seed), "prompt": prompt, "controls": list(controls)}
    payload = []
    if first_frame is not None:
        first_frame = np.ascontiguousarray(first_frame)
        header["first_frame"] = P.describe(first_frame)
        payload.append(first_frame)
    return header, payload
