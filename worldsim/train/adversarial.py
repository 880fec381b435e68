"""Stage 3, adversarial post-training with student forcing (docs/train.md).

Generator G from stage 2. Discriminator D: the same causal backbone, initialised from stage 1,
with a per-frame logit head on its last hidden states; D sees frames in the noise slot at
t ~ U(0,1) (real and fake share t and the noise). Relativistic pairing: D minimises
softplus(D(fake) - D(real)), G minimises softplus(D(real) - D(fake)); approximate R1/R2
lambda |D(x) - D(x + sigma n)|^2 on reals and on fakes. RMSprop (alpha 0.9) for both.
`regression_weight` adds lambda * MSE(G's frames, the true ones) to G's loss (logged as g_regression
either way): an anchor on the world's content (without it, 2026-11-30's lease saw G trade the
scene for the training set's usual one within 200 steps, docs/TRAINING.md).

Student forcing: G rolls out from the real first frame with its KV cache, recycling its own
(detached) outputs. The rollout runs under no_grad through `step` (D's fake); then, for G's update,
one whole-clip forward with those recycled latents recomputes the same frames with gradients (the models' tests hold
cache rollout == whole-clip forward), so gradients reach every earlier frame's keys and values,
frame 0's included, exactly as they would through a differentiable cache.
Long-video training (`long_frames` > 0): G rolls out a long video in overlapping segments with
the cache detached between them; D judges every segment against the real clips and both losses
accumulate gradients per segment before one optimiser step each (long_video.py). On a long bank
(clips >= long_frames) the rollout follows the clip's own controls, D's real clip is the true
segment at the same positions and the regression anchor applies to every segment.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.generator import Generator
from ..models.model import AaptModel
from .adapt import clip_controls, free_rollout, noised, text_tokens
from .build import build_aapt, for_stage, load_aapt
from .config import AdversarialSection, TrainConfig
from .distributed import shard_discriminator
from .long_video import LongPlan, LongRollout
from .loop import StepContext, apply_gradients, optimize


class Discriminator(nn.Module):
    """A causal backbone + text encoder + per-frame logit head on the final hidden states."""

    def __init__(self, model: AaptModel):
        super().__init__()
        self.backbone: Generator = model.generator
        self.text_encoder = model.text_encoder
        self.head = nn.Linear(self.backbone.cfg.dim, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, clip: Tensor, controls: Tensor, text: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """Per-frame logits (B, F-1) of frames 1.. of `clip` (B, F, C, h, w) noised to t (B,)."""
        inputs = self.backbone.clip_inputs(noised(clip, eps, t), clip, controls)
        hidden = self.backbone.forward_clip(inputs, t, text, features=True)     # (B, F, T, d)
        return self.head(hidden[:, 1:]).mean(dim=(2, 3)).float()   # frame 0 is the given real frame


def student_rollout(gen: Generator, first: Tensor, controls: Tensor, text: Tensor, eps: Tensor) -> Tensor:
    """Student-forced clip (B, F, C, h, w) from the real first frame (B, C, h, w), with gradients.

    controls (B, F, K, h, w), text (B, Lt, text_dim), eps (B, F, C, h, w): the noise of each step."""
    return student_recompute(gen, free_rollout(gen, first, controls, text, eps), controls, text, eps)


def student_recompute(gen: Generator, video: Tensor, controls: Tensor, text: Tensor, eps: Tensor) -> Tensor:
    """`video`'s frames 1.. again in one whole-clip forward recycling its (detached) frames: the same
    values, now with gradients into every frame's keys and values."""
    recycled = video.detach()                                   # the recycled inputs carry no gradient
    t = torch.ones(video.shape[0], device=eps.device)
    v = gen.forward_clip(gen.clip_inputs(eps, recycled, controls), t, text)
    return torch.cat([recycled[:, :1], (eps - v)[:, 1:].to(recycled.dtype)], dim=1)


def teacher_forced_fake(gen: Generator, real: Tensor, controls: Tensor, text: Tensor, eps: Tensor) -> Tensor:
    """The ablation: every frame recycles the real previous frame."""
    v = gen.forward_clip(gen.clip_inputs(eps, real, controls), torch.ones(real.shape[0], device=real.device), text)
    return torch.cat([real[:, :1], (eps - v)[:, 1:].to(real.dtype)], dim=1)


