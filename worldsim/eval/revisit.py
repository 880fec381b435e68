"""Memory of a place: the view after a 360° turn, and after leaving for >= 10 s and coming back.

At the revisit frame the camera has exactly the pose of frame 0, so the truth shows the same
picture there. Reported per path (turn360, revisit):

  vs_first   generated revisit view vs the generated first view (self-consistency)
  vs_truth   generated revisit view vs the true one (= the true first view)
  away       mean PSNR vs truth over the frames in between (a frozen picture fails here)

A frozen subject scores perfectly on vs_first and vs_truth, so read them with `away` and with
yaw following; a subject lagging the controls by a step is caught, since the revisit frame ends
a turn (the lagged view is 15° off).
"""
from __future__ import annotations

import numpy as np

from .images import mse, psnr_from_mse, ssim


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(psnr_from_mse(mse(a, b).mean()))


def _pair(a: np.ndarray, b: np.ndarray) -> dict:
    """(S, H, W, 3) pairs -> mean PSNR and SSIM."""
    return {"psnr": _psnr(a, b), "ssim": float(ssim(a, b).mean())}


def revisit(runs: list[tuple], fps: float) -> dict:
    """runs: (trajectory with .revisit = (first, back), truth (S, T, ...), generated (S, T, ...))."""
    out = {}
    for traj, true, gen in runs:
        i0, i1 = traj.revisit
        out[traj.name] = {
            "frames": [i0, i1], "seconds_away": (i1 - i0) / fps,
            "vs_first": _pair(gen[:, i1], gen[:, i0]),
            "vs_truth": _pair(gen[:, i1], true[:, i1]),
            "truth_vs_first": _pair(true[:, i1], true[:, i0]),
            "away_psnr": _psnr(gen[:, i0 + 1:i1], true[:, i0 + 1:i1]),
            "away_psnr_first_frame": _psnr(np.broadcast_to(true[:, i0:i0 + 1], true[:, i0 + 1:i1].shape),
                                           true[:, i0 + 1:i1]),
        }
    return out
