"""Stage 0, the causal 3D VAE (docs/model.md): reconstruction (L1 + L2) + a small KL to N(0, I).

Trains the encoder and the full decoder on RGB clips (bank key `video`, uint8 (B, 3, 1+4k, H, W)),
and at the same time distils the lightweight decoder (the one real-time play uses) from the full
one: it decodes the same (detached) latents and matches the full decoder's (detached) output with
L1 + L2, weighted by `vae.light_weight`. The latent statistics are measured afterwards on a bank
(`worldsim train encode --measure-stats`).
"""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..models.model import AaptModel
from .build import build_aapt
from .config import TrainConfig
from .distributed import shard_vae
from .loop import StepContext, adamw, optimize


def vae_loss(model: AaptModel, video: Tensor, kl_weight: float, l1: float, l2: float,
             light_weight: float = 0.0) -> tuple[Tensor, dict]:
    """video in [-1, 1] (B, 3, 1+4k, H, W) -> (loss, parts)."""
    mean, logvar = model.vae.encoder(video).chunk(2, dim=1)     # (B, C, 1+k, h, w) each
    logvar = logvar.clamp(-30, 20)
    z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
    recon = model.vae.decoder(z).float()
    rec_l1, rec_l2 = (recon - video).abs().mean(), (recon - video).pow(2).mean()
    kl = 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).mean()
    loss = l1 * rec_l1 + l2 * rec_l2 + kl_weight * kl
    parts = {"l1": rec_l1.item(), "l2": rec_l2.item(), "kl": kl.item()}
    if light_weight > 0:                                        # distil the light decoder from the full one
        target = recon.detach()
        light = model.vae.light_decoder(z.detach()).float()
        light_loss = (light - target).abs().mean() + (light - target).pow(2).mean()
        loss = loss + light_weight * light_loss
        parts["light_loss"] = light_loss.item()
    return loss, parts


class VAEStage:
    def __init__(self, cfg: TrainConfig, ctx: StepContext, model: AaptModel | None = None):
        self.cfg, self.ctx = cfg, ctx
        self.model = model if model is not None else build_aapt(cfg, ctx)
        vae = self.model.vae
        if ctx.sharded:
            shard_vae(vae)                      # under torchrun: before the optimiser sees the parameters
        self.modules = {"vae": vae}
        self.optimizers = {"adamw": adamw(itertools.chain(vae.encoder.parameters(), vae.decoder.parameters(),
                                                          vae.light_decoder.parameters()), cfg.optim)}

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        vc = self.cfg.vae
        video = batch["video"].to(self.ctx.device).float() / 127.5 - 1.0
        with self.ctx.autocast():
            loss, parts = vae_loss(self.model, video, vc.kl_weight, vc.l1_weight, vc.l2_weight, vc.light_weight)
        optimize(loss, self.optimizers["adamw"], step, self.cfg.optim)
        return {"loss": loss.item(), **parts}