def discriminator_loss(d: Discriminator, real: Tensor, fake: Tensor, controls: Tensor, text: Tensor,
                       ac: AdversarialSection, fake_controls: Tensor | None = None,
                       stats: dict[str, Tensor] | None = None) -> Tensor:
    """`fake_controls`: the fake's own controls where they differ from the real clip's (long video).
    `stats`, if given, receives (detached) what d_loss alone hides: `d_real_first`, the share of frames D
    scores real above fake (0.5: chance), `d_gap`, the mean logit gap, and `d_penalty`, the R1/R2 term."""
    fake_controls = controls if fake_controls is None else fake_controls
    t = torch.rand(real.shape[0]).to(real)
    eps = torch.randn_like(real)
    d_real, d_fake = d(real, controls, text, t, eps), d(fake, fake_controls, text, t, eps)
    loss = F.softplus(d_fake - d_real).mean()
    penalty = loss.new_zeros(())
    if ac.r_lambda > 0:                                          # approximate R1 (reals) and R2 (fakes)
        for x, dx, ctrl in ((real, d_real, controls), (fake, d_fake, fake_controls)):
            shaken = x + ac.r_sigma * torch.randn_like(x)
            penalty = penalty + ac.r_lambda * (dx - d(shaken, ctrl, text, t, eps)).pow(2).mean()
    if stats is not None:
        gap = (d_real - d_fake).detach()
        stats.update(d_real_first=(gap > 0).float().mean(), d_gap=gap.mean(), d_penalty=penalty.detach())
    return loss + penalty


