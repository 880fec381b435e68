"""`worldsim bench e2e`: the neural renderer served as in play: a worker process, S real clients in real time.

    worldsim bench e2e --preset default --res 128x128 --window 16 --sessions 1 --device cpu
    worldsim bench e2e --preset 8b --res 736x416 --window 30 --sessions 8 --device cuda --compile --json
    worldsim bench e2e --preset 8b --res 1280x720 --window 15 --gpus 2 --device cuda --json   # 2 ranks

A worker process (what `worldsim serve --max-sessions S` runs: the `aapt` renderer with the preset
at random weights, which step as fast as trained ones, or `--checkpoint DIR`, built to hold S
sessions) and S clients, each with its own socket and thread, one session each. Every client
first warms its session up, stepping one step at a time until the attention window's ring is full
(with `--compile` the worker has traced every step graph before it reported ready: the warm-up,
`compile_s`, is counted apart), then all step in real time for T seconds on
one clock: the step for video frames k..k+3 is sent at tick k (24 fps: every 1/6 s), its controls
(a turning camera) read then, with at most 2 steps in flight. Reported per session and overall, over the real-time steps:

- fps: frames received per second, (frames after the first step) / (last arrival - first arrival)
- step_ms p50/p99: the worker's time for the `Renderer.step` batch that made the step (FRAMES
  timings.render_ms; generator and decoder), and round_trip_ms, as the client saw it
- latency_ms p50/p99: input to frame, the controls read (STEP sent) -> the step's frames received
- stall_pct: steps whose frames arrived after their display deadline, the tick of the next step
  (4 ticks after the step's scheduled read): a display playing the previous step's frames on time
  has nothing new to show then
- tflops: FLOPs of the steps (as `bench model` counts them) / the worker's time stepping them;
  tflops_delivered: the same FLOPs / the wall time
- worker_rss_mb (peak) and, on CUDA, gpu_peak_mb (nvidia-smi, sampled twice a second)
- timeline: per second of the real-time run, all sessions' steps, stalls and the slowest worker
  batch: one slow batch stalls every session in the same second
- compile_s: with `--compile`, the worker's warm-up (every batch size x ring phase traced before
  it serves; models/warmup.py), outside the real-time measurement; null without

Progress (worker starting, ready, playing) goes to stderr; SIGTERM (a time limit) stops the worker, keeps
`--worker-log FILE` and ends the run with one line saying where it was.

`--gpus G` serves with `worldsim serve --gpus G` (the generator sequence-parallel on G ranks);
tflops then counts the FLOPs of all G GPUs, and worker_rss_mb / gpu_peak_mb are rank 0's.
"""
from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time

import numpy as np

from worldsim.bench.gpu_memory import GpuMemory
from worldsim.errors import WorldsimUserError

DEPTH = 2            # steps a client keeps in flight at most
LIVENESS_S = 10.0    # a client declares the worker dead after this long without a word


def camera(tick: int) -> dict:
    """A camera turning 10 degrees a second at 24 fps (OpenCV c2w, row-major)."""
    yaw = math.radians(10.0) * tick / 24.0
    c, s = math.cos(yaw), math.sin(yaw)
    return {"camera": {"c2w": [c, 0, -s, 0, 0, -1, 0, 0, -s, 0, -c, 0, 0, 0, 0, 1]}}


def sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


