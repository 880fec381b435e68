"""Pose encoding (worker side): COCO-17 keypoints -> Gaussian heatmaps on the latent grid.

Per keypoint k of a video frame: H_k(i, j) = vis_k · exp(-((j + 0.5 - x_k·w)² + (i + 0.5 - y_k·h)²) / 2σ²)
with σ ≈ one latent pixel; 17 channels per video frame, the 4 frames of a latent frame stacked
(68 channels). The first latent frame has one video frame: its heatmaps fill all 4 slots.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .schema import ControlError

KEYPOINTS = 17


def pose_heatmaps(keypoints, height: int, width: int, sigma: float = 1.0) -> torch.Tensor:
    """keypoints (..., 17, 3) [x, y in [0, 1], visibility] -> heatmaps (..., 17, height, width) float32."""
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    if kp.shape[-2:] != (KEYPOINTS, 3):
        raise ValueError(f"keypoints must have shape (..., 17, 3), got {tuple(kp.shape)}")
    cols = torch.arange(width, dtype=torch.float32) + 0.5                  # (w,)
    rows = torch.arange(height, dtype=torch.float32) + 0.5                 # (h,)
    gx = torch.exp(-(cols - kp[..., 0:1] * width) ** 2 / (2 * sigma ** 2))   # (..., 17, w)
    gy = torch.exp(-(rows - kp[..., 1:2] * height) ** 2 / (2 * sigma ** 2))  # (..., 17, h)
    return kp[..., 2, None, None] * gy[..., :, None] * gx[..., None, :]     # separable Gaussian


class PoseEncoder:
    """One session's pose encoder: packet parts of a latent frame -> (68, h, w) float32."""

    def __init__(self, height: int, width: int, sigma: float = 1.0, frames_per_latent: int = 4):
        if not sigma > 0:
            raise ControlError(f"pose heatmap sigma must be > 0, got {sigma}")
        self.height, self.width, self.sigma, self.fpl = height, width, float(sigma), frames_per_latent
        self.channels = KEYPOINTS * frames_per_latent

    def reset(self) -> None:
        pass

    def encode(self, parts: Sequence[dict]) -> torch.Tensor:
        if not 1 <= len(parts) <= self.fpl:
            raise ControlError(f"pose encoder takes 1..{self.fpl} packets per latent frame, got {len(parts)}")
        kps = [p["keypoints"] for p in parts]
        kps += [kps[-1]] * (self.fpl - len(kps))                           # hold the last pose
        kp = torch.tensor(kps, dtype=torch.float32).reshape(self.fpl, KEYPOINTS, 3)
        return pose_heatmaps(kp, self.height, self.width, self.sigma).reshape(self.channels, self.height, self.width)
