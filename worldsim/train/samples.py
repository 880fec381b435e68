"""Sample strips: what a trained model makes from validation clips, beside the real clips.

    worldsim train samples --model runs/adversarial/model --bank data/val.safetensors --out strip.png

For each of a few validation clips: the real video (top row) and the model's (bottom row). A
causal model (stages adapt..adversarial) starts from the clip's real first latent and rolls out
one step per latent frame with the KV cache, driven by the clip's controls; the bidirectional
base (`--base`) samples the whole clip from noise with `base.sample_clips`. Latents are decoded
with the model's own VAE (full decoder, or the light one where the model has none). Every
`--every`-th video frame goes into the strip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import WorldsimUserError
from ..models.model import AaptModel
from .adapt import free_rollout
from .data import ClipBank


@torch.no_grad()
def rollout(model: AaptModel, latents: Tensor, controls: Tensor | None, prompts: list[str], seed: int = 0) -> Tensor:
    """One-step generation of every frame after the real first one: (B, F, C, h, w) -> same shape."""
    gen = model.generator
    b, f, _, h, w = latents.shape
    if controls is None:
        controls = latents.new_zeros(b, f, gen.cfg.control_channels, h, w)
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(seed)).to(latents)
    return free_rollout(gen, latents[:, 0], controls, model.text_encoder(prompts), noise)


@torch.no_grad()
def decode(model: AaptModel, latents: Tensor) -> np.ndarray:
    """(B, F, C, h, w) normalised latents -> uint8 video (B, 1+4(F-1), H, W, 3); the light decoder
    (play's) where the model has no full one (continued from a shipped checkpoint)."""
    light = "vae.decoder." in model.omitted
    video = model.vae.decode(latents.permute(0, 2, 1, 3, 4), light=light)                 # (B, 3, T, H, W) in [-1, 1]
    return ((video.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).cpu().numpy()


def strip(real: np.ndarray, fake: np.ndarray, every: int = 4) -> np.ndarray:
    """Rows of frames: for each clip its real row, then its generated row. (B, T, H, W, 3) each."""
    rows = []
    for r, f in zip(real, fake):
        rows += [np.concatenate(list(r[::every]), axis=1), np.concatenate(list(f[::every]), axis=1)]
    return np.concatenate(rows, axis=0)


def side_by_side(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """Video frames with every clip in a column, real on top and generated below: (T, 2H, B*W, 3)."""
    return np.concatenate([np.concatenate(list(real), axis=2), np.concatenate(list(fake), axis=2)], axis=1)


def write_mp4(path: str | Path, frames: np.ndarray, fps: float = 16.0) -> bool:
    """frames (T, H, W, 3) uint8 to an mp4; False where PyAV is not installed (strips only)."""
    try:
        from ..render.video import VideoWriter
    except ImportError:
        return False
    with VideoWriter(path, fps, frames.shape[2], frames.shape[1]) as writer:
        writer.write(frames)
    return True


def write_png(path: str | Path, image: np.ndarray) -> None:
    try:
        from PIL import Image
    except ImportError:
        raise WorldsimUserError("sample strips need pillow: pip install 'worldsim[train]' (or set "
                                "loop.sample_every = 0)") from None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def sample_strip(model: AaptModel, bank: ClipBank, out: str | Path, clips: int = 4, every: int = 4,
                 base: bool = False, seed: int = 0, write: bool = True) -> Path:
    """`write=False`: compute only (the other ranks of a sharded model, which must take part)."""
    bank.require("latents")
    n = min(clips, len(bank))
    dev = model.generator.patch_embed.weight.device
    latents = bank.tensors["latents"][:n].to(dev, torch.float32)
    controls = bank.tensors.get("controls")
    controls = controls[:n].to(dev) if controls is not None and model.cfg.generator.control_channels else None
    prompts = bank.prompts[:n]
    if base:
        from .base import sample_clips
        fake = sample_clips(model, prompts, latents.shape[1], tuple(latents.shape[-2:]), seed=seed)
    else:
        fake = rollout(model, latents, controls, prompts, seed)
    fake_video = decode(model, fake)
    real_video = bank.tensors["video"][:n].permute(0, 2, 3, 4, 1).numpy() if "video" in bank.tensors else None
    if real_video is None or real_video.shape[1:] != fake_video.shape[1:]:
        real_video = decode(model, latents)                              # the VAE's reconstruction
    if write:
        write_png(out, strip(real_video, fake_video, every))
        write_mp4(Path(out).with_suffix(".mp4"), side_by_side(real_video, fake_video))
    return Path(out)


class PeriodicSamples:
    """Every `loop.sample_every` steps: strips of the training model on the validation bank
    (`data.val_path`) to out_dir/samples/step_N.png and the whole clips, real above generated, to
    step_N.mp4 (when PyAV is installed), and, for stages with a `loss(batch)`, the
    loss on the first validation clips at a fixed seed (`val_loss`). Both run inside a forked RNG,
    so the training RNG (and exact resume) is untouched."""

    def __init__(self, bank: ClipBank, out_dir: str | Path, base: bool, val_clips: int = 8):
        bank.require("latents", path="data.val_path")
        self.bank, self.out, self.base = bank, Path(out_dir) / "samples", base
        n = min(val_clips, len(bank))
        self.batch = {**{k: v[:n] for k, v in bank.tensors.items()}, "prompts": bank.prompts[:n]}

    def __call__(self, stage, step: int, write: bool) -> dict[str, float]:
        model, metrics = stage.model, {}
        was_training = model.training
        model.eval()
        devices = [stage.ctx.device] if stage.ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(0)
            if hasattr(stage, "loss"):
                with stage.ctx.autocast():
                    metrics["val_loss"] = float(stage.loss(self.batch))
            sample_strip(model, self.bank, self.out / f"step_{step:08d}.png", base=self.base, write=write)
        model.train(was_training)
        return metrics
