"""Horizontal shifts of blurry frames, and which frame pairs lie inside a latent frame.

    dx = lk_shifts(frames, pairs)               # (S, T) px, NaN where pairs is False
    inside, boundary = pair_masks(T)            # pairs t-1 -> t inside latent frames / across them

Phase correlation (phase.py) whitens the spectrum, so on a blurry reconstruction the missing fine
detail turns into noise; a global least-squares (Lucas-Kanade) fit on blurred luma weights each
frequency by its energy and stays usable (scripts/vae_motion_study.py, docs/TRAINING.md).
"""
from __future__ import annotations

import numpy as np


def lk_shifts(frames: np.ndarray, pairs: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """(S, T) horizontal shifts (px, + = content moves right) by a global least-squares (Lucas-Kanade) fit on blurred luma:
    dx = -sum(Ix It) / sum(Ix^2). Unlike phase correlation, which whitens the spectrum, it weights
    frequencies by their energy, so the missing fine detail of a blurry reconstruction does not
    turn into noise in the estimate."""
    r = int(3 * sigma)
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    g /= g.sum()
    luma = frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])               # (S, T, H, W)
    for axis in (2, 3):
        luma = np.apply_along_axis(lambda v: np.convolve(v, g, mode="same"), axis, luma)
    out = np.full(frames.shape[:2], np.nan)
    c = slice(r + 1, -(r + 1))
    for s in range(frames.shape[0]):
        for t in np.flatnonzero(pairs):
            a, b = luma[s, t - 1], luma[s, t]
            ix = np.gradient(0.5 * (a + b), axis=1)[c, c]
            out[s, t] = -float((ix * (b - a)[c, c]).sum() / (ix ** 2).sum())
    return out


def pair_masks(t: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (t-1 -> t) inside a latent frame (frames 4k+1..4k+4) and across a boundary."""
    idx = np.arange(t)
    inside = (idx >= 2) & ((idx - 1) % 4 != 0)
    boundary = (idx >= 1) & ((idx - 1) % 4 == 0)
    return inside, boundary