class AdversarialStage:
    def __init__(self, cfg: TrainConfig, ctx: StepContext, generator: AaptModel | None = None,
                 discriminator_init: AaptModel | None = None):
        self.cfg, self.ctx, ac = cfg, ctx, cfg.adversarial
        self.model = generator if generator is not None else build_aapt(cfg, ctx)
        if discriminator_init is None:
            init = ac.discriminator or cfg.model.init
            discriminator_init = for_stage(load_aapt(init, ctx), cfg) if init else build_aapt(cfg, ctx, init="")
        self.discriminator = Discriminator(discriminator_init).to(ctx.device).train()
        if ctx.sharded:
            shard_discriminator(self.discriminator)             # before its optimiser sees the parameters
        self.model.vae.requires_grad_(False)
        gen = self.model.generator
        self.modules = {"generator": gen, "text_encoder": self.model.text_encoder,
                        "discriminator": self.discriminator}
        g_params = itertools.chain(gen.parameters(), self.model.text_encoder.parameters())
        self.optimizers = {
            "g": torch.optim.RMSprop(list(g_params), lr=ac.g_lr, alpha=ac.rmsprop_alpha),
            "d": torch.optim.RMSprop(self.discriminator.parameters(), lr=ac.d_lr, alpha=ac.rmsprop_alpha)}

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One D update, then one G update on the same fake: with student forcing the D step's fake is
        the free rollout itself and the G step recomputes it with gradients (G has not changed in
        between), so each step rolls out once."""
        ac, d, gen = self.cfg.adversarial, self.discriminator, self.model.generator
        real = batch["latents"].to(self.ctx.device, torch.float32)        # (B, F, C, h, w)
        controls = clip_controls(batch, real, gen.cfg.control_channels)
        if ac.long_frames:
            return self.long_video_step(real, controls, batch["prompts"], step)
        eps = torch.randn_like(real)
        with self.ctx.autocast():                                       # discriminator step
            with torch.no_grad():
                text = text_tokens(self.model, batch["prompts"])
                if ac.student_forcing:
                    fake = free_rollout(gen, real[:, 0], controls, text, eps)
                else:
                    fake = teacher_forced_fake(gen, real, controls, text, eps)
            d_text = d.text_encoder(batch["prompts"])
            d_stats: dict[str, Tensor] = {}
            d_loss = discriminator_loss(d, real, fake, controls, d_text, ac, stats=d_stats)
        optimize(d_loss, self.optimizers["d"], step, self.cfg.optim)
        d.requires_grad_(False)                                         # generator step
        try:
            with self.ctx.autocast():
                text = text_tokens(self.model, batch["prompts"])
                if ac.student_forcing:
                    fake = student_recompute(gen, fake, controls, text, eps)
                else:
                    fake = teacher_forced_fake(gen, real, controls, text, eps)
                t = torch.rand(real.shape[0]).to(real)
                noise = torch.randn_like(real)
                d_text = d.text_encoder(batch["prompts"])
                g_adv = F.softplus(d(real, controls, d_text, t, noise) - d(fake, controls, d_text, t, noise)).mean()
                g_reg = (fake[:, 1:].float() - real[:, 1:]).pow(2).mean()
            optimize(g_adv + ac.regression_weight * g_reg, self.optimizers["g"], step, self.cfg.optim)
        finally:
            d.requires_grad_(True)
        return {"d_loss": d_loss.item(), **{k: v.item() for k, v in d_stats.items()}, "g_loss": g_adv.item(),
                "g_regression": g_reg.item()}

    def long_video_step(self, real: Tensor, controls: Tensor, prompts: list[str], step: int) -> dict[str, float]:
        """One D and one G update on a long student-forced rollout, accumulated per segment. With a long
        bank (LongPlan.truth) each segment is judged against, and regressed onto, the true frames at
        its own positions; otherwise against the batch's clips (no truth past them)."""
        ac, d, gen = self.cfg.adversarial, self.discriminator, self.model.generator
        plan = LongPlan.of(ac, real.shape[1], "the batch")
        b = real.shape[0]
        controls = plan.controls(controls)
        eps = torch.randn(b, plan.frames, *real.shape[2:], device=real.device)
        with self.ctx.autocast():
            video = LongRollout.run(gen, real[:, 0], controls, text_tokens(self.model, prompts).detach(), eps,
                                    plan.segment, ac.segment_overlap)

        def real_clip(seg) -> tuple[Tensor, Tensor]:      # D's real clip and its controls for a segment
            if plan.truth:
                return real[:, seg.context:seg.end], controls[:, seg.context:seg.end]
            return real[:, :plan.segment], controls[:, :plan.segment]
        n = len(video.segments)
        self.optimizers["d"].zero_grad(set_to_none=True)
        d_total, d_stats = 0.0, {}
        for seg in video.segments:                                      # D: each segment vs real clips
            true, true_controls = real_clip(seg)
            seg_stats: dict[str, Tensor] = {}
            with self.ctx.autocast():
                fake = video.frames[:, seg.context:seg.end]
                loss = discriminator_loss(d, true, fake, true_controls, d.text_encoder(prompts), ac,
                                          video.clip_controls(seg), stats=seg_stats) / n
            loss.backward()
            d_total += loss.item()
            for k, v in seg_stats.items():                              # the segments' mean
                d_stats[k] = d_stats.get(k, 0.0) + v.item() / n
        apply_gradients(self.optimizers["d"], step, self.cfg.optim)
        d.requires_grad_(False)
        self.optimizers["g"].zero_grad(set_to_none=True)
        g_total, reg_total, generated = 0.0, 0.0, plan.frames - 1
        try:
            for seg in video.segments:                                  # G: gradients stop at the segment
                with self.ctx.autocast():
                    fake = video.fake(gen, seg, text_tokens(self.model, prompts))
                    true, true_controls = real_clip(seg)
                    t = torch.rand(b).to(real)
                    noise = torch.randn_like(true)
                    d_text = d.text_encoder(prompts)
                    loss = F.softplus(d(true, true_controls, d_text, t, noise)
                                      - d(fake, video.clip_controls(seg), d_text, t, noise)).mean() / n
                    g_total += loss.item()
                    if plan.truth:                      # the segment's new frames onto the truth: MSE over 1..L-1
                        new = seg.end - seg.start
                        reg = (fake[:, -new:].float() - true[:, -new:]).pow(2).mean() * (new / generated)
                        reg_total += reg.item()
                        loss = loss + ac.regression_weight * reg
                loss.backward()
            apply_gradients(self.optimizers["g"], step, self.cfg.optim)
        finally:
            d.requires_grad_(True)
        out = {"d_loss": d_total, **d_stats, "g_loss": g_total, "segments": float(n)}
        if plan.truth:
            out["g_regression"] = reg_total
        return out
