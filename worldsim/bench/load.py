"""`worldsim bench load`: N concurrent clients stream from one worker for S seconds.

Each client (its own socket, in its own thread) opens a session and sends steps at the renderer's
frame rate (24 fps: a step of 4 frames every 1/6 s) with up to 2 steps in flight, as the frame
loop does. Reports frames asked for and received, frames lost (asked for, never received: target
0), steps out of order (a step index or tick that does not follow the previous: target 0), errors,
step round-trip latency p50/p99 and the worker's resident memory after warm-up, at the end of the
streaming (every session still open), at its peak, and after the clients closed their sessions.
"""
from __future__ import annotations

import json
import platform
import threading
import time

import numpy as np

from worldsim.runtime.client import Client
from worldsim.runtime.process import WorkerProcess

CAMERA = {"camera": {"c2w": np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()}}


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Player(threading.Thread):
    def __init__(self, address: str, index: int, seconds: float, depth: int = 2):
        super().__init__(name=f"load-client-{index}", daemon=True)
        self.address, self.index, self.seconds, self.depth = address, index, seconds, depth
        self.asked = self.received = self.out_of_order = self.errors = 0
        self.latency_ms: list[float] = []
        self.failure: str | None = None
        self.started = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except Exception as err:                    # reported, never hidden
            self.failure = f"{type(err).__name__}: {err}"
            self.started.set()

    def _run(self) -> None:
        with Client.connect(self.address, timeout=30.0) as client:
            session = client.open("testpattern", seed=self.index, controls=["camera"])
            spec = session.spec
            period = spec.frames_per_step / spec.fps
            expect_step, last_tick, tick = 0, -1, 0
            self.started.set()
            t_end = time.monotonic() + self.seconds
            next_send = time.monotonic()
            while True:
                now = time.monotonic()
                if now < t_end and client.in_flight < self.depth and now >= next_send:
                    n = spec.frames_for_step(session.steps_sent)
                    client.submit_step(session, tick, [CAMERA] * n)
                    self.asked += n
                    tick += n
                    next_send += period if session.steps_sent > 1 else 0.0
                    continue
                if now >= t_end and not client.in_flight:
                    break
                for result in client.poll(min(0.05, max(0.0, next_send - now)) if now < t_end else 1.0):
                    if result.error is not None:
                        self.errors += 1
                        continue
                    self.received += len(result.frames)
                    if result.step != expect_step or result.tick <= last_tick:
                        self.out_of_order += 1
                    expect_step, last_tick = result.step + 1, result.tick
                    self.latency_ms.append(result.round_trip_ms)


def run(sessions: int = 8, seconds: float = 60.0, width: int = 736, height: int = 416,
        warmup_s: float = 5.0, progress=None) -> dict:
    """`progress(s)`, if given, is called with the seconds of streaming that passed, about once a second."""
    process = WorkerProcess(["testpattern"], {"width": width, "height": height}).start()
    try:
        players = [_Player(process.address, i, seconds) for i in range(sessions)]
        for p in players:
            p.start()
        for p in players:
            p.started.wait(60)
        time.sleep(min(warmup_s, seconds / 4))
        mem_start = mem_end = peak = rss_mb(process.pid)
        t0 = time.monotonic()
        while any(p.is_alive() for p in players):
            time.sleep(1.0)
            if progress is not None:
                progress(1.0)
            if process.alive():
                sample = rss_mb(process.pid)
                peak = max(peak, sample)
                if all(p.is_alive() for p in players) and time.monotonic() - t0 < seconds - 2:
                    mem_end = sample                 # the last sample with every session open and streaming
        for p in players:
            p.join()
        mem_closed = rss_mb(process.pid) if process.alive() else float("nan")
        worker_alive = process.alive()
    finally:
        process.stop()
    latency = [x for p in players for x in p.latency_ms]
    asked, received = sum(p.asked for p in players), sum(p.received for p in players)
    return {
        "sessions": sessions, "seconds": seconds, "size": f"{width}x{height}",
        "frames_sent": asked, "frames_received": received, "frames_lost": asked - received,
        "out_of_order": sum(p.out_of_order for p in players), "errors": sum(p.errors for p in players),
        "client_failures": [p.failure for p in players if p.failure],
        "worker_alive": worker_alive,
        "step_ms_p50": float(np.percentile(latency, 50)) if latency else float("nan"),
        "step_ms_p99": float(np.percentile(latency, 99)) if latency else float("nan"),
        "worker_rss_mb_start": mem_start, "worker_rss_mb_end": mem_end, "worker_rss_mb_peak": peak,
        "worker_rss_mb_after_close": mem_closed,
        "memory_change_pct": 100.0 * (mem_end - mem_start) / mem_start,
        "elapsed_s": time.monotonic() - t0,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def register(sub) -> None:
    p = sub.add_parser("load", help="N concurrent clients streaming from one worker: lost / out-of-order frames, "
                       "latency, worker memory")
    p.add_argument("--sessions", type=int, default=8, help="concurrent clients, one session each")
    p.add_argument("--seconds", type=float, default=60.0, help="how long they stream")
    p.add_argument("--size", default="736x416", metavar="WxH", help="frame size (default 736x416)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from worldsim.errors import WorldsimUserError
    from worldsim.runtime.commands import _size
    width, height = _size(args.size)
    if not 1 <= args.sessions <= 64 or args.seconds <= 0:
        raise WorldsimUserError("--sessions must be 1..64 and --seconds positive")
    from tqdm import tqdm
    with tqdm(total=round(args.seconds), desc="load", unit="s", disable=args.json) as bar:
        result = run(args.sessions, args.seconds, width, height, progress=bar.update)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<22} {value:.2f}" if isinstance(value, float) else f"{key:<22} {value}")
    ok = (result["frames_lost"] == 0 and result["out_of_order"] == 0 and result["worker_alive"]
          and not result["client_failures"] and result["errors"] == 0)
    return 0 if ok else 1
