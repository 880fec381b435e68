"""Fixed frame features for the drift measure: no pretrained network, nothing downloaded.

Per frame (uint8 (H, W, 3)), 44 numbers, all deterministic:
  - colour: an 8-bin histogram of each RGB channel (fractions of pixels)           24
  - luma: mean and standard deviation (/255)                                         2
  - texture: mean |response| of a Gabor-like filter bank on the luma (/255):
    oriented first derivatives at 4 angles x 3 scales (the image halved per scale)  12
  - edges: 6-bin histogram of the gradient magnitude at full scale (fractions)       6

`window_distance(gen, true)` compares two sets of frames by these statistics: a Fréchet
distance with diagonal covariances, sum_i (mu_g,i - mu_t,i)^2 + (sd_g,i - sd_t,i)^2, square-rooted.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ANGLES = (0.0, 45.0, 90.0, 135.0)
SCALES = 3
EDGE_BINS = np.array([2.0, 4.0, 8.0, 16.0, 32.0])          # gradient magnitude bin edges (luma levels)


def _filters() -> torch.Tensor:
    """(4, 1, 5, 5) oriented derivative-of-Gaussian kernels (sigma 1 px)."""
    r = torch.arange(-2, 3, dtype=torch.float32)
    y, x = torch.meshgrid(r, r, indexing="ij")
    g = torch.exp(-(x ** 2 + y ** 2) / 2.0)
    out = []
    for angle in ANGLES:
        t = np.radians(angle)
        k = -(np.cos(t) * x + np.sin(t) * y) * g
        out.append(k / k.abs().sum() * 2)
    return torch.stack(out)[:, None]


def frame_features(frames: np.ndarray, chunk: int = 128) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 44) float64 features."""
    return np.concatenate([_features(frames[i:i + chunk]) for i in range(0, len(frames), chunk)])


def _features(frames: np.ndarray) -> np.ndarray:
    n = len(frames)
    hist = [np.stack([np.bincount(f[..., c].ravel() >> 5, minlength=8) for f in frames]) for c in range(3)]
    colour = np.concatenate(hist, axis=1) / (frames.shape[1] * frames.shape[2])          # (n, 24)
    rgb = torch.from_numpy(np.ascontiguousarray(frames)).float().permute(0, 3, 1, 2)                          # (n, 3, H, W)
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    stats = torch.stack([luma.mean((1, 2, 3)), luma.std((1, 2, 3))], 1) / 255.0         # (n, 2)
    filters, texture, x = _filters(), [], luma
    for _ in range(SCALES):
        texture.append(F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), filters).abs().mean((2, 3)) / 255.0)
        x = F.avg_pool2d(x, 2)
    gy, gx = luma[:, :, 1:, :-1] - luma[:, :, :-1, :-1], luma[:, :, :-1, 1:] - luma[:, :, :-1, :-1]
    magnitude = (gx ** 2 + gy ** 2).sqrt().reshape(n, -1).numpy()
    bins = np.searchsorted(EDGE_BINS, magnitude)                                       # 0..5
    edges = np.stack([np.bincount(b, minlength=6) for b in bins]) / magnitude.shape[1]   # (n, 6)
    return np.concatenate([colour, stats.numpy(), torch.cat(texture, 1).numpy(), edges], axis=1).astype(np.float64)


def window_distance(gen: np.ndarray, true: np.ndarray) -> float:
    """Feature-statistics distance of two frame sets, (N, 44) features each (see the docstring)."""
    return float(np.sqrt(((gen.mean(0) - true.mean(0)) ** 2).sum() + ((gen.std(0) - true.std(0)) ** 2).sum()))
