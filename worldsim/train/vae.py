"""Stage 0, the causal 3D VAE (docs/model.md): reconstruction (L1 + L2) + a small KL to N(0, I).

Trains the encoder and the full decoder on RGB clips (bank key `video`, uint8 (B, 3, 1+4k, H, W)),
and at the same time the lightweight decoder (the one real-time play uses): it decodes the same
(detached) latents and matches the real frames (`vae.light_target = "video"`) or the full
decoder's detached output ("decoder", a distillation) with L1 + L2, weighted by `vae.light_weight`.
`vae.motion_weight` adds an L1 between frame-to-frame differences of the reconstruction and the
real clip, for both decoders: a latent frame holds 4 video frames, and without it the decoders
learn to emit them nearly still (a 90°/s turn moved 0 px inside a latent frame instead of 7); with
it they follow only in part, and `VAEConfig.time_up_kernel = 3` helps the full decoder further
(docs/TRAINING.md, the CPU study of 2026-11-30).
The latent statistics are measured afterwards on a bank (`worldsim train encode --measure-stats`).
"""
from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..models.model import AaptModel
from .build import build_aapt
from .config import ConfigError, TrainConfig
from .distributed import shard_vae
from .loop import StepContext, adamw, optimize
from .sharpen import PatchDiscriminator, d_hinge, detail_loss, frames_2d, g_hinge, real_first


def motion_l1(recon: Tensor, video: Tensor) -> Tensor:
    """L1 between the frame-to-frame differences of recon and video (B, 3, T, H, W)."""
    return (recon.diff(dim=2) - video.diff(dim=2)).abs().mean()


def vae_loss(model: AaptModel, video: Tensor, kl_weight: float, l1: float, l2: float,
             light_weight: float = 0.0, light_target: str = "decoder",
             motion_weight: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
    """video in [-1, 1] (B, 3, 1+4k, H, W) -> (loss, parts); parts stay on the device (no sync)."""
    mean, logvar = model.vae.encoder(video).chunk(2, dim=1)     # (B, C, 1+k, h, w) each
    logvar = logvar.clamp(-30, 20)
    z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
    recon = model.vae.decoder(z).float()
    rec_l1, rec_l2 = (recon - video).abs().mean(), (recon - video).pow(2).mean()
    kl = 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).mean()
    loss = l1 * rec_l1 + l2 * rec_l2 + kl_weight * kl
    parts = {"l1": rec_l1, "l2": rec_l2, "kl": kl}
    if motion_weight > 0:
        parts["motion"] = motion_l1(recon, video)
        loss = loss + motion_weight * parts["motion"]
    if light_weight > 0:               # the light (play) decoder on the same, detached latents
        target = video if light_target == "video" else recon.detach()
        light = model.vae.light_decoder(z.detach()).float()
        light_loss = (light - target).abs().mean() + (light - target).pow(2).mean()
        if motion_weight > 0:
            light_loss = light_loss + motion_weight * motion_l1(light, target)
        loss = loss + light_weight * light_loss
        parts["light_loss"] = light_loss
        parts["light_l2"] = (light.detach() - video).pow(2).mean()
    return loss, parts


class VAEStage:
    def __init__(self, cfg: TrainConfig, ctx: StepContext, model: AaptModel | None = None):
        self.cfg, self.ctx = cfg, ctx
        self.model = model if model is not None else build_aapt(cfg, ctx)
        vae = self.model.vae
        if ctx.sharded:
            shard_vae(vae)                      # under torchrun: before the optimiser sees the parameters
        self.modules = {"vae": vae}
        self.light = cfg.vae.train == "light"
        if self.light:                          # sharpen.py: only the play decoder learns, on frozen latents
            for m in (vae.encoder, vae.decoder):
                m.requires_grad_(False)
            trained = vae.light_decoder.parameters()
        else:
            trained = itertools.chain(vae.encoder.parameters(), vae.decoder.parameters(), vae.light_decoder.parameters())
        self.optimizers = {"adamw": adamw(trained, cfg.optim)}
        if self.light and cfg.vae.adv_weight > 0:
            if ctx.sharded:                     # its D is a plain module: each process would train its own
                raise ConfigError("vae.adv_weight > 0 (the sharpening discriminator) runs in one process, not under torchrun")
            self.disc = PatchDiscriminator().to(ctx.device)
            self.modules["disc"] = self.disc
            self.optimizers["disc"] = torch.optim.AdamW(self.disc.parameters(), lr=cfg.vae.d_lr, betas=(0.5, 0.9))

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        vc = self.cfg.vae
        video = batch["video"].to(self.ctx.device).float() / 127.5 - 1.0
        if self.light:
            return self.sharpen_step(video, step)
        with self.ctx.autocast():
            loss, parts = vae_loss(self.model, video, vc.kl_weight, vc.l1_weight, vc.l2_weight, vc.light_weight,
                                   vc.light_target, vc.motion_weight)
        optimize(loss, self.optimizers["adamw"], step, self.cfg.optim)
        values = torch.stack([loss.detach(), *(v.detach().float() for v in parts.values())]).tolist()   # one sync
        return dict(zip(["loss", *parts], values))

    def sharpen_step(self, video: Tensor, step: int) -> dict[str, float]:
        """vae.train = light: L1 + L2 + motion + detail (+ the patch discriminator's term after adv_start)."""
        vc, vae = self.cfg.vae, self.model.vae
        with torch.no_grad(), self.ctx.autocast():
            z = vae.encoder(video).chunk(2, dim=1)[0]
        with self.ctx.autocast():
            light = vae.light_decoder(z).float()
        parts = {"l1": (light - video).abs().mean(), "l2": (light - video).pow(2).mean()}
        loss = vc.l1_weight * parts["l1"] + vc.l2_weight * parts["l2"]
        if vc.motion_weight > 0:
            parts["motion"] = motion_l1(light, video)
            loss = loss + vc.motion_weight * parts["motion"]
        if vc.detail_weight > 0:
            parts["detail"] = detail_loss(light, video)
            loss = loss + vc.detail_weight * parts["detail"]
        if vc.adv_weight > 0:
            real, fake = frames_2d(video), frames_2d(light)
            with self.ctx.autocast():                       # D's step on the decoder's frames as they are
                real_logits, fake_logits = self.disc(real), self.disc(fake.detach())
            d_loss = d_hinge(real_logits.float(), fake_logits.float())
            optimize(d_loss, self.optimizers["disc"], step, self.cfg.optim)
            parts["d_loss"], parts["d_real_first"] = d_loss, real_first(real_logits, fake_logits)
            if step >= vc.adv_start:                        # then the decoder's term, through the updated D
                self.disc.requires_grad_(False)
                with self.ctx.autocast():
                    parts["g_adv"] = g_hinge(self.disc(fake).float())
                self.disc.requires_grad_(True)
                loss = loss + vc.adv_weight * parts["g_adv"]
        optimize(loss, self.optimizers["adamw"], step, self.cfg.optim)
        values = torch.stack([loss.detach(), *(v.detach().float() for v in parts.values())]).tolist()   # one sync
        return dict(zip(["loss", *parts], values))
