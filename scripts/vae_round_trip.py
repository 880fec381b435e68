"""A checkpoint's VAE round trip per video frame: is the first frame worse than the rest?

    worldsim train bank --world-seeds 1000-1007 --clips-per-seed 1 --frames 17 --out /tmp/val17.safetensors
    PYTHONPATH=. python scripts/vae_round_trip.py worldsim/assets/default /tmp/val17.safetensors

Encodes each clip of the bank's `video` (uint8 pixels) and decodes it with the light decoder (what
play shows; `--full` for the full one where the checkpoint has it), and prints the PSNR (dB, pixels
in [-1, 1], peak-to-peak 2) of every frame index over all clips; then frame 0 encoded and decoded
alone, as play's first step decodes it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worldsim.models.checkpoint import load_checkpoint  # noqa: E402
from worldsim.train.data import ClipBank  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor, dims) -> torch.Tensor:
    return 10 * torch.log10(4 / (a - b).pow(2).mean(dim=dims))


@torch.no_grad()
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("bank", help="a clip bank with pixels (`video`), e.g. from `worldsim train bank`")
    p.add_argument("--full", action="store_true", help="the full decoder instead of the light one")
    args = p.parse_args()
    model, _ = load_checkpoint(args.checkpoint, dtype=torch.float32)
    if args.full and "vae.decoder." in model.omitted:
        print(f"{args.checkpoint} ships without the full decoder (play uses the light one)", file=sys.stderr)
        return 2
    video = ClipBank.load(args.bank).tensors["video"].float() / 127.5 - 1          # (N, 3, T, H, W)
    light = not args.full
    rec = model.vae.decode(model.vae.encode(video), light=light).clamp(-1, 1)
    per_frame = psnr(rec, video, (0, 1, 3, 4))
    alone = model.vae.decode(model.vae.encode(video[:, :, :1]), light=light).clamp(-1, 1)
    print(f"{'light' if light else 'full'} decoder, {video.shape[0]} clips of {video.shape[2]} frames")
    print("PSNR per frame:", " ".join(f"{float(v):.1f}" for v in per_frame))
    print(f"mean of frames 1..: {float(psnr(rec[:, :, 1:], video[:, :, 1:], (0, 1, 2, 3, 4))):.2f} dB; "
          f"frame 0 in the clip: {float(per_frame[0]):.2f} dB; frame 0 alone: "
          f"{float(psnr(alone[:, :, 0], video[:, :, 0], (0, 1, 2, 3))):.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
