"""Pixel fidelity against the ground truth: teacher-forced next step, and autoregressive over time.

Baselines (computed from the ground truth itself, so they need no model):
  copy   each frame is the true last frame of the previous step (what a model that only copies
         its recycled input would show; the fair floor for a next-step prediction)
  first  the true first frame, repeated (a model that freezes)
Frame 0 (given to the subject) is never scored. The PSNR of a set of frames is that of their mean
MSE (images.psnr_from_mse); SSIM is averaged.
"""
from __future__ import annotations

import math

import numpy as np

from .images import mse, psnr_from_mse, ssim


def copy_indices(positions: np.ndarray) -> np.ndarray:
    """(T,) for each frame the index of the last frame of the previous step (frame 0: 0)."""
    last = {}
    for t, p in enumerate(positions):
        last[p] = t
    return np.array([last.get(p - 1, 0) for p in positions])


def scores(gen: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """(S, T, H, W, 3) pairs -> {"mse": (S, T), "ssim": (S, T)}."""
    return {"mse": mse(gen, true), "ssim": ssim(gen, true)}


def baselines(true: np.ndarray, positions: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Scores of the copy and first-frame baselines on one trajectory's truth (S, T, H, W, 3)."""
    first = np.broadcast_to(true[:, :1], true.shape)
    return {"copy": scores(true[:, copy_indices(positions)], true), "first": scores(first, true)}


def _mean(values: list[np.ndarray], metric: str = "ssim") -> float | None:
    """Mean SSIM, or the PSNR of the mean MSE ("psnr"), over all frames of `values`."""
    flat = np.concatenate([v.ravel() for v in values]) if values else np.zeros(0)
    if not flat.size:
        return None
    return float(psnr_from_mse(flat.mean())) if metric == "psnr" else float(flat.mean())


def _scored(rows: dict, who: str, metric: str) -> np.ndarray:
    return rows[who]["mse" if metric == "psnr" else metric]


def teacher_forced(runs: list[tuple]) -> dict:
    """runs: (trajectory, truth (S, T, ...), generated (S, T, ...), positions) of teacher-forced
    rollouts. Mean PSNR/SSIM over moving frames, beside the copy baseline."""
    acc: dict[str, dict[str, list]] = {"model": {"psnr": [], "ssim": []}, "copy": {"psnr": [], "ssim": []}}
    frames = 0
    for traj, true, gen, positions in runs:
        moving = traj.moving()[:true.shape[1]]
        moving[0] = False
        frames += int(moving.sum()) * len(true)
        rows = {"model": scores(gen, true), "copy": baselines(true, positions)["copy"]}
        for who, s in rows.items():
            for metric in ("psnr", "ssim"):
                acc[who][metric].append(_scored(rows, who, metric)[:, moving])
    out = {who: {m: _mean(v, m) for m, v in metrics.items()} for who, metrics in acc.items()}
    out["frames"] = frames
    out["trajectories"] = [r[0].name for r in runs]
    return out


def autoregressive(runs: list[tuple], fps: float, seconds: float, horizons=(1, 5, 10)) -> dict:
    """runs: (trajectory, truth, generated, positions) rolled out on the subject's own output.
    Mean PSNR/SSIM over the first 1, 5, 10 s and per second, beside the first and copy baselines."""
    horizons = [h for h in horizons if h <= seconds + 1e-9] or [seconds]
    n_sec = math.ceil(seconds - 1e-9)
    per = {who: {"psnr": [[] for _ in range(n_sec)], "ssim": [[] for _ in range(n_sec)]}
           for who in ("model", "copy", "first")}
    for traj, true, gen, positions in runs:
        frames = min(true.shape[1], round(seconds * fps) + 1)
        rows = {"model": scores(gen[:, :frames], true[:, :frames])}
        rows.update(baselines(true[:, :frames], positions[:frames]))
        sec = np.ceil(np.arange(frames) / fps).astype(int) - 1             # frame t >= 1 -> second index
        for who, s in rows.items():
            for metric in ("psnr", "ssim"):
                for i in range(n_sec):
                    per[who][metric][i].append(_scored(rows, who, metric)[:, sec == i])
    out = {"horizons": {}, "per_second": {}, "trajectories": [r[0].name for r in runs]}
    for h in horizons:
        k = math.ceil(h - 1e-9)
        out["horizons"][f"{h:g}s"] = {who: {m: _mean(sum(v[:k], []), m) for m, v in metrics.items()}
                                      for who, metrics in per.items()}
    for who, metrics in per.items():
        out["per_second"][who] = {m: [_mean(v[i], m) for i in range(n_sec)] for m, v in metrics.items()}
    return out


def psnr_curve(true: np.ndarray, gen: np.ndarray, fps: float) -> list[float]:
    """Mean PSNR per second over seeds of one long rollout (S, T, ...), frame 0 left out."""
    values = mse(gen[:, 1:], true[:, 1:])                                   # (S, T-1)
    sec = (np.arange(1, true.shape[1]) - 1) // round(fps)
    return [float(psnr_from_mse(values[:, sec == i].mean())) for i in range(int(sec.max()) + 1)]
