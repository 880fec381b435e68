"""Stage 0b, the bidirectional base video DiT (docs/train.md): it stands in for the pretrained video
model that AAPT starts from (and the TTT plugin too).

Flow matching on whole clips: x_t = (1 - t) x0 + t eps with one t per clip, t ~ shift(U(0,1), s),
v-prediction v = eps - x0 with an MSE over every frame. Attention is full inside the clip
(`Generator.forward_clip(..., causal=False)`): no causal mask, no recycled input, no controls.
Prompts are dropped to "" with probability `text_dropout`, so the base supports classifier-free
guidance (`sample_clips(..., guidance=...)`). Stage 1 starts from the exported base checkpoint.
"""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..models.model import AaptModel
from .adapt import noised, shift, text_tokens
from .build import build_aapt
from .config import TrainConfig
from .loop import SingleLossStage, StepContext, adamw


def base_loss(model: AaptModel, x0: Tensor, prompts: list[str], s: float, text_dropout: float) -> Tensor:
    """Flow-matching MSE of the bidirectional model on clean clips x0 (B, F, C, h, w)."""
    gen = model.generator
    t = shift(torch.rand(x0.shape[0]), s).to(x0)                     # (B,) one level per clip
    eps = torch.randn_like(x0)
    text = text_tokens(model, prompts, text_dropout)
    v = gen.forward_clip(gen.noise_inputs(noised(x0, eps, t)), t, text, causal=False)
    return (v.float() - (eps - x0)).pow(2).mean()


class BaseStage(SingleLossStage):
    def __init__(self, cfg: TrainConfig, ctx: StepContext, model: AaptModel | None = None):
        self.cfg, self.ctx = cfg, ctx
        self.model = model if model is not None else build_aapt(cfg, ctx)
        self.model.vae.requires_grad_(False)                         # trains on stored latents
        gen, text = self.model.generator, self.model.text_encoder
        self.modules = {"generator": gen, "text_encoder": text}
        self.optimizers = {"adamw": adamw(itertools.chain(gen.parameters(), text.parameters()), cfg.optim)}

    def loss(self, batch: dict) -> Tensor:
        x0 = batch["latents"].to(self.ctx.device, torch.float32)     # (B, F, C, h, w)
        return base_loss(self.model, x0, batch["prompts"], self.cfg.base.shift, self.cfg.base.text_dropout)


@torch.no_grad()
def sample_clips(model: AaptModel, prompts: list[str], frames: int, latent_hw: tuple[int, int],
                 steps: int = 32, s: float = 5.5, guidance: float = 1.0, seed: int = 0) -> Tensor:
    """Euler sampling of the base from t = 1 to 0 on the shifted grid; guidance > 1 mixes in the
    unconditional velocity (CFG): v = v_u + g (v_c - v_u). Returns latents (B, F, C, h, w)."""
    gen = model.generator
    dev = gen.patch_embed.weight.device
    shape = (len(prompts), frames, gen.cfg.latent_channels, *latent_hw)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dev)
    cond = model.text_encoder(prompts)
    uncond = model.text_encoder([""] * len(prompts)) if guidance != 1.0 else None
    grid = shift(torch.linspace(1.0, 0.0, steps + 1), s).tolist()
    for t_now, t_next in zip(grid[:-1], grid[1:]):
        t = torch.full((len(prompts),), t_now, device=dev)
        v = gen.forward_clip(gen.noise_inputs(x), t, cond, causal=False).float()
        if uncond is not None:
            v_u = gen.forward_clip(gen.noise_inputs(x), t, uncond, causal=False).float()
            v = v_u + guidance * (v - v_u)
        x = x + (t_next - t_now) * v
    return x
