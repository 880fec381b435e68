"""Camera encodings (worker side): relative poses and per-pixel ray embeddings on the latent grid.

    T_i = c2w_ref^-1 · c2w_i                  each frame relative to the previous latent frame's pose
    d_cam(u, v) = normalize(((u - cx)/fx, (v - cy)/fy, 1)),  (u, v) = (j + 0.5, i + 0.5)
    d = R · d_cam,  o = t                     (R, t) from T_i
    od:      channels [o, d]                  (AAPT)
    plucker: channels [o × d, d]              (CameraCtrl)

A latent frame stacks its 4 video frames on channels (4 × 6 = 24) plus one flag channel that is
1 on the first latent frame, which has no camera input (zeros). Each of the 6 channels is divided
by a scale measured on trajectories (`measure_scales`), stored with the checkpoint.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch

from .camera_rig import intrinsics
from .schema import ControlError

KINDS = ("od", "plucker")


def _as_tensor(x, dtype=torch.float64, device=None) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=dtype, device=device)


def rigid_inverse(c2w: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms (..., 4, 4): [R^T, -R^T t]."""
    r_t = c2w[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(c2w)
    out[..., :3, :3] = r_t
    out[..., :3, 3] = -(r_t @ c2w[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def relative_pose(c2w_ref, c2w) -> torch.Tensor:
    """c2w_ref^-1 · c2w, batched (..., 4, 4) float64: the pose of c2w in the camera frame of c2w_ref."""
    c2w_ref, c2w = _as_tensor(c2w_ref), _as_tensor(c2w)
    return rigid_inverse(c2w_ref) @ c2w


def relative_poses(c2ws) -> torch.Tensor:
    """(..., T, 4, 4) absolute poses -> (..., T - 1, 4, 4) poses relative to the previous one."""
    c2ws = _as_tensor(c2ws)
    return relative_pose(c2ws[..., :-1, :, :], c2ws[..., 1:, :, :])


def compose_poses(c2w_0, rel) -> torch.Tensor:
    """Inverse of relative_poses: c2w_0 (..., 4, 4) and rel (..., T, 4, 4) -> (..., T + 1, 4, 4)."""
    out = [_as_tensor(c2w_0)]
    for t in _as_tensor(rel).unbind(-3):
        out.append(out[-1] @ t)
    return torch.stack(out, dim=-3)


def camera_rays(K, height: int, width: int) -> torch.Tensor:
    """Unit ray directions in camera space (..., 3, height, width) through the pixel centres."""
    K = _as_tensor(K)
    if K.dim() == 2 and K.device.type == "cpu":
        (fx, _, cx), (_, fy, cy), _ = K.tolist()
        return _rays(fx, fy, cx, cy, height, width).to(K.dtype)
    return _rays_of(K, height, width)


@functools.lru_cache(maxsize=16)
def _rays(fx: float, fy: float, cx: float, cy: float, height: int, width: int) -> torch.Tensor:
    """Rays of one K, cached: the encoders of a session ask for the same grid every latent frame.
    Callers must not modify the result in place."""
    K = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return _rays_of(K, height, width)


def _rays_of(K: torch.Tensor, height: int, width: int) -> torch.Tensor:
    v, u = torch.meshgrid(torch.arange(height, dtype=K.dtype, device=K.device) + 0.5,
                          torch.arange(width, dtype=K.dtype, device=K.device) + 0.5, indexing="ij")
    fx, fy = K[..., 0, 0, None, None], K[..., 1, 1, None, None]
    cx, cy = K[..., 0, 2, None, None], K[..., 1, 2, None, None]
    x, y = (u - cx) / fx, (v - cy) / fy
    d = torch.stack([x, y, torch.ones_like(x)], dim=-3)                  # (..., 3, h, w)
    return d / d.norm(dim=-3, keepdim=True)


def _skew(t: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) with skew(t) @ x = t × x."""
    z = torch.zeros_like(t[..., 0])
    return torch.stack([torch.stack([z, -t[..., 2], t[..., 1]], -1),
                        torch.stack([t[..., 2], z, -t[..., 0]], -1),
                        torch.stack([-t[..., 1], t[..., 0], z], -1)], -2)


def ray_embedding(c2w_prev, c2w, K, height: int, width: int, kind: str = "od",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Per-pixel ray embedding of c2w relative to c2w_prev: (..., 6, height, width).

    c2w_prev, c2w: (..., 4, 4) OpenCV camera-to-world (numpy or torch); K: (3, 3) or (..., 3, 3)
    intrinsics at (height, width). Unscaled (divide by `measure_scales` constants for a model)."""
    if kind not in KINDS:
        raise ValueError(f"ray embedding kind must be one of {KINDS}, got {kind!r}")
    rel = relative_pose(c2w_prev, c2w)                                    # (..., 4, 4) float64
    d_cam = camera_rays(_as_tensor(K, device=rel.device), height, width)  # (..., 3, h, w) float64
    r, t = rel[..., :3, :3], rel[..., :3, 3]
    # d = R·d_cam and, for plucker, o × d = (skew(t)·R)·d_cam: both are 3x3 maps of d_cam
    maps = torch.cat([_skew(t) @ r, r], dim=-2) if kind == "plucker" else r            # (..., 6|3, 3)
    if d_cam.dim() == 3:
        # one K for the whole batch: a single (B·rows, 3) @ (3, h·w) product (broadcast matmuls are slow on CPU)
        rays = (maps.to(dtype).reshape(-1, 3) @ d_cam.to(dtype).reshape(3, -1))
        rays = rays.reshape(*maps.shape[:-1], height, width)
    else:
        rays = (maps[..., :, :, None] * d_cam.flatten(-2)[..., None, :, :]).sum(-2)
        rays = rays.unflatten(-1, (height, width)).to(dtype)
    if kind == "plucker":
        return rays                                                       # [o × d, d]
    o = t.to(dtype)[..., :, None, None].expand_as(rays)
    return torch.cat([o, rays], dim=-3)                                   # [o, d]


# ---- outliers --------------------------------------------------------------------------------
def step_sizes(c2ws) -> tuple[torch.Tensor, torch.Tensor]:
    """Per step of a trajectory (T, 4, 4): translation length (T - 1,) and rotation angle in degrees."""
    rel = relative_poses(c2ws)
    trace = rel[..., 0, 0] + rel[..., 1, 1] + rel[..., 2, 2]
    angle = torch.rad2deg(torch.arccos(((trace - 1) / 2).clamp(-1.0, 1.0)))
    return rel[..., :3, 3].norm(dim=-1), angle


def implausible_steps(c2ws, max_step: float = 0.75, max_turn_deg: float = 30.0) -> torch.Tensor:
    """Bool (T - 1,): steps longer than max_step (world units per video frame), turning more than
    max_turn_deg, or not finite. The defaults allow a sprint (7.5 m/s) and 720°/s at 24 fps with margin."""
    c2ws = _as_tensor(c2ws)
    bad_pose = ~torch.isfinite(c2ws).flatten(-2).all(-1)                  # (T,)
    dist, angle = step_sizes(torch.nan_to_num(c2ws))
    return (dist > max_step) | (angle > max_turn_deg) | bad_pose[1:] | bad_pose[:-1]


def reject_outliers(trajectories: Sequence, **limits) -> tuple[list, list[int]]:
    """Split trajectories (each (T, 4, 4)) into the plausible ones and the indices of the rejected."""
    kept, rejected = [], []
    for i, traj in enumerate(trajectories):
        (rejected.append(i) if bool(implausible_steps(traj, **limits).any()) else kept.append(traj))
    return kept, rejected


# ---- latent frames ---------------------------------------------------------------------------
def latent_groups(c2ws, frames_per_latent: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Split a trajectory (1 + 4k, 4, 4) into (reference pose, poses of the latent frame) pairs for
    latent frames 1..k: the reference is the last pose of the previous latent frame."""
    c2ws = _as_tensor(c2ws)
    n = (c2ws.shape[0] - 1) // frames_per_latent
    return [(c2ws[k * frames_per_latent], c2ws[1 + k * frames_per_latent: 1 + (k + 1) * frames_per_latent])
            for k in range(n)]


def measure_scales(trajectories: Sequence, kind: str = "od", fovy_deg: float = 60.0, height: int = 16,
                   width: int = 16, frames_per_latent: int = 4) -> list[float]:
    """Per-channel scale constants (6 floats) of the ray embedding over trajectories (each (T, 4, 4)).

    The scale is the root mean square of each channel over all pixels and frames as the encoder
    sees them (relative to the previous latent frame), so dividing by it gives about unit spread
    while zero still means "no motion"."""
    K = intrinsics(width, height, fovy_deg)
    total, count = torch.zeros(6, dtype=torch.float64), 0
    for traj in trajectories:
        for ref, group in latent_groups(traj, frames_per_latent):
            emb = ray_embedding(ref, group, K, height, width, kind, dtype=torch.float64)   # (4, 6, h, w)
            total += emb.pow(2).sum(dim=(0, 2, 3))
            count += emb.shape[0] * height * width
    if count == 0:
        raise ValueError(f"measure_scales needs trajectories of at least {1 + frames_per_latent} poses")
    return [max(float(s), 1e-6) for s in (total / count).sqrt()]


# Measured 2026-11-21 on 16 seeded random walks of 60 s (walk mode, fovy 60°, 24 fps) with
# `worldsim controls measure-scales --random 16 --kind od|plucker`. A checkpoint stores its own.
DEFAULT_SCALES = {"od": [0.20318, 0.25674, 0.246155, 0.293028, 0.294413, 0.909646],
                  "plucker": [0.245176, 0.198372, 0.096172, 0.293028, 0.294413, 0.909646]}


class CameraEncoder:
    """One session's camera encoder: packet parts of a latent frame -> (25, h, w) float32."""

    def __init__(self, height: int, width: int, kind: str = "od", fovy_deg: float = 60.0,
                 scales: Sequence[float] | None = None, frames_per_latent: int = 4):
        if kind not in KINDS:
            raise ControlError(f"camera encoding kind must be one of {KINDS}, got {kind!r}")
        scales = DEFAULT_SCALES[kind] if scales is None else list(scales)
        if len(scales) != 6 or not all(np.isfinite(scales)) or min(scales) <= 0:
            raise ControlError(f"camera scales must be 6 positive finite numbers, got {scales!r}")
        self.height, self.width, self.kind, self.fpl = height, width, kind, frames_per_latent
        self.channels = 6 * frames_per_latent + 1
        self.K = intrinsics(width, height, fovy_deg)
        self.inv_scales = (1.0 / torch.tensor(scales, dtype=torch.float64)).float()[:, None, None]   # (6, 1, 1)
        self.ref: torch.Tensor | None = None

    def reset(self) -> None:
        self.ref = None

    def still(self) -> torch.Tensor:
        """The encoding of a latent frame after the first with the camera held still (every pose the
        previous one: the identity's rays), (channels, h, w); what camera guidance steers away from."""
        eye = torch.eye(4, dtype=torch.float64)
        emb = ray_embedding(eye, eye.expand(self.fpl, 4, 4), self.K, self.height, self.width, self.kind)
        out = torch.zeros(self.channels, self.height, self.width)
        out[:-1] = (emb * self.inv_scales).reshape(-1, self.height, self.width)
        return out

    def encode(self, parts: Sequence[dict]) -> torch.Tensor:
        if not 1 <= len(parts) <= self.fpl:
            raise ControlError(f"camera encoder takes 1..{self.fpl} packets per latent frame, got {len(parts)}")
        c2ws = torch.tensor([p["c2w"] for p in parts], dtype=torch.float64).reshape(-1, 4, 4)
        out = torch.zeros(self.channels, self.height, self.width)
        if self.ref is None:                                   # first latent frame: no camera input
            out[-1] = 1.0
        else:
            if len(parts) < self.fpl:                          # pad by holding the last pose
                c2ws = torch.cat([c2ws, c2ws[-1:].expand(self.fpl - len(parts), 4, 4)])
            emb = ray_embedding(self.ref, c2ws, self.K, self.height, self.width, self.kind)   # (4, 6, h, w)
            out[:-1] = (emb * self.inv_scales).reshape(-1, self.height, self.width)             # (24, h, w)
        self.ref = c2ws[len(parts) - 1]
        return out
