"""Does a latent frame's 4 video frames move? A small CPU study of the causal VAE's temporal path.

    PYTHONPATH=. python scripts/vae_motion_study.py --variants a,b,c --steps 400 --out /tmp/study.json

Data: reference-world walks with camera turns (worldsim.open("reference", in_process=True)),
17 frames at 64x64 (trained on windows of `--train-frames`, 9: 1 + 2 latent frames, from frame 0,
4 or 8): `--clips` training clips of world seeds 0.., each step a random look_dx
(2..8 px per frame, either way) and move_forward, and two held-out clips (seed 1000, turning
left; seed 1001, turning right: pure turns, so the truth's shift is clean). Every variant trains
from the same seed on the same batches with AdamW (warm-up, cosine), the loss of worldsim.train.vae.vae_loss (L1 + L2 + KL, the
light decoder on the real frames, `motion_weight` as the variant says).

Measured on the held-out clips, for the light and the full decoder (encode -> decode):
  PSNR (dB), and the horizontal content shift of every consecutive frame pair (phase correlation,
  worldsim.eval.yaw.shifts) against the truth's, as the least-squares gain 100·Σg·r/Σr²
  (worldsim/eval/yaw.py), separately for pairs inside a latent frame (frames 4k+1..4k+4) and for
  pairs across a latent-frame boundary (frame 4k -> 4k+1). 100 follows, 0 is still. The same
  gains with a blurred least-squares shift (`lk_shifts`) beside them: phase correlation whitens
  the spectrum, and on blurry low-PSNR reconstructions that makes it noisy.
`--fit-held` trains on the two held-out clips themselves (a capacity probe: with a sharp
reconstruction, can the decoder put motion inside a latent frame at all?).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import torch

from worldsim.config import VAEConfig
from worldsim.eval.lk import lk_shifts, pair_masks
from worldsim.eval.yaw import following_gain, shifts
from worldsim.models.vae import CausalVAE
from worldsim.train.vae import vae_loss

# A `default`-like VAE (32 latent channels, light decoder blocks (0, 1, 1)) at half width.
BASE = VAEConfig(latent_channels=32, channels=(16, 32, 64, 64), light_channels=(16, 32, 64), light_blocks=(0, 1, 1))

VARIANTS = {   # name -> (what, VAEConfig changes, motion_weight)
    "a": ("current architecture", {}, 0.0),
    "b": ("current + motion_weight 1", {}, 1.0),
    "c": ("b + TimeUp 3x3", {"time_up_kernel": 3}, 1.0),
    "d": ("b + TimeDown 3x3", {"time_down_kernel": 3}, 1.0),
    "e": ("b + light decoder causal at level 2", {"light_causal_levels": (2, 3)}, 1.0),
    "f": ("b + c + d + e", {"time_up_kernel": 3, "time_down_kernel": 3, "light_causal_levels": (2, 3)}, 1.0),
    "g": ("b + full decoder causal at level 1", {"causal_levels": (1, 2, 3)}, 1.0),
    "c0": ("TimeUp 3x3, no motion term", {"time_up_kernel": 3}, 0.0),
}


def render_clip(seed: int, looks: list[float], forward: list[float], size: int) -> np.ndarray:
    """One clip of 1 + 4 len(looks) frames (T, H, W, 3) uint8."""
    import worldsim
    with worldsim.open("reference", in_process=True, size=(size, size), seed=seed) as world:
        frames = [world.step({})]
        for dx, fwd in zip(looks, forward):
            frames.append(world.step({"look_dx": dx, "move_forward": fwd}))
    return np.concatenate(frames)


def make_data(n: int, frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    k = (frames - 1) // 4
    train = []
    for seed in range(n):
        sign = rng.choice([-1.0, 1.0])
        looks = [float(sign * rng.uniform(2.0, 8.0)) for _ in range(k)]
        train.append(render_clip(seed, looks, [float(rng.integers(0, 2)) for _ in range(k)], size))
    held = [render_clip(1000, [6.0] * k, [0.0] * k, size), render_clip(1001, [-6.0] * k, [0.0] * k, size)]
    return np.stack(train), np.stack(held)                      # (N, T, H, W, 3) uint8


def to_video(clips: np.ndarray) -> torch.Tensor:               # (N, T, H, W, 3) uint8 -> (N, 3, T, H, W) [-1, 1]
    return torch.from_numpy(clips).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def to_frames(video: torch.Tensor) -> np.ndarray:
    return ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()


@torch.no_grad()
def evaluate(vae: CausalVAE, held: np.ndarray, truth_shift: np.ndarray) -> dict:
    vae.eval()
    video = to_video(held)
    z = vae.encode(video)
    inside, boundary = pair_masks(held.shape[1])
    out = {}
    for name, light in (("light", True), ("full", False)):
        rec = vae.decode(z, light=light).clamp(-1, 1)
        mse = ((rec - video) / 2).pow(2).mean().item()
        frames = to_frames(rec)
        g = shifts(frames, inside | boundary)
        lk, lk_true = lk_shifts(frames, inside | boundary), lk_shifts(held, inside | boundary)
        out[name] = {"psnr": -10 * math.log10(mse),
                     "gain_inside": following_gain(g[:, inside], truth_shift[:, inside]),
                     "gain_boundary": following_gain(g[:, boundary], truth_shift[:, boundary]),
                     "lk_gain_inside": following_gain(lk[:, inside], lk_true[:, inside]),
                     "lk_gain_boundary": following_gain(lk[:, boundary], lk_true[:, boundary]),
                     "px_inside": float(np.abs(g[:, inside]).mean()),
                     "px_boundary": float(np.abs(g[:, boundary]).mean())}
    vae.train()
    return out


def train_variant(name: str, train: np.ndarray, held: np.ndarray, truth_shift: np.ndarray, args) -> dict:
    what, changes, motion = VARIANTS[name]
    torch.manual_seed(args.seed)
    vae = CausalVAE(replace(BASE, **changes))
    vae.init_weights()
    model = SimpleNamespace(vae=vae)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(args.seed)
    data = to_video(train)
    evals, times = [], []
    for step in range(args.steps):
        idx = rng.choice(len(data), args.batch, replace=False)
        start = 4 * int(rng.integers(0, (data.shape[2] - args.train_frames) // 4 + 1))
        video = data[idx, :, start:start + args.train_frames]    # a window of 1 + 4k frames
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)  # mirrored clips: turns the other way
        video = torch.where(flip.view(-1, 1, 1, 1, 1), video.flip(-1), video)
        t0 = time.perf_counter()
        loss, parts = vae_loss(model, video, 1e-6, 1.0, 1.0, 1.0, "video", motion)
        warm = min(1.0, (step + 1) / args.warmup)
        decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = args.lr * warm * decay
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            ev = evaluate(vae, held, truth_shift)
            ev["step"], ev["loss"] = step + 1, float(loss.detach())
            evals.append(ev)
            print(f"[{name}] step {step + 1} loss {float(loss.detach()):.4f} "
                  f"light {ev['light']['psnr']:.2f} dB in {ev['light']['gain_inside']:.0f}% "
                  f"bd {ev['light']['gain_boundary']:.0f}% (lk {ev['light']['lk_gain_inside']:.0f}/"
                  f"{ev['light']['lk_gain_boundary']:.0f}) | full {ev['full']['psnr']:.2f} dB "
                  f"in {ev['full']['gain_inside']:.0f}% bd {ev['full']['gain_boundary']:.0f}% (lk "
                  f"{ev['full']['lk_gain_inside']:.0f}/{ev['full']['lk_gain_boundary']:.0f}) "
                  f"({np.median(times):.3f} s/step)", flush=True)
    return {"variant": name, "what": what, "changes": {k: list(v) if isinstance(v, tuple) else v
                                                       for k, v in changes.items()},
            "motion_weight": motion, "params": sum(p.numel() for p in vae.parameters()),
            "median_step_s": float(np.median(times)), "evals": evals, "final": evals[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="a,b,c,d,e")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--train-frames", type=int, default=9, help="training windows of the clips (1 + 4k)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fit-held", action="store_true",
                   help="train on the held-out clips themselves: can the architecture represent the motion at all?")
    p.add_argument("--out", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train, held = make_data(args.clips, args.frames, args.size)
    inside, boundary = pair_masks(held.shape[1])
    truth_shift = shifts(held, inside | boundary)
    print(f"data {train.shape} held {held.shape} in {time.perf_counter() - t0:.1f} s; truth |dx| inside "
          f"{np.nanmean(np.abs(truth_shift[:, inside])):.2f} px, boundary "
          f"{np.nanmean(np.abs(truth_shift[:, boundary])):.2f} px\n{np.round(truth_shift, 2)}", flush=True)
    if args.fit_held:
        train = held
        args.batch = min(args.batch, len(held))
    results = [train_variant(v, train, held, truth_shift, args) for v in args.variants.split(",")]
    print(f"\n| variant | PSNR light / full (dB) | intra-latent gain light / full (%) "
          "| boundary gain light / full (%) | LK intra / boundary, light; full (%) | s/step |")
    print("|---|---|---|---|---|---|")
    for r in results:
        f = r["final"]
        print(f"| {r['variant']}: {r['what']} | {f['light']['psnr']:.2f} / {f['full']['psnr']:.2f} "
              f"| {f['light']['gain_inside']:.0f} / {f['full']['gain_inside']:.0f} "
              f"| {f['light']['gain_boundary']:.0f} / {f['full']['gain_boundary']:.0f} "
              f"| {f['light']['lk_gain_inside']:.0f} / {f['light']['lk_gain_boundary']:.0f}; "
              f"{f['full']['lk_gain_inside']:.0f} / {f['full']['lk_gain_boundary']:.0f} | {r['median_step_s']:.3f} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), "truth_shift": truth_shift.tolist(), "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