class Player(threading.Thread):
    def __init__(self, address: str, index: int, warmup_steps: int, seconds: float, start: threading.Barrier,
                 clock: dict):
        super().__init__(name=f"e2e-client-{index}", daemon=True)
        self.address, self.index, self.warmup_steps, self.seconds = address, index, warmup_steps, seconds
        self.barrier, self.clock = start, clock         # clock["t0"]: the real-time start, set by the barrier
        self.results: list[tuple] = []        # (scheduled read, sent, received, frames, render_ms, batch)
        self.asked = self.errors = 0
        self.compile_s: float | None = None           # the renderer's warm-up, from its spec
        self.failure: str | None = None

    def run(self) -> None:
        try:
            self._run()
        except Exception as err:                  # reported, never hidden
            self.failure = f"{type(err).__name__}: {err}"
            self.barrier.abort()

    def _run(self) -> None:
        from worldsim.runtime.client import Client
        # liveness 10 s, not play's 1 s: hundreds of client threads in one process (and one GIL)
        # can leave a thread unscheduled for longer than a second on a loaded host
        with Client.connect(self.address, timeout=600.0, liveness_s=LIVENESS_S) as client:
            session = client.open("aapt", seed=self.index, controls=["camera"])
            spec, tick = session.spec, 0
            self.compile_s = spec.info.get("compile_s")
            for _ in range(self.warmup_steps):          # one at a time: the ring fills, graphs trace
                n = spec.frames_for_step(session.steps_sent)
                result = client.step(session, tick, [camera(tick + i) for i in range(n)], timeout=600.0)
                if result.error is not None:
                    raise result.error
                tick += n
            self.barrier.wait(1800.0)
            t0 = self.clock["t0"]
            period, t_end = 1.0 / spec.fps, t0 + self.seconds
            sent: dict[int, tuple[float, float]] = {}     # rid -> (scheduled read, sent)
            first_tick = tick
            while True:
                due = t0 + (tick - first_tick) * period
                now = time.monotonic()
                if due < t_end and now >= due and client.in_flight < DEPTH:
                    n = spec.frames_for_step(session.steps_sent)
                    sent[client.submit_step(session, tick, [camera(tick + i) for i in range(n)])] = (due, now)
                    self.asked += 1
                    tick += n
                    continue
                if due >= t_end and not client.in_flight:
                    break
                wait = max(0.0, due - now) if due < t_end and client.in_flight < DEPTH else 0.05
                for r in client.poll(min(wait, 0.05) if due < t_end else 1.0):
                    if r.error is not None:
                        self.errors += 1
                        continue
                    due_at, sent_at = sent.pop(r.rid)
                    self.results.append((due_at, sent_at, r.received_at, len(r.frames),
                                         r.timings.get("render_ms"), r.timings.get("batch", 1)))


def session_figures(p: Player, period: float) -> dict:
    res = p.results
    frames = sum(r[3] for r in res[1:])
    span = res[-1][2] - res[0][2] if len(res) > 1 else 0.0
    latency = [1e3 * (r[2] - r[1]) for r in res]
    step = [r[4] for r in res if r[4] is not None]
    stalls = sum(r[2] > r[0] + 4 * period for r in res)
    return {"fps": round(frames / span, 2) if span > 0 else 0.0, "steps_asked": p.asked, "steps_answered": len(res),
            "errors": p.errors, "step_ms_p50": pct(step, 50), "step_ms_p99": pct(step, 99),
            "latency_ms_p50": pct(latency, 50), "latency_ms_p99": pct(latency, 99),
            "stall_pct": round(100.0 * stalls / len(res), 2) if res else None, "failure": p.failure}


def run(options: dict, sessions: int, seconds: float, warmup_steps: int, flops_per_step: float,
        device: str, batch_buckets: tuple[int, ...] | None = None, gpus: int = 1,
        worker_log: str | None = None) -> dict:
    import zmq

    from worldsim.runtime.process import WorkerProcess, WorkerStartError, raise_open_files
    need, files = raise_open_files(sessions)     # S clients' sockets here, their connections in the worker
    if files < need:
        raise WorldsimUserError(f"--sessions {sessions} needs about {need} open files; the limit is {files} "
                                "(raise it: ulimit -n)")
    zmq.Context.instance().set(zmq.MAX_SOCKETS, max(1023, sessions + 64))   # one socket a client; before the first
    gpu = GpuMemory(device)
    ready_s = 1800.0 if options.get("compile") else 600.0     # compiled: every graph traces before READY
    process = WorkerProcess(["aapt"], options, ready_timeout=ready_s, batch_buckets=batch_buckets,
                            max_sessions=sessions, gpus=gpus)   # `worldsim serve --max-sessions S --gpus G`
    process.keep_log = bool(worker_log)       # a worker stopped by a time limit still leaves its log
    begun, phase, failed_start = time.monotonic(), "starting the worker", False
    say(phase + (" (it compiles every step graph first)" if options.get("compile") else ""))
    try:
        with terminate_raises():
            process.start()
            phase = f"playing {sessions} session(s)"
            say(f"worker ready in {time.monotonic() - begun:.0f} s; {phase} for {seconds:g} s")
            return _play(process, gpu, sessions, seconds, warmup_steps, flops_per_step)
    except Terminated:
        kept = f"; the worker's log is in {worker_log}" if worker_log else ""
        raise WorldsimUserError(f"stopped by SIGTERM {time.monotonic() - begun:.0f} s in, while {phase}{kept}") from None
    except WorkerStartError:
        failed_start = True                             # its error names the log where it is: leave it there
        raise
    finally:
        copied = False
        if worker_log and process.log_path and os.path.exists(process.log_path):   # (a refusal removed it)
            try:
                shutil.copyfile(process.log_path, worker_log)
                copied = True
            except OSError as err:
                print(f"worldsim bench e2e: could not keep the worker log in {worker_log}: {err}", file=sys.stderr)
        process.stop()
        if copied and not failed_start:
            process.remove_log()


