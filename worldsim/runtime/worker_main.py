"""The worker process's entry point: build the renderers (sized to the worker's session limit),
bind, report READY to the spawning client, serve until SIGTERM/SIGINT (`run_worker`), and the one
line a client or the CLI shows when a renderer cannot start."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Mapping

from worldsim.errors import WorldsimUserError

from . import protocol as P
from ..rendering import RendererError
from .scheduling import DEFAULT_BATCH_BUCKETS
from .sessions import SESSION_IDLE_S
from .worker import Worker


def die_with_parent(parent_pid: int | None) -> None:
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


START_FAILURE = "worldsim worker: cannot start renderer"   # the line a spawning client shows (process.py)
START_REFUSALS = (ValueError, LookupError, OSError, RendererError, WorldsimUserError)   # bad options or files


def start_failure_reason(err: Exception) -> str:
    """What went wrong, in the user's words: the message of a refused option or file; the exception's
    name too for anything else (a bug, to report)."""
    if isinstance(err, START_REFUSALS):
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        return " ".join(str(text).split())
    return " ".join(f"{type(err).__name__}: {err}".split())


def sized_options(name: str, options: Mapping[str, Any] | None, max_sessions: int | None) -> dict:
    """The options renderer `name` is built with in a worker that takes `max_sessions` sessions: a
    renderer whose factory has a `max_sessions` parameter (aapt: the rows of its KV cache) is given
    that many unless the options already say (None: the options as they are, the renderer's default)."""
    from .registry import factory_parameters
    from ..plugins import renderers
    options = dict(options or {})
    if max_sessions is not None and "max_sessions" not in options:
        if "max_sessions" in (factory_parameters(renderers.get(name)) or ()):
            options["max_sessions"] = max_sessions
    return options


def run_worker(address: str, renderer_names: list[str], options: Mapping[str, Any] | None = None,
               ready_fd: int | None = None, parent_pid: int | None = None, curve_dir: str | None = None,
               session_idle_s: float = SESSION_IDLE_S,
               batch_buckets: tuple[int, ...] = DEFAULT_BATCH_BUCKETS, max_sessions: int | None = None,
               gpus: int = 1) -> None:
    """Build the renderers, bind, report READY on `ready_fd`, serve until SIGTERM/SIGINT.

    `max_sessions`: the worker's session limit (None: MAX_SESSIONS_PER_WORKER, renderers at their
    own default size); given, renderers that take a `max_sessions` option are built to hold that many.
    `gpus` > 1: the aapt renderer's generator runs sequence-parallel on that many ranks, this
    process rank 0 (worldsim/models/parallel_serving.py); they stop when the worker does."""
    from .registry import checked_factory, create_renderer
    from .sessions import check_max_sessions
    if max_sessions is not None:
        try:
            check_max_sessions(max_sessions)          # before the renderers load, which may take long
        except ValueError as err:
            raise WorldsimUserError(f"max_sessions {err}") from None
    if gpus != 1 and renderer_names != ["aapt"]:
        raise WorldsimUserError(f"--gpus {gpus} runs the aapt renderer on several ranks; it cannot serve "
                                f"{', '.join(map(repr, renderer_names))}")
    die_with_parent(parent_pid)
    renderers, ranks = {}, None
    for name in renderer_names:
        try:
            sized = sized_options(name, options, max_sessions)
            if gpus != 1:
                from ..models.parallel_serving import start_parallel_aapt
                checked_factory(name, sized)
                renderers[name], ranks = start_parallel_aapt(sized, gpus)
            else:
                renderers[name] = create_renderer(name, **sized)
        except Exception as err:   # a bad checkpoint or option: one clear line, no traceback
            if ready_fd is None and isinstance(err, START_REFUSALS):     # `worldsim serve`: the CLI's own line
                raise WorldsimUserError(f"cannot start renderer {name!r}: {start_failure_reason(err)}") from None
            print(f"{START_FAILURE} {name!r}: {start_failure_reason(err)}", file=sys.stderr, flush=True)
            sys.exit(1)
    try:
        _serve(address, renderers, ready_fd, curve_dir, session_idle_s, batch_buckets, max_sessions)
    finally:
        if ranks is not None:                  # --gpus N: the follower ranks stop with the worker
            ranks.stop()


def _serve(address: str, renderers: dict, ready_fd: int | None, curve_dir: str | None, session_idle_s: float,
           batch_buckets: tuple[int, ...], max_sessions: int | None) -> None:
    from .process import raise_open_files
    limit = P.MAX_SESSIONS_PER_WORKER if max_sessions is None else max_sessions
    need, files = raise_open_files(limit)     # a connection (and shared memory) per session
    if files < need:
        print(f"worldsim worker: {limit} sessions may need {need} open files but the limit is {files} "
              "(ulimit -n); OPENs may fail past it", file=sys.stderr, flush=True)
    worker = Worker(address, renderers, curve_dir=curve_dir, session_idle_s=session_idle_s,
                    batch_buckets=batch_buckets, max_sessions=limit)
    if max_sessions is not None:
        for name, r in renderers.items():
            held = r.spec.info.get("max_sessions") if isinstance(r.spec.info, dict) else None
            if isinstance(held, int) and held < limit:     # options that asked for fewer: say so at start
                print(f"worldsim worker: renderer {name!r} holds {held} sessions, fewer than the worker's "
                      f"{limit}; OPENs past {held} are refused by the renderer", file=sys.stderr, flush=True)
    worker.start_io()
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    if ready_fd is not None:
        os.write(ready_fd, b"READY\n")
        os.close(ready_fd)
    print(f"worldsim worker pid {os.getpid()} serving {', '.join(renderers)} on {worker.address}", file=sys.stderr, flush=True)
    worker.serve()
