"""Stage 1, diffusion adaptation (docs/train.md): block-causal attention with recycled inputs.

Teacher forcing: frame i >= 1 enters as [noisy x_i | clean x_{i-1} | controls_i | flag] and
frame 0 clean, all frames in one forward with the block-causal mask (Generator.forward_clip).
Own predictions (`adapt.own_passes` = k > 0, for a share `own_fraction` of the batches): the
recycled x_{i-1} is instead the model's own one-step prediction (t = 1, as play makes it), made
without gradients by k whole-clip passes, each recycling the previous pass's predictions, so that
after k passes frame i recycles a k-step rollout from the truth (k = F - 1: exactly the free
rollout, `own_rollout`; k = -1: that free rollout stepped through the KV cache, `free_rollout`, which
costs F - 1 one-frame steps instead of F - 1 whole-clip passes); the target stays the true x_i, so
the model learns to pull its own drift back to the world, the exposure bias a teacher-forced model
plays with.
One noise level per clip, t ~ shift(U(0,1), s), or t = 1 for a share `adapt.t_one_fraction` of
the clips (the level one-step play starts from: there the loss is the regression of x0 itself);
the model predicts v = eps - x0 of its frame (the next frame after the recycled one) with an MSE,
each frame weighted by how much the world changes there (`adapt.motion_weight`, default 0: alike).
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor

from ..models.model import AaptModel
from .build import build_aapt
from .config import TrainConfig
from .loop import SingleLossStage, StepContext, adamw


def shift(t: Tensor, s: float) -> Tensor:
    """shift(t, s) = s t / (1 + (s - 1) t): s > 1 moves noise levels towards 1 (more noise)."""
    return s * t / (1 + (s - 1) * t)


def clip_controls(batch: dict, latents: Tensor, channels: int) -> Tensor:
    """(B, F, K, h, w): the batch's controls, or zeros for an unconditioned model."""
    controls = batch.get("controls")
    if controls is None:
        b, f, _, h, w = latents.shape
        return latents.new_zeros(b, f, channels, h, w)
    if controls.shape[2] != channels:
        raise ValueError(f"clips carry {controls.shape[2]} control channels, the model takes {channels} "
                         "(set model.control_channels)")
    return controls.to(latents)


def text_tokens(model: AaptModel, prompts: list[str], dropout: float = 0.0) -> Tensor:
    """(B, Lt, text_dim); each prompt is replaced by "" with probability `dropout` (for CFG)."""
    if dropout > 0:
        keep = (torch.rand(len(prompts)) >= dropout).tolist()
        prompts = [p if k else "" for p, k in zip(prompts, keep)]
    return model.text_encoder(prompts)


