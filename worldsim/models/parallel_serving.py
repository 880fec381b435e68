"""`worldsim serve --gpus N`: the `aapt` renderer's generator run sequence-parallel (parallel.py) over
N processes of one host, one GPU a rank (`cuda:rank`, NCCL), or N CPU processes (gloo, for tests).

    renderer, ranks = start_parallel_aapt(options, gpus=2)    # rank 0: this process; 1..N-1 spawned
    renderer.open(...); renderer.step(...)                    # served as usual; the generator on N ranks
    ranks.stop()                                              # the followers exit

Rank 0 is the worker process: ZMQ, sessions, batching, the text encoder, the VAE encoder (first
frames) and the light decoder run there alone. Ranks 1..N-1 (followers, `python -m
worldsim.models.parallel_serving`, spawned by rank 0, joined to it over a TCP store on 127.0.0.1
and a socket pair each) build the same renderer from the same options (the same checkpoint or
seeded preset; rank 0's generator weights are broadcast to them once built) and hold a KV cache
of H/P heads each; they never talk ZMQ. The renderer touches the generator in two calls, `start`
(a session opens) and `step`; on rank 0 both are wrapped: rank 0 sends each follower the call
(its name, the slots, the tensors' shapes) on its socket, broadcasts the tensors (the first
latent and text; the controls and noise), runs the call, whose all-to-alls pair with the
followers', and waits for each follower's answer. `close` and reset (close + open) free a slot on
rank 0 only; snapshots and teacher forcing are refused (each rank holds part of the cache).

Failures: a follower that exits, fails, or does not answer within RANK_TIMEOUT_S makes that call
and every later one raise `RankFailed` (one line: which rank, its pid, how it ended); the worker
answers those requests with ERROR internal and keeps serving everything else (PING, other
renderers); restart it. The other followers are stopped at once. A follower exits when rank 0
says so, when its socket closes, or when rank 0's process dies (PDEATHSIG + a watchdog). A rank
that dies inside a collective: gloo raises at once (the call then finds the dead follower); NCCL
(not tested) may wait for the process group's timeout (RANK_TIMEOUT_S).

Not done: the compiled step (`compile` is refused), fp8 and camera guidance (refused), snapshots, several hosts.
"""
from __future__ import annotations

import argparse
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from multiprocessing.connection import Connection

import torch
import torch.distributed as dist

from ..rendering import RendererError
from .parallel import SequenceParallel
from .renderer import AaptRenderer

RANK_TIMEOUT_S = 60.0       # a follower's answer to a call; the process group's collectives
START_TIMEOUT_S = 600.0     # followers starting and building the model (a large checkpoint loads for minutes)
CALLS = ("start", "step")   # the generator calls every rank runs


class RankFailed(RuntimeError):
    """A follower rank exited, failed or went silent: the generator cannot run on all ranks any more."""


def model_config(options: dict):
    """The config of the model `options` build (checkpoint or preset), read without loading weights."""
    from ..config import ModelConfig, model_preset
    if options.get("checkpoint"):
        from .checkpoint import read_config
        return ModelConfig.from_dict(read_config(options["checkpoint"])["model"])
    return model_preset(options.get("preset", "default"))


