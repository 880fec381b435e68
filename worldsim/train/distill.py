"""Stage 2, consistency distillation to one step (docs/train.md).

Grid t_k = shift(k / K, s), k = 1..K, one k per clip. The frozen stage-1 teacher (no CFG) takes
one Euler step x̂_{t_{k-1}} = x_{t_k} + (t_{k-1} - t_k) v_teacher(x_{t_k}); the student matches
its own prediction from there: | f(x_{t_k}, t_k) - stopgrad f(x̂_{t_{k-1}}, t_{k-1}) |^2 with
f(x, t) = x - t v(x, t), so f(x, 0) = x. No EMA target; teacher forcing (recycled clean frames).
"""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..models.model import AaptModel
from .adapt import clip_controls, noised, shift, text_tokens
from .build import build_aapt, load_aapt
from .config import ConfigError, TrainConfig
from .loop import SingleLossStage, StepContext, adamw


def consistency_fn(gen, x: Tensor, clean: Tensor, controls: Tensor, t: Tensor, text: Tensor) -> Tensor:
    """f(x, t) = x - t v(x, t) for every frame of a teacher-forced clip; x, clean (B, F, C, h, w), t (B,)."""
    v = gen.forward_clip(gen.clip_inputs(x, clean, controls), t, text)
    return x - t[:, None, None, None, None] * v.float()


class DistillStage(SingleLossStage):
    def __init__(self, cfg: TrainConfig, ctx: StepContext, model: AaptModel | None = None,
                 teacher: AaptModel | None = None):
        self.cfg, self.ctx = cfg, ctx
        self.model = model if model is not None else build_aapt(cfg, ctx)
        if teacher is None:
            path = cfg.distill.teacher or cfg.model.init
            if not path:
                raise ConfigError("distill needs the stage-1 model as teacher: set distill.teacher or model.init")
            teacher = load_aapt(path, ctx)
        self.teacher = teacher.eval().requires_grad_(False)
        self.model.vae.requires_grad_(False)
        gen, text = self.model.generator, self.model.text_encoder
        self.modules = {"generator": gen, "text_encoder": text}
        self.optimizers = {"adamw": adamw(itertools.chain(gen.parameters(), text.parameters()), cfg.optim)}

    def loss(self, batch: dict) -> Tensor:
        gen, dc = self.model.generator, self.cfg.distill
        x0 = batch["latents"].to(self.ctx.device, torch.float32)             # (B, F, C, h, w)
        controls = clip_controls(batch, x0, gen.cfg.control_channels)
        b = x0.shape[0]
        k = torch.randint(1, dc.grid + 1, (b,)).float()
        t_k = shift(k / dc.grid, dc.shift).to(x0)                           # (B,)
        t_prev = shift((k - 1) / dc.grid, dc.shift).to(x0)
        eps = torch.randn_like(x0)
        x_k = noised(x0, eps, t_k)
        text = text_tokens(self.model, batch["prompts"])
        with torch.no_grad():
            t_text = self.teacher.text_encoder(batch["prompts"])
            v_t = self.teacher.generator.forward_clip(gen.clip_inputs(x_k, x0, controls), t_k, t_text)
            x_prev = x_k + (t_prev - t_k)[:, None, None, None, None] * v_t.float()
            target = consistency_fn(gen, x_prev, x0, controls, t_prev, text)
        pred = consistency_fn(gen, x_k, x0, controls, t_k, text)
        return (pred[:, 1:] - target[:, 1:]).pow(2).mean()


@torch.no_grad()
def one_step_frames(model: AaptModel, latents: Tensor, prompts: list[str], seed: int = 0) -> Tensor:
    """The one-step prediction x̂0 = eps - v(eps, t=1) of every frame of held-out clips, teacher
    forced (each frame recycles the true previous frame). latents (B, F, C, h, w) -> same shape;
    frame 0 is the given first frame."""
    gen = model.generator
    eps = torch.randn(latents.shape, generator=torch.Generator().manual_seed(seed)).to(latents)
    controls = clip_controls({}, latents, gen.cfg.control_channels)
    t = torch.ones(latents.shape[0], device=latents.device)
    v = gen.forward_clip(gen.clip_inputs(eps, latents, controls), t, model.text_encoder(prompts))
    return torch.cat([latents[:, :1], (eps - v)[:, 1:].to(latents.dtype)], dim=1)


def one_step_error(model: AaptModel, latents: Tensor, prompts: list[str], seed: int = 0) -> float:
    """MSE of the one-step prediction against held-out clips. Where the next frame is uncertain
    the MSE favours the blurry conditional mean (what an undistilled model gives at one step), so
    it measures what stage 1 learned, not sample quality; for that compare samples with the
    frames the data could have produced (tests/train/test_distill.py)."""
    return float((one_step_frames(model, latents, prompts, seed) - latents)[:, 1:].pow(2).mean())
