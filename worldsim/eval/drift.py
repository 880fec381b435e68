"""Drift over a long rollout: does the picture wander away from the world as time goes on?

For each seed, the feature-statistics distance (features.py: colour histograms, luma
statistics, an oriented derivative-of-Gaussian filter bank at 3 scales, an edge histogram) of the
generated frames to the true frames over the last `window` seconds, divided by the same distance
over the first `window` seconds (frame 0, which is given, left out; a run shorter than 2 windows uses its halves):

    drift = (d_last + eps) / (d_first + eps)      1.0: no drift; > 1: worse at the end

eps = 1e-6 makes a perfect subject (both distances 0) read exactly 1.0. A subject that is wrong
from the start and stays wrong also reads ~1.0, so read drift beside d_first and the PSNR.
"""
from __future__ import annotations

import numpy as np

from .features import frame_features, window_distance

EPS = 1e-6


def drift(true: np.ndarray, gen: np.ndarray, fps: float, window: float = 5.0) -> dict:
    """true, gen (S, T, H, W, 3) of one long trajectory -> per-seed and mean drift ratios."""
    window = min(window, (true.shape[1] - 1) / fps / 2)                 # a short run: its halves
    n = max(1, round(window * fps))
    first, last = slice(1, 1 + n), slice(true.shape[1] - n, true.shape[1])
    out = {"window_s": window, "seconds": (true.shape[1] - 1) / fps, "per_seed": []}
    truth = [(frame_features(true[s, first]), frame_features(true[s, last])) for s in range(true.shape[0])]
    for who, video in (("model", gen), ("first", np.broadcast_to(true[:, :1], true.shape))):
        d_firsts = [window_distance(frame_features(video[s, first]), t_first) for s, (t_first, _) in enumerate(truth)]
        d_lasts = [window_distance(frame_features(video[s, last]), t_last) for s, (_, t_last) in enumerate(truth)]
        ratios = [(d_last + EPS) / (d_first + EPS) for d_first, d_last in zip(d_firsts, d_lasts)]
        out[who] = {"drift": float(np.mean(ratios)), "d_first": float(np.mean(d_firsts)),
                    "d_last": float(np.mean(d_lasts))}
        if who == "model":        # each seed's ratio and its two distances: a small first one inflates a ratio
            out["per_seed"] = [float(r) for r in ratios]
            out["per_seed_distances"] = [[float(a), float(b)] for a, b in zip(d_firsts, d_lasts)]
    return out
