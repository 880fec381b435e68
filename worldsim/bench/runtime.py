"""`worldsim bench runtime`: what the worker path (process + protocol + client) costs.

- fps: the most frames/s through worker + protocol + client with the `testpattern` renderer
  (pipelined steps, as the frame loop sends them), at 736x416 by default.
- added_latency_ms: median round trip of one step through the worker minus the median time of
  the same step in-process (steps sent one at a time, nothing else in flight).
"""
from __future__ import annotations

import json
import platform
import statistics
import time

import numpy as np

from worldsim.runtime.client import Client
from worldsim.runtime.inprocess import LocalClient

CAMERA = {"camera": {"c2w": np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()}}


def _open(client, renderer: str):
    session = client.open(renderer, seed=0, controls=["camera"])
    client.step(session, 0, [CAMERA])                      # the 1-frame first step
    return session


def _step_times_ms(client, session, n: int) -> list[float]:
    packets = [CAMERA] * session.spec.frames_per_step
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        result = client.step(session, i, packets)
        times.append((time.perf_counter() - t0) * 1e3)
        if result.error is not None:
            raise result.error
    return times


def throughput(client, session, seconds: float, depth: int) -> float:
    """Frames/s with `depth` steps kept in flight."""
    packets = [CAMERA] * session.spec.frames_per_step
    frames, tick = 0, 0
    for _ in range(depth):
        client.submit_step(session, tick, packets)
        tick += 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for result in client.poll(1.0):
            if result.error is not None:
                raise result.error
            frames += len(result.frames)
            client.submit_step(session, tick, packets)
            tick += 1
    elapsed = time.perf_counter() - t0
    while client.in_flight:
        client.poll(1.0)
    return frames / elapsed


def run(width: int = 736, height: int = 416, seconds: float = 3.0, steps: int = 300, depth: int = 3) -> dict:
    options = {"width": width, "height": height}
    local = LocalClient("testpattern", options)
    local_session = _open(local, "testpattern")
    _step_times_ms(local, local_session, 20)                # warm-up
    in_process = _step_times_ms(local, local_session, steps)
    local_fps = throughput(local, local_session, seconds / 2, 1)
    local.shutdown()
    with Client.spawn("testpattern", options) as client:
        session = _open(client, "testpattern")
        _step_times_ms(client, session, 20)
        worker = _step_times_ms(client, session, steps)
        fps = throughput(client, session, seconds, depth)
    frame_mb = width * height * 3 / 1e6
    return {
        "fps": fps,
        "added_latency_ms": statistics.median(worker) - statistics.median(in_process),
        "worker_step_ms_p50": statistics.median(worker),
        "worker_step_ms_p95": float(np.percentile(worker, 95)),
        "in_process_step_ms_p50": statistics.median(in_process),
        "in_process_fps": local_fps,
        "throughput_mb_s": fps * frame_mb,
        "size": f"{width}x{height}",
        "frames_per_step": session.spec.frames_per_step,
        "pipeline_depth": depth,
        "machine": f"{platform.machine()} {platform.processor() or ''} cpus={_cpus()}".strip(),
    }


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def register(sub) -> None:
    p = sub.add_parser("runtime", help="frames/s and added latency of the worker path (testpattern renderer)")
    p.add_argument("--size", default="736x416", metavar="WxH", help="frame size (default 736x416)")
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from worldsim.runtime.commands import _size
    width, height = _size(args.size)
    result = run(width, height, args.seconds)
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [("frames/s through worker", f"{result['fps']:.0f}"),
            ("added latency per step", f"{result['added_latency_ms']:.2f} ms"),
            ("step round trip via worker (p50/p95)", f"{result['worker_step_ms_p50']:.2f} / {result['worker_step_ms_p95']:.2f} ms"),
            ("step in-process (p50)", f"{result['in_process_step_ms_p50']:.2f} ms"),
            ("frames/s in-process", f"{result['in_process_fps']:.0f}"),
            ("payload through worker", f"{result['throughput_mb_s']:.0f} MB/s"),
            ("frame size, frames/step, depth", f"{result['size']}, {result['frames_per_step']}, {result['pipeline_depth']}")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
