"""Spawning a local worker process: READY handshake, log capture, shutdown terminate -> join -> kill."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from typing import Any, Mapping


class WorkerStartError(RuntimeError):
    """The worker process failed to start or did not report READY in time."""


FILES_PER_SESSION = 4       # open files a session may take, worker or host side: its connection, ZMQ's mailbox, shm


def raise_open_files(sessions: int) -> tuple[int, int]:
    """Raise this process's soft limit on open files (up to the hard limit) to what `sessions`
    sessions may need (children inherit it); (files needed, soft limit now)."""
    import resource
    need = FILES_PER_SESSION * sessions + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        except (ValueError, OSError):
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return need, (need if soft == resource.RLIM_INFINITY else soft)


def local_address() -> str:
    """A fresh private address: an ipc socket in the temp dir."""
    return f"ipc://{tempfile.gettempdir()}/worldsim-{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"


class WorkerProcess:
    """A `worldsim` worker in its own process, bound to a private local address."""

    def __init__(self, renderers: list[str], options: Mapping[str, Any] | None = None,
                 ready_timeout: float = 120.0, address: str | None = None,
                 batch_buckets: tuple[int, ...] | None = None, max_sessions: int | None = None,
                 gpus: int = 1):
        self.renderers = list(renderers)
        self.batch_buckets = batch_buckets          # None: the worker's default (scheduling.py)
        if max_sessions is not None:
            from .sessions import check_max_sessions
            check_max_sessions(max_sessions)        # ValueError here, not a worker that fails to start
        self.max_sessions = max_sessions            # None: the worker's default, renderers at their own size
        self.gpus = gpus                            # > 1: the aapt generator on that many ranks (`serve --gpus`)
        self.options = dict(options or {})
        self.ready_timeout = ready_timeout
        self.address = address or local_address()
        self.proc: subprocess.Popen | None = None
        self.log_path: str | None = None
        self.keep_log = False                       # True: stop() leaves even a clean worker's log (remove_log())

    def start(self) -> "WorkerProcess":
        read_fd, write_fd = os.pipe()
        log = tempfile.NamedTemporaryFile(prefix="worldsim-worker-", suffix=".log", delete=False)
        self.log_path = log.name
        cmd = [sys.executable, "-m", "worldsim.runtime.serve_main", "--bind", self.address,
               "--renderers", ",".join(self.renderers), "--options", json.dumps(self.options),
               "--ready-fd", str(write_fd), "--parent-pid", str(os.getpid()),
               # a private worker serves its parent only and dies with it: a paused parent keeps its sessions
               "--session-idle-s", "inf"]
        if self.batch_buckets:
            cmd += ["--batch-buckets", ",".join(map(str, self.batch_buckets))]
        if self.max_sessions is not None:
            cmd += ["--max-sessions", str(self.max_sessions)]
        if self.gpus != 1:
            cmd += ["--gpus", str(self.gpus)]
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        finally:
            os.close(write_fd)
            log.close()
        self._finalizer = weakref.finalize(self, _shutdown, self.proc, self.address)
        try:
            self._wait_ready(read_fd)
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(read_fd)
        return self

    def _wait_ready(self, fd: int) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerStartError(
                    f"worker did not report READY within {self.ready_timeout:.0f} s (loading renderers "
                    f"{self.renderers}); raise the timeout for large checkpoints or a compiled renderer (it traces its "
                    f"step for every batch size first). Worker log: {self.log_path}\n"
                    + self.log_tail())
            readable, _, _ = select.select([fd], [], [], min(left, 0.1))
            if readable:
                data = os.read(fd, 64)
                if data.startswith(b"READY"):
                    return
            if self.proc.poll() is not None:
                refused = self.start_refusal()
                if refused:                   # a bad option or checkpoint: the worker's one line says it all
                    self.remove_log()
                    raise WorkerStartError(refused)
                raise WorkerStartError(f"worker exited with code {self.proc.returncode} before READY. "
                                       f"Worker log ({self.log_path}):\n" + self.log_tail())

    def start_refusal(self) -> str | None:
        """The worker's `cannot start renderer NAME: why` line, if that is how it ended."""
        from .worker_main import START_FAILURE
        lines = self.log_tail(1).strip().splitlines()
        if lines and lines[-1].startswith(START_FAILURE):
            return lines[-1].removeprefix("worldsim worker: ")
        return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 3.0) -> None:
        if self.proc is not None:
            _shutdown(self.proc, self.address, timeout)
            self._finalizer.detach()
            if self.proc.returncode in (0, -15) and not self.keep_log:   # clean exit: the log is not needed
                self.remove_log()

    def remove_log(self) -> None:
        if self.log_path:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


def _shutdown(proc: subprocess.Popen, address: str, timeout: float = 3.0) -> None:
    """terminate -> wait with a deadline -> kill; remove the ipc socket file."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if address.startswith("ipc://"):
        try:
            os.unlink(address[len("ipc://"):])
        except OSError:
            pass
