"""Fine detail against the ground truth: is the picture as sharp as the world, or blurred toward the mean?

A next-frame regression blurs what it is unsure of, and an adversarial stage is meant to bring the detail back.
PSNR cannot show either (a blur scores higher than a sharp picture a few pixels off), so detail is its own measure:

    energy(frame) = mean over pixels of (luma(x+1, y) - luma(x, y))^2 + (luma(x, y+1) - luma(x, y))^2
    detail        = mean energy of the subject's frames / mean energy of the true frames at the same times

1.0: as much fine detail as the world; below 1: blurrier; above 1: noise or edges the world does not have.
Luma is Rec. 601 on [0, 1]. Frame 0 (given to the subject) is left out. Reported over the autoregressive
trajectories' first `seconds`, and over the first and last `window` seconds of the long walk (does it blur as it
goes?).
"""
from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def energy(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 frames -> (...,) mean squared luma gradient per frame."""
    y = (frames.astype(np.float32) / 255.0) @ LUMA
    dx, dy = np.diff(y, axis=-1), np.diff(y, axis=-2)
    return (dx ** 2).mean(axis=(-2, -1)) + (dy ** 2).mean(axis=(-2, -1))


def ratio(gen: np.ndarray, true: np.ndarray) -> float | None:
    """Detail of `gen` against `true`, frames paired by index ((S, T, H, W, 3) each, the same T)."""
    e_true = float(energy(true).mean()) if true.size else 0.0
    return float(energy(gen).mean()) / e_true if e_true > 0 else None


def detail(runs: list[tuple], walk_true: np.ndarray, walk_gen: np.ndarray, fps: float, seconds: float,
           window: float = 5.0) -> dict:
    """runs: (trajectory, truth (S, T, ...), generated (S, T, ...), positions) of the autoregressive rollouts;
    walk_true / walk_gen the long walk's frames."""
    frames = round(seconds * fps) + 1
    per = {traj.name: ratio(gen[:, 1:frames], true[:, 1:frames]) for traj, true, gen, _ in runs}
    gens = np.concatenate([energy(gen[:, 1:frames]).ravel() for _, _, gen, _ in runs]) if runs else np.zeros(0)
    trues = np.concatenate([energy(true[:, 1:frames]).ravel() for _, true, _, _ in runs]) if runs else np.zeros(0)
    T = walk_true.shape[1]
    window = min(window, (T - 1) / fps / 2)
    n = max(1, round(window * fps))
    return {
        "autoregressive": float(gens.mean() / trues.mean()) if trues.size and trues.mean() > 0 else None,
        "seconds": seconds,
        "per_trajectory": per,
        "walk": {"window_s": window, "first": ratio(walk_gen[:, 1:1 + n], walk_true[:, 1:1 + n]),
                 "last": ratio(walk_gen[:, T - n:], walk_true[:, T - n:])},
    }