class Terminated(Exception):
    """SIGTERM (a time limit's `timeout`, a job scheduler) while the benchmark runs."""


@contextlib.contextmanager
def terminate_raises():
    """SIGTERM raises Terminated in the main thread for the block, so the worker is stopped and its log kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum, frame):
        raise Terminated
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def say(line: str) -> None:
    """Progress on stderr (the figures go to stdout): a run cut short still tells how far it got."""
    print(f"worldsim bench e2e: {line}", file=sys.stderr, flush=True)


def _play(process, gpu, sessions: int, seconds: float, warmup_steps: int, flops_per_step: float) -> dict:
    """S players on the started worker, warmed up, then in real time for `seconds`: the figures."""
    from worldsim.bench.load import rss_mb
    clock: dict = {}
    barrier = threading.Barrier(sessions, action=lambda: clock.update(t0=time.monotonic() + 0.05))
    players = [Player(process.address, i, warmup_steps, seconds, barrier, clock) for i in range(sessions)]
    for p in players:
        p.start()
    rss = rss_mb(process.pid)
    while any(p.is_alive() for p in players):
        time.sleep(0.5)
        if process.alive():
            rss = max(rss, rss_mb(process.pid))
            gpu.sample(process.pid)
    log = process.log_tail(3) if not process.alive() else ""
    failures = [p.failure for p in players if p.failure]
    if failures:
        raise WorldsimUserError(f"client failed: {failures[0]}" + (f"; worker log: {log.strip()}" if log else ""))
    period = 1.0 / 24.0
    per = [session_figures(p, period) for p in players]
    res = [r for p in players for r in p.results]
    busy_s = sum(r[4] / 1e3 / r[5] for r in res if r[4] is not None)
    wall = max(r[2] for r in res) - clock["t0"] if res else 0.0
    overall = session_figures(_Pooled(res, sum(p.asked for p in players), sum(p.errors for p in players)), period)
    overall["fps"] = round(float(np.mean([s["fps"] for s in per])), 2)
    overall["fps_min"] = min(s["fps"] for s in per)
    return {**{k: v for k, v in overall.items() if k != "failure"},
            "tflops": sig(flops_per_step * len(res) / busy_s / 1e12) if busy_s else None,
            "tflops_delivered": sig(flops_per_step * len(res) / wall / 1e12) if wall else None,
            "batch_sizes": {str(b): n for b, n in sorted(collections.Counter(r[5] for r in res).items())},
            "worker_rss_mb": round(rss, 1), "gpu_peak_mb": gpu.peak_mb(), "gpu_memory_source": gpu.source,
            "sessions": sessions, "seconds": seconds, "warmup_steps": warmup_steps,
            "compile_s": players[0].compile_s if players else None,
            "gflop_per_step": sig(flops_per_step / 1e9), "timeline": timeline(res, clock.get("t0", 0.0), period),
            "per_session": per}


def timeline(res: list, t0: float, period: float) -> list[dict]:
    """Every session's real-time steps by the second of their scheduled read (0 = the first second):
    how many, how many stalled, and the slowest worker batch among them (render_ms), so a stall
    that hits every session at once (one slow batch) tells itself apart from a steady shortfall."""
    bins: dict[int, list] = {}
    for due, _sent, received, _n, render_ms, _batch in res:
        b = bins.setdefault(max(0, int(due - t0)), [0, 0, 0.0])
        b[0] += 1
        b[1] += received > due + 4 * period
        b[2] = max(b[2], render_ms or 0.0)
    return [{"second": s, "steps": n, "stalls": late, "render_ms_max": round(worst, 1)}
            for s, (n, late, worst) in sorted(bins.items())]


class _Pooled:
    """Every session's results as one, for the overall figures (fps is the mean of the sessions')."""

    def __init__(self, results, asked, errors):
        self.results, self.asked, self.errors, self.failure = sorted(results, key=lambda r: r[2]), asked, errors, None


# ---- command line -----------------------------------------------------------------------------
def model_config(args):
    """The served model's config (window applied), for the checks and the FLOP count."""
    from ..config import ModelConfig, model_preset, replace_generator
    if args.checkpoint:
        from ..models.checkpoint import read_config
        meta = read_config(args.checkpoint)                  # CheckpointError: one line
        if "camera" not in meta.get("controls", {}):
            raise WorldsimUserError(f"--checkpoint {args.checkpoint}: bench e2e drives the camera; this model "
                                    f"takes {sorted(meta.get('controls', {}))}")
        cfg = ModelConfig.from_dict(meta["model"])
    else:
        from ..controls.encoding import control_channels
        from ..models.renderer import DEFAULT_CONTROLS
        try:
            cfg = model_preset(args.preset)
        except KeyError as err:
            raise WorldsimUserError(err.args[0]) from None
        cfg = replace_generator(cfg, control_channels=control_channels(list(DEFAULT_CONTROLS), DEFAULT_CONTROLS))
    return replace_generator(cfg, window=args.window) if args.window else cfg


