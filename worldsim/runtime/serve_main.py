"""`python -m worldsim.runtime.serve_main`: the entry point of a spawned worker process.

Kept apart from the CLI so a worker imports only the runtime and its renderers (never pygame).
"""
from __future__ import annotations

import argparse
import json

from .scheduling import DEFAULT_BATCH_BUCKETS, parse_buckets
from .worker_main import run_worker


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="worldsim-worker")
    p.add_argument("--bind", required=True)
    p.add_argument("--renderers", required=True, help="comma-separated renderer names")
    p.add_argument("--options", default="{}", help="JSON object of renderer options")
    p.add_argument("--ready-fd", type=int)
    p.add_argument("--parent-pid", type=int)
    p.add_argument("--session-idle-s", type=float, default=60.0)
    p.add_argument("--batch-buckets", type=parse_buckets, default=DEFAULT_BATCH_BUCKETS)
    p.add_argument("--max-sessions", type=int, default=None,
                   help="the worker's session limit; renderers taking `max_sessions` are built to hold it")
    p.add_argument("--gpus", type=int, default=1, help="ranks the aapt generator runs on (sequence parallel)")
    a = p.parse_args(argv)
    run_worker(a.bind, a.renderers.split(","), json.loads(a.options), a.ready_fd, a.parent_pid,
               session_idle_s=a.session_idle_s, batch_buckets=a.batch_buckets, max_sessions=a.max_sessions,
               gpus=a.gpus)


if __name__ == "__main__":
    main()
