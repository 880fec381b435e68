"""Fine detail against the ground truth: is the picture as sharp as the world, or blurred toward the mean?

A next-frame regression blurs what it is unsure of, and an adversarial stage is meant to bring the detail back.
PSNR cannot show either (a blur scores higher than a sharp picture a few pixels off), so detail is its own measure,
at three scales s = 1, 2, 4 (the frames mean-pooled s x s first):

    energy_s(frame) = mean over pixels of (luma(x+1, y) - luma(x, y))^2 + (luma(x, y+1) - luma(x, y))^2
    detail_s        = mean energy_s of the subject's frames / mean energy_s of the true frames at the same times

1.0: as much detail as the world at that scale; below 1: blurrier; above 1: noise or edges the world does not have.
The finest scale is where a video autoencoder loses detail first (docs/QUALITY.md gives the shipped VAE's own
figures), so a coarser one shows what the generator itself blurs. Luma is Rec. 601 on [0, 1]. Frame 0 (given to
the subject) is left out. Reported over the autoregressive trajectories' first `seconds`, and over the first and
last `window` seconds of the long walk (does it blur as it goes?).
"""
from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
SCALES = (1, 2, 4)


def energy(frames: np.ndarray, scale: int = 1) -> np.ndarray:
    """(..., H, W, 3) frames on [0, 255] -> (...,) mean squared luma gradient per frame after s x s pooling."""
    f = np.ascontiguousarray(frames, dtype=np.float32)     # one layout, so the sums round alike wherever frames came from
    y = (f[..., 0] * LUMA[0] + f[..., 1] * LUMA[1] + f[..., 2] * LUMA[2]) / np.float32(255.0)
    if scale > 1:
        H, W = (y.shape[-2] // scale) * scale, (y.shape[-1] // scale) * scale
        y = y[..., :H, :W].reshape(*y.shape[:-2], H // scale, scale, W // scale, scale).mean(axis=(-3, -1),
                                                                                           dtype=np.float64)
    dx, dy = np.diff(y, axis=-1), np.diff(y, axis=-2)
    return (dx ** 2).mean(axis=(-2, -1), dtype=np.float64) + (dy ** 2).mean(axis=(-2, -1), dtype=np.float64)


def ratio(gen: np.ndarray, true: np.ndarray, scale: int = 1) -> float | None:
    """Detail of `gen` against `true` at one scale, frames paired by index ((S, T, H, W, 3) each, the same T)."""
    e_true = float(energy(true, scale).mean()) if true.size else 0.0
    return float(energy(gen, scale).mean()) / e_true if e_true > 0 else None


def _sums(gen: np.ndarray, true: np.ndarray) -> list[tuple[float, float]]:
    """Per scale: (summed energy of the generated frames, of the true ones)."""
    return [(float(energy(gen, s).sum()), float(energy(true, s).sum())) for s in SCALES]


def _ratios(sums: list[list[tuple[float, float]]]) -> list[float | None]:
    """Per scale: the energy of every generated frame in `sums` (one _sums per clip set) over every true frame's."""
    out = []
    for i in range(len(SCALES)):
        g, t = sum(s[i][0] for s in sums), sum(s[i][1] for s in sums)
        out.append(g / t if t > 0 else None)
    return out


def detail(runs: list[tuple], walk_true: np.ndarray, walk_gen: np.ndarray, fps: float, seconds: float,
           window: float = 5.0) -> dict:
    """runs: (trajectory, truth (S, T, ...), generated (S, T, ...), positions) of the autoregressive rollouts;
    walk_true / walk_gen the long walk's frames. Each figure is a list, one per scale in `scales`."""
    frames = round(seconds * fps) + 1
    T = walk_true.shape[1]
    window = min(window, (T - 1) / fps / 2)
    n = max(1, round(window * fps))
    per = {traj.name: _sums(gen[:, 1:frames], true[:, 1:frames]) for traj, true, gen, _ in runs}
    return {
        "scales": list(SCALES), "seconds": seconds,
        "autoregressive": _ratios(list(per.values())),
        "per_trajectory": {name: _ratios([sums]) for name, sums in per.items()},
        "walk": {"window_s": window, "first": _ratios([_sums(walk_gen[:, 1:1 + n], walk_true[:, 1:1 + n])]),
                 "last": _ratios([_sums(walk_gen[:, T - n:], walk_true[:, T - n:])])},
    }