def check_parallel(cfg, width: int | None, height: int | None, gpus: int, device: str | None,
                   compile: bool | str = False) -> None:
    """ValueError (one line) unless the generator of `cfg` at width x height can run on `gpus` ranks."""
    if gpus < 1:
        raise ValueError(f"--gpus must be at least 1, got {gpus}")
    if compile:
        raise ValueError(f"--gpus {gpus} runs the step eagerly: the compiled step under sequence parallelism "
                         "is not done yet (drop --compile)")
    device = device or "cpu"
    if device.startswith("cuda"):
        if device != "cuda":
            raise ValueError(f"--gpus {gpus} puts rank r on cuda:r: give --device cuda, not {device!r} (pick the "
                             "GPUs with CUDA_VISIBLE_DEVICES)")
        if gpus > torch.cuda.device_count():
            raise ValueError(f"--gpus {gpus}: torch sees {torch.cuda.device_count()} CUDA devices here")
    elif device != "cpu":
        raise ValueError(f"--gpus {gpus} runs on cpu (gloo) or cuda (NCCL), not {device!r}")
    gen = cfg.generator
    if gen.heads % gpus:
        raise ValueError(f"--gpus {gpus}: the model's {gen.heads} attention heads do not divide among {gpus} ranks")
    width, height = width or cfg.width, height or cfg.height
    tokens = (height // 8 // gen.patch) * (width // 8 // gen.patch)
    if tokens % gpus:
        raise ValueError(f"--gpus {gpus}: a {width}x{height} frame makes {tokens} tokens, which do not divide "
                         f"among {gpus} ranks (pick a size whose token grid does)")


class ParallelAapt(AaptRenderer):
    """The `aapt` renderer with its generator sequence-parallel over `ranks` (a Leader on rank 0, a
    Follower elsewhere); on rank 0 every generator start/step runs on all ranks."""

    def __init__(self, ranks: "Leader | Follower", **options):
        self.ranks = ranks
        super().__init__(**{**options, "device": ranks.device})
        ranks.built()
        gen = self.model.generator
        for p in gen.parameters():               # the same weights on every rank, whatever the init did
            dist.broadcast(p.data, 0)
        self.spec.info["gpus"] = ranks.world
        if isinstance(ranks, Leader):
            for name in CALLS:
                setattr(gen, name, functools.partial(self._everywhere, name))

    def setup_cache(self, sessions: int) -> None:
        self.sp = SequenceParallel(self.model.generator)
        self.sp.setup_cache(sessions, self.latent_hw, self.model.cfg.text.length)

    def _everywhere(self, name: str, *tensors, slots=None):
        gen = self.model.generator
        if name == "step" and (len(tensors) < 2 or tensors[1] is None):     # the noise, drawn here for all
            rows = len(slots) if slots is not None else gen.prev_latent.shape[0]
            tensors = (tensors[0], torch.randn(rows, *gen.prev_latent.shape[1:], device=tensors[0].device))
        run = getattr(type(gen), name)
        return self.ranks.call(name, list(tensors), slots, lambda: run(gen, *tensors, slots=slots))

    def snapshot(self, state):
        self._refuse("snapshots")

    def restore(self, state, snap):
        self._refuse("snapshots")

    def step_teacher_forced(self, states, packets, true_frames):
        self._refuse("teacher forcing")

    def _refuse(self, what: str):
        raise RendererError(f"--gpus {self.ranks.world} serves no {what} (each rank holds part of the KV cache)")


def start_parallel_aapt(options: dict, gpus: int) -> tuple[ParallelAapt, "Leader"]:
    """Rank 0's renderer, its N-1 followers spawned and built; ValueError (one line) for options that
    cannot run on `gpus` ranks, RankFailed for a follower that fails to start."""
    check_parallel(model_config(options), options.get("width"), options.get("height"), gpus,
                   options.get("device"), options.get("compile", False))
    if options.get("fp8"):     # the ranks' fp8 weights are buffers, which the weight broadcast does not cover
        raise ValueError("aapt fp8 runs on one GPU; it is not supported sequence-parallel (--gpus > 1) yet")
    if options.get("guidance"):  # its undo of the still pass touches rank 0's frame counters only
        raise ValueError("aapt guidance runs on one GPU; it is not supported sequence-parallel (--gpus > 1) yet")
    leader = Leader(gpus, options)
    try:
        return ParallelAapt(leader, **options), leader
    except BaseException:
        leader.stop()
        raise


# ---- rank 0 -------------------------------------------------------------------------------------
class Leader:
    """Rank 0: spawns the followers, joins the process group with them and drives their calls."""

    rank = 0

    def __init__(self, world: int, options: dict):
        self.world, self.failed = world, None
        cuda = (options.get("device") or "cpu").startswith("cuda")
        self.device = "cuda:0" if cuda else "cpu"
        if cuda:
            torch.cuda.set_device(0)
        store = dist.TCPStore("127.0.0.1", 0, world, is_master=True, wait_for_workers=False,
                              timeout=timedelta(seconds=START_TIMEOUT_S))
        self.followers: list[tuple[int, subprocess.Popen, Connection]] = []
        try:
            for rank in range(1, world):
                self.followers.append(self._spawn(rank, world, store.port, options))
            self._answers("hello", START_TIMEOUT_S)
            dist.init_process_group("nccl" if cuda else "gloo", store=store, rank=0, world_size=world,
                                    timeout=timedelta(seconds=RANK_TIMEOUT_S))
        except BaseException:
            self.stop()
            raise
        print(f"worldsim worker: sequence-parallel over {world} ranks ({dist.get_backend()}), followers pid "
              f"{' '.join(str(p.pid) for _, p, _ in self.followers)}", file=sys.stderr, flush=True)

    @staticmethod
    def _spawn(rank: int, world: int, port: int, options: dict) -> tuple[int, subprocess.Popen, Connection]:
        """Follower `rank`, given a socket to rank 0 and the renderer's options on it."""
        mine, theirs = socket.socketpair()
        cmd = [sys.executable, "-m", "worldsim.models.parallel_serving", "--rank", str(rank), "--world", str(world),
               "--port", str(port), "--fd", str(theirs.fileno()), "--parent-pid", str(os.getpid())]
        with theirs:
            proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        conn = Connection(mine.detach())
        conn.send(options)
        return rank, proc, conn

    def built(self) -> None:
        self._answers("built", START_TIMEOUT_S)

    def call(self, name: str, tensors: list[torch.Tensor], slots, run):
        """`run()` (the generator call `name` on this rank) with every follower making the same call."""
        self._check()
        specs = [(tuple(t.shape), str(t.dtype).removeprefix("torch.")) for t in tensors]
        try:
            for _, _, conn in self.followers:
                conn.send((name, None if slots is None else list(slots), specs))
            for t in tensors:
                dist.broadcast(t.contiguous(), 0)
            out = run()
        except Exception:
            self._check(grace_s=1.0)             # a follower that died mid-call: RankFailed, not gloo's words
            self._answers("done", RANK_TIMEOUT_S, fail_on_error=False)
            raise
        self._answers("done", RANK_TIMEOUT_S)
        return out

    def _answers(self, expect: str, timeout_s: float, fail_on_error: bool = True) -> None:
        """Each follower's answer (`expect`, or ("error", line)) within timeout_s, its process checked meanwhile."""
        deadline = time.monotonic() + timeout_s
        for rank, proc, conn in self.followers:
            while not conn.poll(0.1):
                if proc.poll() is not None and not conn.poll(0):     # its last words first, if it sent any
                    self._check()
                if time.monotonic() > deadline:
                    self._fail(rank, proc, f"did not answer within {timeout_s:g} s")
            try:
                answer = conn.recv()
            except (EOFError, OSError):
                self._check(grace_s=1.0)
                self._fail(rank, proc, "closed its socket")
            if answer[0] != expect and (fail_on_error or answer[0] != "error"):
                self._fail(rank, proc, f"failed: {answer[1]}" if answer[0] == "error" else f"answered {answer[0]!r}")

    def _check(self, grace_s: float = 0.0) -> None:
        """RankFailed if the ranks failed before or a follower has exited (waiting up to grace_s for it)."""
        if self.failed:
            raise RankFailed(self.failed)
        deadline = time.monotonic() + grace_s
        while True:
            for rank, proc, _ in self.followers:
                code = proc.poll()
                if code is not None:
                    self._fail(rank, proc, f"exited ({f'signal {-code}' if code < 0 else f'code {code}'})")
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def _fail(self, rank: int, proc: subprocess.Popen, what: str) -> None:
        self.failed = (f"sequence-parallel rank {rank} of {self.world} (pid {proc.pid}) {what}; this worker "
                       "cannot run the aapt generator any more: restart it")
        print(f"worldsim worker: {self.failed}", file=sys.stderr, flush=True)
        self.stop()
        raise RankFailed(self.failed)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Tell the followers to exit; terminate (then kill) any still running after timeout_s."""
        for _, proc, conn in self.followers:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        for _, proc, conn in self.followers:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(2.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            conn.close()
        self.followers = []
        if dist.is_initialized():
            dist.destroy_process_group()


# ---- ranks 1..N-1 -------------------------------------------------------------------------------
class Follower:
    """Rank r > 0: joins rank 0's process group, then makes the generator calls rank 0 sends."""

    def __init__(self, rank: int, world: int, port: int, conn: Connection):
        self.rank, self.world, self.conn = rank, world, conn
        self.options = conn.recv()
        cuda = (self.options.get("device") or "cpu").startswith("cuda")
        self.device = f"cuda:{rank}" if cuda else "cpu"
        if cuda:
            torch.cuda.set_device(rank)
        conn.send(("hello",))
        store = dist.TCPStore("127.0.0.1", port, world, is_master=False, timeout=timedelta(seconds=START_TIMEOUT_S))
        dist.init_process_group("nccl" if cuda else "gloo", store=store, rank=rank, world_size=world,
                                timeout=timedelta(seconds=RANK_TIMEOUT_S))

    def built(self) -> None:
        self.conn.send(("built",))

    def serve(self, renderer: ParallelAapt) -> None:
        """Make rank 0's generator calls until it says stop or its socket closes."""
        gen = renderer.model.generator
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] not in CALLS:
                return
            name, slots, specs = message
            tensors = [torch.empty(shape, dtype=getattr(torch, dtype), device=self.device) for shape, dtype in specs]
            for t in tensors:
                dist.broadcast(t, 0)
            try:
                getattr(gen, name)(*tensors, slots=slots)
                self.conn.send(("done",))
            except Exception as err:
                self.conn.send(("error", " ".join(f"{type(err).__name__}: {err}".split())))


def follow(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="worldsim-rank")
    for flag in ("--rank", "--world", "--port", "--fd", "--parent-pid"):
        p.add_argument(flag, type=int, required=True)
    a = p.parse_args(argv)
    from ..runtime.worker_main import die_with_parent, start_failure_reason
    die_with_parent(a.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C at `worldsim serve` stops rank 0, which stops us
    conn = Connection(a.fd)
    try:
        ranks = Follower(a.rank, a.world, a.port, conn)
        renderer = ParallelAapt(ranks, **ranks.options)
    except Exception as err:
        line = start_failure_reason(err)
        print(f"worldsim rank {a.rank}: cannot start: {line}", file=sys.stderr, flush=True)
        try:
            conn.send(("error", line))
        except OSError:
            pass
        sys.exit(1)
    ranks.serve(renderer)
    dist.destroy_process_group()


if __name__ == "__main__":
    follow()
