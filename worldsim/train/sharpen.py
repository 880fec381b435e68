"""Sharpening the play decoder (`vae.train = "light"`): the light decoder fine-tuned on a trained VAE's frozen
latents, so a shipped generator keeps working with it unchanged.

A decoder trained with L1 + L2 alone returns the mean of what a latent could have held, which is a blur (the
shipped VAE's light decoder keeps 0.15 / 0.28 / 0.58 of the world's detail at 1 / 2 / 4 px, docs/QUALITY.md).
Two terms push it back toward the world's detail:
  detail   per frame, how much gradient the decoded frame has against the real one (the RMS of x and y
           differences of every colour channel) after 1x1, 2x2 and 4x4 mean pooling: the quantity `worldsim eval`
           reports as detail (a per-pixel loss on gradients would again be lowest for a blur);
  patch D  a small per-frame convolutional discriminator (70-px-like patches at 128 px: 3 stride-2 convs), hinge
           loss; the decoder's term starts after `vae.adv_start` steps of D alone, so it starts from a D that
           already tells the two apart.
The latents are the encoder's means (what the bank holds and the generator was trained toward), under no_grad.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

DETAIL_SCALES = (1, 2, 4)


def frames_2d(video: Tensor) -> Tensor:
    """(B, 3, T, H, W) -> (B*T, 3, H, W)."""
    B, C, T, H, W = video.shape
    return video.transpose(1, 2).reshape(B * T, C, H, W)


def gradient_rms(frames: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N,) root-mean-square of the x and y differences over pixels and channels."""
    return (frames.diff(dim=-1).pow(2).mean((1, 2, 3)) + frames.diff(dim=-2).pow(2).mean((1, 2, 3)) + 1e-12).sqrt()


def detail_loss(recon: Tensor, video: Tensor) -> Tensor:
    """Per frame and pooling in DETAIL_SCALES, |gradient RMS of recon - that of video| (B, 3, T, H, W), averaged.
    A per-pixel loss on gradients is lowest for a blur wherever an edge's place is uncertain; matching how much
    gradient a frame has is not, so this term asks for the world's amount of detail and leaves where it goes to
    the pixel terms and the discriminator."""
    a, b = frames_2d(recon), frames_2d(video)
    total = recon.new_zeros(())
    for s in DETAIL_SCALES:
        pa, pb = (F.avg_pool2d(a, s), F.avg_pool2d(b, s)) if s > 1 else (a, b)
        total = total + (gradient_rms(pa) - gradient_rms(pb)).abs().mean()
    return total / len(DETAIL_SCALES)


class PatchDiscriminator(nn.Module):
    """Per-frame patch logits: (N, 3, H, W) in [-1, 1] -> (N, 1, H/8, W/8)."""

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256)):
        super().__init__()
        layers, c_in = [], 3
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1)]
            if i:
                layers += [nn.GroupNorm(8, c)]
            layers += [nn.LeakyReLU(0.2)]
            c_in = c
        layers += [nn.Conv2d(c_in, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def d_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_hinge(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def real_first(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Share of frames whose mean patch logit ranks the real frame above its decoded one (0.5: chance)."""
    return (real_logits.flatten(1).mean(1) > fake_logits.flatten(1).mean(1)).float().mean()