def flops_per_step(cfg, width: int, height: int) -> float:
    """One session's steady-state step, as `bench model` counts it (the generator built on the meta device)."""
    import torch

    from ..models.generator import Generator
    from .model import step_flops
    gcfg = cfg.generator
    with torch.device("meta"):
        gen = Generator(gcfg)
    tokens = (height // 8 // gcfg.patch) * (width // 8 // gcfg.patch)
    return step_flops(gen, tokens, cfg.text.length + tokens * (1 + gcfg.window))


def register(sub) -> None:
    p = sub.add_parser("e2e", help="the aapt renderer in a worker process, S clients stepping in real time: "
                       "fps, step and input-to-frame latency, stalls, TFLOP/s, memory")
    p.add_argument("--preset", default=None, help="tiny | default | 1.3b | 8b, at random weights (default: default)")
    p.add_argument("--checkpoint", metavar="DIR", help="serve this checkpoint instead of a preset")
    p.add_argument("--res", default=None, metavar="WxH", help="video size (default: the model's)")
    p.add_argument("--window", type=int, default=None, help="attention window N in latent frames (default: the model's)")
    from worldsim.runtime.protocol import MAX_SESSIONS_PER_WORKER_BOUND
    p.add_argument("--sessions", type=int, default=1, help="concurrent clients, one session each, in one worker "
                   f"started with --max-sessions S (1..{MAX_SESSIONS_PER_WORKER_BOUND}, default 1)")
    p.add_argument("--seconds", type=float, default=10.0, help="real-time streaming after the warm-up (default 10)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--compile", nargs="?", const=True, default=False, metavar="BACKEND",
                   help="compile the generator's step (Inductor, CUDA graphs on CUDA; or this torch.compile "
                   "backend); the worker traces every graph before serving, reported as compile_s")
    p.add_argument("--compile-scope", choices=["step", "blocks"], default="step",
                   help="with --compile: trace the whole step (default) or each block, the step then captured as a "
                   "CUDA graph by hand on CUDA (the renderer option compile_scope)")
    p.add_argument("--fp8", action="store_true", help="the renderer option fp8: the generator's block linears in "
                   "float8 e4m3 (GPUs of compute capability 8.9+; on CPU slow, for correctness only)")
    p.add_argument("--batch-buckets", metavar="N,N,...", help="the worker's batch sizes (default: serve's)")
    p.add_argument("--gpus", type=int, default=1, metavar="G", help="the generator sequence-parallel on G ranks, "
                   "one GPU each (`worldsim serve --gpus G`; default 1)")
    p.add_argument("--worker-log", metavar="FILE", help="keep the worker's log (its stdout and stderr) in FILE, e.g. "
                   "with TORCH_LOGS=recompiles,cudagraphs in the environment to see what a slow batch did")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from worldsim.runtime.commands import _size
    from worldsim.runtime.process import WorkerStartError
    from worldsim.runtime.scheduling import parse_buckets
    from worldsim.runtime.protocol import MAX_SESSIONS_PER_WORKER_BOUND
    if args.checkpoint and args.preset:
        raise WorldsimUserError("--preset and --checkpoint both name the model: give one")
    args.preset = args.preset or "default"
    if not 1 <= args.sessions <= MAX_SESSIONS_PER_WORKER_BOUND:    # the worker is started with --max-sessions S
        raise WorldsimUserError(f"--sessions must be 1..{MAX_SESSIONS_PER_WORKER_BOUND}, got {args.sessions}")
    if not args.seconds > 0 or args.seconds > 3600:
        raise WorldsimUserError(f"--seconds must be in (0, 3600], got {args.seconds:g}")
    if args.window is not None and args.window < 1:
        raise WorldsimUserError(f"--window must be at least 1 latent frame, got {args.window}")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        raise WorldsimUserError(f"--device must be cpu or cuda[:N], got {args.device!r}")
    try:
        buckets = parse_buckets(args.batch_buckets) if args.batch_buckets else None
    except ValueError as err:
        raise WorldsimUserError(f"--batch-buckets: {err}") from None
    from worldsim.devices import require_device
    require_device(args.device)
    cfg = model_config(args)
    try:
        width, height = _size(args.res) if args.res else (cfg.width, cfg.height)
    except WorldsimUserError as err:
        raise WorldsimUserError(f"--res: {err}") from None
    multiple = 8 * cfg.generator.patch
    if width % multiple or height % multiple:
        raise WorldsimUserError(f"--res {width}x{height}: sizes must be multiples of {multiple} for this model")
    if args.fp8 and args.gpus != 1:
        raise WorldsimUserError("--fp8 runs on one GPU; it is not supported with --gpus > 1 yet")
    if args.gpus != 1:
        from ..models.parallel_serving import check_parallel
        try:
            check_parallel(cfg, width, height, args.gpus, args.device, args.compile)
        except ValueError as err:
            raise WorldsimUserError(str(err)) from None
    options = {"width": width, "height": height, "device": args.device, "max_sessions": args.sessions,
               "controls": ["camera"], "compile": args.compile, "window": args.window,
               **({"checkpoint": args.checkpoint, "start": "noise"} if args.checkpoint else {"preset": args.preset})}
    if args.checkpoint:
        del options["controls"]
    if args.fp8:
        options["fp8"] = True
    if args.compile and args.compile_scope != "step":
        options["compile_scope"] = args.compile_scope
    if args.worker_log and not os.path.isdir(os.path.dirname(os.path.abspath(args.worker_log))):
        raise WorldsimUserError(f"--worker-log {args.worker_log}: no such folder")
    try:
        result = run(options, args.sessions, args.seconds, cfg.generator.window + 2,
                     flops_per_step(cfg, width, height), args.device, buckets, args.gpus, args.worker_log)
    except WorkerStartError as err:
        raise WorldsimUserError(str(err).splitlines()[0]) from None
    result = {"preset": cfg.name, "res": f"{width}x{height}", "window": cfg.generator.window,
              "device": args.device, "gpus": args.gpus, "compile": args.compile, "fp8": args.fp8, **result}
    ok = result["steps_answered"] == result["steps_asked"] and not result["errors"]
    if args.json:
        print(json.dumps(result))
        return 0 if ok else 1
    print(f"{cfg.name} {width}x{height} window {result['window']} on {args.device}"
          f"{f' x{args.gpus} ranks' if args.gpus != 1 else ''}, {args.sessions} session(s), "
          f"{args.seconds:g} s real time after {result['warmup_steps']} warm-up steps"
          + (f" (step compiled before serving in {result['compile_s']:.1f} s)" if result["compile_s"] else ""))
    for i, s in enumerate(result["per_session"]):
        print(f"  session {i}: {s['fps']:.1f} fps, step p50/p99 {s['step_ms_p50']} / {s['step_ms_p99']} ms, "
              f"latency p50/p99 {s['latency_ms_p50']} / {s['latency_ms_p99']} ms, stalls {s['stall_pct']} %, "
              f"{s['steps_answered']}/{s['steps_asked']} steps answered")
    print(f"  overall: {result['fps']:.1f} fps per session (min {result['fps_min']:.1f}), step p50/p99 "
          f"{result['step_ms_p50']} / {result['step_ms_p99']} ms, latency p50/p99 {result['latency_ms_p50']} / "
          f"{result['latency_ms_p99']} ms, stalls {result['stall_pct']} %, {result['tflops']} TFLOP/s "
          f"({result['tflops_delivered']} delivered), worker RSS {result['worker_rss_mb']} MB"
          + (f", GPU peak {result['gpu_peak_mb']} MB" if result["gpu_peak_mb"] is not None else ""))
    return 0 if ok else 1
