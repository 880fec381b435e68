"""The loop every stage shares: resume, step, log, checkpoint. A stage supplies only its step.

    stage = AdaptStage(cfg, ctx)                  # any object with the Stage protocol below
    history = train(stage, reader, cfg, ctx)      # [{"step": 1, "loss": ...}, ...] of this run

Per step: the stage's `train_step(batch, step)` (forward under `ctx.autocast()`, backward and
optimiser steps via `optimize`; timed as `step_s` and `clips_per_s` over all ranks, and the wait for
its batch as `data_s`), a JSONL line
every `log_every` steps (and TensorBoard scalars if tensorboard is installed), a checkpoint every
`checkpoint_every` steps and at the end. A run whose out_dir holds a checkpoint resumes from it
exactly: weights, optimisers, RNG states, step and data position, so the loss curve continues as if
the run had never stopped. Log lines past the resumed step (written after the last checkpoint by
the killed run) are dropped. `loop.profile_steps = n` profiles n steps from `loop.profile_start` steps
into the run (torch.profiler; the table by self device time in out_dir/profile.txt, rank 0).
"""
from __future__ import annotations

import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from ..profiling import StepProfiler
from .checkpoint import load_train_state, save_train_state
from .distributed import full_tensor, is_main, is_sharded_run, mean_over_ranks
from .config import OptimSection, TrainConfig


@dataclass
class StepContext:
    device: torch.device
    bf16: bool = False                           # autocast to bf16 (CUDA only)
    activation_checkpointing: bool = False
    rank: int = 0                                # under torchrun: this process, and how many there are
    world: int = 1
    sharded: bool = False                        # under torchrun (any world size): FSDP2

    @classmethod
    def from_config(cls, cfg: TrainConfig, rank: int = 0, world: int = 1) -> "StepContext":
        name = cfg.loop.device
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(name)
        sharded = is_sharded_run()
        if device.type == "cuda" and sharded:
            device = torch.device("cuda", torch.cuda.current_device())
        return cls(device, bf16=cfg.loop.bf16 and device.type == "cuda",
                   activation_checkpointing=cfg.loop.activation_checkpointing, rank=rank, world=world, sharded=sharded)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()


class Stage(Protocol):
    model: nn.Module                             # the AaptModel the stage trains (exported at the end)
    ctx: StepContext
    modules: dict[str, nn.Module]                # what a checkpoint saves (trainable and state)
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, batch: dict, step: int) -> dict[str, float]: ...


