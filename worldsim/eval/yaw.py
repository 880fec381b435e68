"""Yaw following: does the picture turn as fast as the camera was told to?

On every pair of consecutive frames whose poses differ by a pure yaw, the horizontal content
shift (sub-pixel phase correlation, phase.py) of the subject's frames is compared with the shift
of the ground truth's frames, and with the analytic centre shift f·tan(Δyaw) (f = (H/2)/tan(fovy/2);
+yaw turns left, which moves the content right).

  following %   100 · Σ g·r / Σ r²   (least-squares gain of the subject's shift on the truth's):
                100 follows exactly, 0 is a frozen picture, negative turns the wrong way
  error %       100 · mean|g - r| / mean|r|
  reference %   the same gain of the truth's shift on the analytic one (how well f·tan Δ predicts
                the measured shift; perspective makes off-centre content move a little more)
  following % (least squares)   the same gain with shifts from a least-squares fit on blurred
                luma (lk.py) instead of phase correlation: phase correlation whitens the spectrum,
                so on a blurry subject its estimates are mostly noise; this one is not

Per latent-frame position (the k-th step after the session opened, buckets of 4) the same
gain shows where a model stops following (e.g. past the clip length it was trained on); each
bucket also carries the least-squares gain and error % (following_least_squares_pct,
error_least_squares_pct), the ones that still read on a blurry subject.
"""
from __future__ import annotations

import math

import numpy as np

from .lk import lk_shifts
from .phase import phase_shift

BUCKET = 4


def focal_px(height: int, fovy_deg: float) -> float:
    return (height / 2.0) / math.tan(math.radians(fovy_deg) / 2.0)


def shifts(frames: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """frames (S, T, H, W, 3); pairs (T,) bool (measure t-1 -> t) -> (S, T) dx in px, NaN elsewhere."""
    out = np.full(frames.shape[:2], np.nan)
    for s in range(frames.shape[0]):
        for t in np.flatnonzero(pairs):
            out[s, t] = phase_shift(frames[s, t - 1], frames[s, t])[0]
    return out


def following_gain(g: np.ndarray, r: np.ndarray) -> float | None:
    ok = np.isfinite(g) & np.isfinite(r)
    den = float((r[ok] ** 2).sum())
    return 100.0 * float((g[ok] * r[ok]).sum()) / den if den > 0 else None


def _error(g: np.ndarray, r: np.ndarray) -> float | None:
    ok = np.isfinite(g) & np.isfinite(r)
    den = float(np.abs(r[ok]).mean()) if ok.any() else 0.0
    return 100.0 * float(np.abs(g[ok] - r[ok]).mean()) / den if den > 0 else None


def bucket_name(k: int) -> str:
    lo = (k - 1) // BUCKET * BUCKET + 1
    return f"{lo}-{lo + BUCKET - 1}"


def per_position(gen: np.ndarray, true: np.ndarray, positions: np.ndarray, window: int | None,
                 least_squares: tuple[np.ndarray, np.ndarray] | None = None) -> list[dict]:
    """gen, true (S, T) phase shifts; positions (T,); least_squares: (gen, true) (S, T) shifts of lk.py
    -> [{positions, following_pct, pairs, beyond_window[, following_least_squares_pct, error_least_squares_pct]}]."""
    rows: dict[str, list[int]] = {}
    for t in range(gen.shape[1]):
        if positions[t] >= 1 and np.isfinite(true[:, t]).any():
            rows.setdefault(bucket_name(int(positions[t])), []).append(t)
    out = []
    for name, ts in sorted(rows.items(), key=lambda kv: int(kv[0].split("-")[0])):
        lo = int(name.split("-")[0])
        row = {"positions": name, "following_pct": following_gain(gen[:, ts], true[:, ts]),
               "pairs": int(np.isfinite(true[:, ts]).sum()),
               "beyond_window": bool(window is not None and lo > window)}
        if least_squares is not None:
            lg, lr = least_squares[0][:, ts], least_squares[1][:, ts]
            row["following_least_squares_pct"] = following_gain(lg, lr)
            row["error_least_squares_pct"] = _error(lg, lr)
        out.append(row)
    return out


def yaw_following(runs: list[tuple], height: int, fovy_deg: float, window: int | None = None) -> dict:
    """runs: (trajectory, truth (S, T, ...), generated (S, T, ...), positions). Shifts of both and
    the summary above; per-position gains over all runs together."""
    f = focal_px(height, fovy_deg)
    g_all, r_all, a_all, pos_g, pos_r, pos_p, lk_g, lk_r = [], [], [], [], [], [], [], []
    for traj, true, gen, positions in runs:
        dyaw = traj.yaw_steps()[:true.shape[1]]
        pairs = np.isfinite(dyaw)
        pairs[0] = False
        r, g = shifts(true, pairs), shifts(gen, pairs)
        a = np.broadcast_to(f * np.tan(np.nan_to_num(dyaw)), r.shape)
        g_all.append(g[:, pairs].ravel()); r_all.append(r[:, pairs].ravel()); a_all.append(a[:, pairs].ravel())
        pos_g.append(g); pos_r.append(r); pos_p.append(positions[:true.shape[1]])
        lk_g.append(lk_shifts(gen, pairs)); lk_r.append(lk_shifts(true, pairs))     # (S, T), NaN off the pairs
    if not g_all:
        return {"pairs": 0}
    g, r, a = np.concatenate(g_all), np.concatenate(r_all), np.concatenate(a_all)
    lg, lr = np.concatenate(lk_g, axis=1), np.concatenate(lk_r, axis=1)
    return {
        "following_pct": following_gain(g, r), "error_pct": _error(g, r), "reference_vs_analytic_pct": following_gain(r, a),
        "following_least_squares_pct": following_gain(lg, lr),
        "model_vs_analytic_pct": following_gain(g, a), "pairs": int(len(r)), "focal_px": f,
        "mean_abs_shift_px": {"model": float(np.abs(g).mean()), "reference": float(np.abs(r).mean()),
                              "analytic": float(np.abs(a).mean())},
        "by_position": per_position(np.concatenate(pos_g, axis=1), np.concatenate(pos_r, axis=1),
                                    np.concatenate(pos_p), window, least_squares=(lg, lr)),
        "trajectories": [run[0].name for run in runs],
    }
