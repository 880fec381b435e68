"""The worker's IO thread: the ROUTER socket, message limits, PING, quotas and disconnects.

- Receives frame by frame: a message with more than `MAX_MESSAGE_FRAMES` frames or more than
  `MAX_MESSAGE_BYTES` in all is refused, and the frames past the limit are dropped as they are
  read (one frame held at a time); ZMQ_MAXMSGSIZE caps each frame, a larger frame drops the
  connection. (libzmq assembles a multipart message before handing out its first frame, so a
  message of many frames below the per-frame cap is buffered there while it arrives.)
- Decodes and validates every message; answers PING here (liveness never waits for a renderer);
  queues requests per client with a quota (`FairInbox`), answering `overloaded` past it.
- Tracks which connection (file descriptor) each client speaks on and watches the socket's
  disconnect events, so the sessions of a client that vanished are freed at once; TCP peers are
  checked with ZMQ heartbeats.
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Callable

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import protocol as P
from .scheduling import FairInbox

HEARTBEAT_IVL_MS = 1000        # ZMQ heartbeats on TCP connections: a dead peer is dropped ...
HEARTBEAT_TIMEOUT_MS = 10000   # ... after this much silence


class WorkerIO:
    def __init__(self, address: str, inbox: FairInbox, ctx: zmq.Context, outbox_addr: str,
                 status: Callable[[], tuple[int, int]], curve_dir: str | None = None):
        self.address = address
        self.inbox = inbox
        self.status = status                      # () -> (sessions, pending steps) for PONG
        self.curve_dir = curve_dir
        self._ctx = ctx
        self._outbox_addr = outbox_addr
        self.last_seen: dict[bytes, float] = {}   # client -> monotonic time of its last message
        self.stop = threading.Event()
        self.bound = threading.Event()
        self.bind_error: BaseException | None = None
        self.stats = {"messages": 0, "refused": 0, "overloaded": 0, "disconnects": 0}
        self._fd_owner: dict[int, bytes] = {}     # connection fd -> the client speaking on it
        self._owner_fd: dict[bytes, int] = {}
        self._stale_fds: dict[int, int] = {}      # disconnect events still to come for reused fds
        self.thread = threading.Thread(target=self._run, name="worldsim-io", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        if not self.bound.wait(timeout):
            raise RuntimeError(f"worker IO thread did not bind {self.address} within {timeout} s")
        if self.bind_error is not None:
            raise RuntimeError(f"cannot bind {self.address}: {self.bind_error}") from self.bind_error

    def _run(self) -> None:
        router = self._ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.MAXMSGSIZE, P.MAX_FRAME_BYTES)
        router.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        outbox = self._ctx.socket(zmq.PULL)
        outbox.setsockopt(zmq.LINGER, 0)
        auth = monitor = None
        try:
            if self.curve_dir is not None:
                from .security import secure_server
                auth = secure_server(self._ctx, router, self.curve_dir)
            monitor = router.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            router.bind(self.address)
            self.address = router.getsockopt(zmq.LAST_ENDPOINT).decode()   # the real port for "tcp://host:*"
            outbox.bind(self._outbox_addr)
        except (zmq.ZMQError, ValueError, OSError) as err:
            self.bind_error = err
            self.bound.set()
            for sock in (router, outbox, monitor):
                if sock is not None:
                    sock.close(0)
            return
        self.bound.set()
        poller = zmq.Poller()
        for sock in (router, outbox, monitor):
            poller.register(sock, zmq.POLLIN)
        try:
            while not self.stop.is_set():
                events = dict(poller.poll(100))
                if monitor in events:
                    self._drain_monitor(monitor)
                if router in events:
                    for _ in range(64):               # a burst, then the outbox gets its turn
                        if not router.poll(0, zmq.POLLIN):
                            break
                        try:
                            self._receive(router, monitor)
                        except Exception:             # a bug here must not stop the IO thread
                            traceback.print_exc(file=sys.stderr)
                if outbox in events:
                    while True:
                        try:
                            frames = outbox.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        router.send_multipart(frames, copy=False)
        finally:
            router.disable_monitor()
            for sock in (router, outbox, monitor):
                sock.close(0)
            if auth is not None:
                auth.stop()

    # ---- receiving -------------------------------------------------------------------------
    def _receive(self, router: zmq.Socket, monitor: zmq.Socket) -> None:
        head = router.recv(copy=False)
        identity = head.bytes
        frames, count, size = [], 0, 0
        while router.getsockopt(zmq.RCVMORE):
            frame = router.recv(copy=False)          # past a limit: read and let go, one at a time
            count += 1
            size += len(frame)
            if count <= P.MAX_MESSAGE_FRAMES and size <= P.MAX_MESSAGE_BYTES:
                frames.append(frame)
            del frame
        now = time.monotonic()
        self.stats["messages"] += 1
        self._track(identity, head, monitor)
        self.last_seen[identity] = now
        if count > P.MAX_MESSAGE_FRAMES or size > P.MAX_MESSAGE_BYTES:
            rid = P.peek_rid(frames[:2])
            frames.clear()
            what = (f"a message has at most {P.MAX_MESSAGE_FRAMES} frames, got {count}"
                    if count > P.MAX_MESSAGE_FRAMES else f"a message has at most {P.MAX_MESSAGE_BYTES} bytes in all")
            return self._refuse(router, identity, rid, P.ErrorCode.BAD_REQUEST, what)
        try:
            msg = P.decode(frames)
        except P.ProtocolError as err:
            return self._refuse(router, identity, err.rid, err.code, str(err))
        rid = msg.header["rid"]
        if msg.type is P.MsgType.PING:                # answered here, so liveness never waits for a renderer
            sessions, pending = self.status()
            router.send_multipart([identity, *P.encode(P.MsgType.PONG, {
                "rid": rid, "sessions": sessions, "pending": pending + len(self.inbox)})])
            return
        if not self.inbox.put(identity, (identity, msg, time.perf_counter())):
            self.stats["overloaded"] += 1
            self._refuse(router, identity, rid, P.ErrorCode.OVERLOADED,
                         f"{self.inbox.quota} requests of this client are already waiting; wait for their "
                         "replies before sending more", retry_s=0.1)

    def _refuse(self, router, identity: bytes, rid: int, code: P.ErrorCode, message: str, retry_s=None) -> None:
        self.stats["refused"] += 1
        router.send_multipart([identity, *P.error(rid, code, message, retry_s=retry_s)])

    # ---- disconnects -----------------------------------------------------------------------
    def _track(self, identity: bytes, head: zmq.Frame, monitor: zmq.Socket) -> None:
        try:
            fd = head.get(zmq.SRCFD)
        except zmq.ZMQError:
            return
        if fd is None or fd < 0 or self._owner_fd.get(identity) == fd:
            return
        self._drain_monitor(monitor)                  # a disconnect of this fd's last user comes first
        previous = self._fd_owner.get(fd)
        if previous is not None and previous != identity:
            # the fd was reused: its previous connection is closed, its event still on the way
            self._stale_fds[fd] = self._stale_fds.get(fd, 0) + 1
            self._gone(previous)
        self._fd_owner[fd] = identity
        self._owner_fd[identity] = fd

    def _drain_monitor(self, monitor: zmq.Socket) -> None:
        while monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(monitor)
            if event["event"] != zmq.EVENT_DISCONNECTED:
                continue
            fd = event["value"]
            if self._stale_fds.get(fd):
                self._stale_fds[fd] -= 1
                continue
            identity = self._fd_owner.pop(fd, None)
            if identity is not None and self._owner_fd.get(identity) == fd:
                self._gone(identity)

    def _gone(self, identity: bytes) -> None:
        self.stats["disconnects"] += 1
        fd = self._owner_fd.pop(identity, None)
        if fd is not None and self._fd_owner.get(fd) == identity:
            del self._fd_owner[fd]
        self.last_seen.pop(identity, None)
        self.inbox.drop(identity)
        self.inbox.put_control(("gone", identity))