def noised(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t eps with t (B,) or (B, F) broadcast over (B, F, C, h, w)."""
    t = t.reshape(*t.shape, *[1] * (x0.dim() - t.dim()))
    return (1 - t) * x0 + t * eps


class AdaptStage(SingleLossStage):
    def __init__(self, cfg: TrainConfig, ctx: StepContext, model: AaptModel | None = None):
        self.cfg, self.ctx = cfg, ctx
        self.model = model if model is not None else build_aapt(cfg, ctx)
        self.model.vae.requires_grad_(False)          # stage 1 trains on stored latents
        gen, text = self.model.generator, self.model.text_encoder
        self.modules = {"generator": gen, "text_encoder": text}
        self.optimizers = {"adamw": adamw(itertools.chain(gen.parameters(), text.parameters()), cfg.optim)}

    step = 0                                           # the step being trained (train_step sets it)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        self.step = step
        return super().train_step(batch, step)

    def loss(self, batch: dict) -> Tensor:
        gen = self.model.generator
        x0 = batch["latents"].to(self.ctx.device, torch.float32)           # (B, F, C, h, w)
        controls = clip_controls(batch, x0, gen.cfg.control_channels)
        text = text_tokens(self.model, batch["prompts"], self.cfg.adapt.text_dropout)
        b = x0.shape[0]
        t = shift(torch.rand(b), self.cfg.adapt.shift)                     # (B,) one level per clip
        if self.cfg.adapt.t_one_fraction > 0:                               # (no extra draw otherwise)
            t = torch.where(torch.rand(b) < self.cfg.adapt.t_one_fraction, 1.0, t)
        t = t.to(x0)
        eps = torch.randn_like(x0)
        recycled = x0
        own = self.cfg.adapt.own_passes
        if own and own_predictions_at(self.step, self.cfg.adapt.own_fraction, self.cfg.loop.seed):
            noise = torch.randn_like(x0)
            if own < 0:
                recycled = free_rollout(gen, x0[:, 0], controls, text.detach(), noise)
            else:
                recycled = own_rollout(gen, x0, controls, text, noise, own)
        v = gen.forward_clip(gen.clip_inputs(noised(x0, eps, t), recycled, controls), t, text)
        err = (v[:, 1:].float() - (eps - x0)[:, 1:]).pow(2).mean(dim=(2, 3, 4))   # (B, F-1): frame 0 is given clean
        return (err * motion_weights(x0, self.cfg.adapt.motion_weight)).mean()


def motion_weights(x0: Tensor, weight: float) -> Tensor:
    """(B, F-1) loss weights of frames 1.. : 1 + weight * (the frame's mean squared change from the frame
    before, in the true latents) / (the batch's mean change), normalised to mean 1, so the loss keeps its
    scale and frames where the world moves most (a turn) count most. weight 0: all ones."""
    change = (x0[:, 1:] - x0[:, :-1]).float().pow(2).mean(dim=(2, 3, 4))      # (B, F-1)
    if weight == 0:
        return torch.ones_like(change)
    w = 1 + weight * change / change.mean().clamp_min(1e-12)
    return w / w.mean()


def own_predictions_at(step: int, fraction: float, seed: int) -> bool:
    """Whether `step` recycles the model's own predictions: a draw from the step and the run's seed
    alone, so every rank of a sharded run makes the same choice (with weights resharded after each
    forward, the extra passes gather them: ranks that disagreed would wait on each other) and a
    resumed run makes the same ones."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    return float(torch.rand((), generator=gen)) < fraction


@contextmanager
def stepping_eagerly(gen):
    """Inside: the generator runs eagerly on SDPA, also where a stage compiled its blocks (and attends with
    flex) for whole clips. Work through the KV cache changes shape at every cache position, which would
    recompile the blocks each time; `compiled_steps` lets `gen.step` run its own static graphs."""
    backend, gen.backend = gen.backend, "sdpa"
    try:
        with torch.compiler.set_stance("force_eager"):
            yield
    finally:
        gen.backend = backend


def compiled_steps(gen):
    """Inside `stepping_eagerly`: `gen.step` runs compiled where the stage compiled it (build.for_stage: one
    graph per ring phase and batch size, the blocks traced into it), else eagerly."""
    return torch.compiler.set_stance("default") if gen.step_compiled else nullcontext()


@torch.no_grad()
def free_rollout(gen, first: Tensor, controls: Tensor, text: Tensor, eps: Tensor) -> Tensor:
    """The generator's own rollout (B, F, C, h, w) from the real first frame (B, C, h, w), stepped
    frame by frame through its KV cache from `eps` (B, F, C, h, w) at t = 1 as play steps; no gradients;
    the steps compiled where the stage compiled them, the rest eager (`stepping_eagerly`)."""
    with stepping_eagerly(gen):
        gen.ensure_cache(eps.shape[0], tuple(first.shape[-2:]), text.shape[1])
        gen.start(first, text)
        with compiled_steps(gen):
            outs = [first] + [gen.step(controls[:, i], noise=eps[:, i]) for i in range(1, eps.shape[1])]
    return torch.stack(outs, dim=1)


@torch.no_grad()
def own_rollout(gen, x0: Tensor, controls: Tensor, text: Tensor, noise: Tensor, passes: int) -> Tensor:
    """(B, F, C, h, w): frame 0 of x0, then the generator's one-step predictions (from `noise` at
    t = 1, as play steps) of frames 1.., each recycling the previous pass's prediction of the frame
    before (the first pass: the truth). After `passes` passes frame i has recycled a
    min(i, passes)-step rollout; with F - 1 passes this is the free rollout itself."""
    ones = torch.ones(x0.shape[0], device=x0.device, dtype=x0.dtype)
    recycled = x0
    for _ in range(passes):
        v = gen.forward_clip(gen.clip_inputs(noise, recycled, controls), ones, text)
        recycled = torch.cat([x0[:, :1], (noise[:, 1:] - v[:, 1:]).to(x0.dtype)], dim=1)
    return recycled.detach()