class SingleLossStage:
    """A stage whose step is one loss through one AdamW (base, adapt, distill): subclasses set
    `ctx`, `cfg`, `optimizers["adamw"]` and define `loss(batch)`."""

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        with self.ctx.autocast():
            loss = self.loss(batch)
        norm = optimize(loss, self.optimizers["adamw"], step, self.cfg.optim)
        return {"loss": loss.item(), "grad_norm": norm}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def optimize(loss: Tensor, opt: torch.optim.Optimizer, step: int, optim: OptimSection) -> float:
    """Backward, linear warm-up of the learning rate, global-norm clipping, step. Returns the grad norm."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    return apply_gradients(opt, step, optim)


def apply_gradients(opt: torch.optim.Optimizer, step: int, optim: OptimSection) -> float:
    """The optimiser step on gradients already accumulated (e.g. per segment of a long video)."""
    scale = min(1.0, (step + 1) / optim.warmup_steps) if optim.warmup_steps > 0 else 1.0
    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
    for g in opt.param_groups:                  # "decay": the loop's schedule factor (set_decay)
        g["lr"] = g.setdefault("base_lr", g["lr"]) * scale * g.get("decay", 1.0)
    # foreach: FSDP2's gradients are DTensors, for which torch's default is one op per tensor
    norm = torch.nn.utils.clip_grad_norm_(params, optim.grad_clip if optim.grad_clip > 0 else float("inf"),
                                          foreach=True)
    opt.step()
    return float(full_tensor(norm))


def schedule_factor(optim: OptimSection, progress: float) -> float:
    """The learning-rate factor at `progress` in [0, 1] of the run: 1 (constant), or a cosine from
    1 down to optim.final_lr_fraction."""
    if optim.schedule != "cosine":
        return 1.0
    p = min(max(progress, 0.0), 1.0)
    return optim.final_lr_fraction + (1 - optim.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * p))


def set_decay(optimizers: dict[str, torch.optim.Optimizer], factor: float) -> None:
    for opt in optimizers.values():
        for g in opt.param_groups:
            g["decay"] = factor


def adamw(params: Iterable[nn.Parameter], optim: OptimSection, lr: float | None = None) -> torch.optim.AdamW:
    """AdamW, fused on CUDA, sharded or not: for FSDP2's DTensor parameters torch's default is the
    per-tensor loop (~10 DTensor dispatches per parameter and step), for plain CUDA tensors foreach."""
    params = [p for p in params if p.requires_grad]
    cuda = bool(params) and all(p.device.type == "cuda" for p in params)
    return torch.optim.AdamW(params, lr=optim.lr if lr is None else lr, betas=optim.betas, eps=optim.eps,
                             weight_decay=optim.weight_decay, fused=True if cuda else None)


class RunLog:
    """JSONL lines (out_dir/log.jsonl) and TensorBoard scalars when tensorboard is installed."""

    def __init__(self, out_dir: Path, resume_step: int, tensorboard: bool):
        self.path = out_dir / "log.jsonl"
        if self.path.exists():                    # keep only what the resumed checkpoint covers
            kept = [ln for ln in self.path.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= resume_step]
            self.path.write_text("".join(ln + "\n" for ln in kept))
        self.file = self.path.open("a")
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step + 1)
            except ImportError:
                pass

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.writer is not None:
            for k, v in record.items():
                if k != "step":
                    self.writer.add_scalar(k, v, record["step"])

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def train(stage: Stage, reader, cfg: TrainConfig, ctx: StepContext, sampler=None) -> list[dict]:
    """Under torchrun every rank runs this; rank 0 logs. Metrics are averaged over ranks on log
    steps only (the other steps' records in the returned history are this rank's own).
    `sampler(stage, step, write) -> metrics` (samples.PeriodicSamples: strips, validation loss) runs
    every `loop.sample_every` steps; its metrics join that step's record.
    A multi-rank resume restores rank 0's RNG and then offsets it per rank: deterministic, but
    bit-identical to an uninterrupted run only for one process."""
    from tqdm import tqdm

    main = is_main()
    out = Path(cfg.loop.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_root = out / "checkpoints"
    state = load_train_state(ckpt_root, stage.modules, stage.optimizers)
    step, elapsed = 0, 0.0                   # elapsed: wall seconds of training so far (loop.max_seconds)
    if state is None:
        seed_everything(cfg.loop.seed + 7919 * ctx.rank)
    else:
        step, elapsed = state["step"], float(state.get("elapsed_s", 0.0))
        reader.load_state_dict(state["data"])
        if ctx.world > 1:
            seed_everything(cfg.loop.seed + 7919 * ctx.rank + 104729 * step)
    log = None
    if main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        log = RunLog(out, step, cfg.loop.tensorboard)
    history: list[dict] = []

    def checkpoint(at: int) -> None:
        save_train_state(ckpt_root, at, stage.modules, stage.optimizers, reader.state_dict(),
                         cfg.to_dict(), keep=cfg.loop.keep_checkpoints, elapsed_s=elapsed)

    def run_time() -> float:                 # wall seconds of training, the same on every rank (their mean)
        nonlocal elapsed
        elapsed = resumed_at + time.perf_counter() - loop_start
        return mean_over_ranks({"elapsed": elapsed})["elapsed"] if cfg.loop.max_seconds > 0 else elapsed

    def progress(seconds: float) -> float:   # of the run: steps, or the time budget if it ends first
        done = step / max(cfg.loop.steps, 1)
        return max(done, seconds / cfg.loop.max_seconds) if cfg.loop.max_seconds > 0 else done

    resumed_at, loop_start = elapsed, time.perf_counter()
    bar = tqdm(total=cfg.loop.steps, initial=step, disable=not (cfg.loop.progress and main), desc=cfg.stage)
    profiler = StepProfiler(step + cfg.loop.profile_start, cfg.loop.profile_steps if main else 0,
                            out / "profile.txt", ctx.device.type == "cuda")
    try:
        for m in stage.modules.values():
            m.train()
        while step < cfg.loop.steps:
            seconds_so_far = run_time()
            if cfg.loop.max_seconds > 0 and seconds_so_far >= cfg.loop.max_seconds:
                break                        # the time budget is spent: checkpoint and export now
            profiler.before(step)
            waited = time.perf_counter()
            batch = next(reader)
            set_decay(stage.optimizers, schedule_factor(cfg.optim, progress(seconds_so_far)))
            started = time.perf_counter()
            metrics = stage.train_step(batch, step)                  # ends in .item(): synced
            seconds = time.perf_counter() - started
            if profiler.after(step):
                print(f"{cfg.stage}: profiled steps {profiler.start}-{profiler.start + profiler.steps - 1}: "
                      f"{profiler.path}", flush=True)
            metrics = {**metrics, "step_s": seconds, "data_s": started - waited,
                       "clips_per_s": len(batch["prompts"]) * ctx.world / seconds}
            step += 1
            logged = step % cfg.loop.log_every == 0 or step == cfg.loop.steps
            if logged:                       # a collective: every rank takes the same log steps
                metrics = mean_over_ranks(metrics)
            if sampler is not None and cfg.loop.sample_every and step % cfg.loop.sample_every == 0:
                metrics.update(sampler(stage, step, main))
            record = {"step": step, **metrics}
            history.append(record)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
            if log is not None and logged:
                log.write(record)
            if step % cfg.loop.checkpoint_every == 0 and step < cfg.loop.steps:
                checkpoint(step)
        if state is None or step > state["step"]:
            run_time()
            checkpoint(step)
    finally:
        profiler.close()
        bar.close()
        if log is not None:
            log.close()
    return history
