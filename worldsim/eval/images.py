"""Per-frame image similarity: PSNR and SSIM of uint8 RGB frames.

    psnr(a, b)      # (N, H, W, 3) uint8 each -> (N,) dB; identical frames read PSNR_CAP
    ssim(a, b)      # (N, H, W, 3) uint8 each -> (N,) in [-1, 1]; Gaussian window 11, sigma 1.5

SSIM is Wang et al. (2004) with the usual constants (K1 0.01, K2 0.03, range 255), computed per
RGB channel over the valid part of the image (no padding) and averaged over the channels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PSNR_CAP = 100.0          # dB for identical frames (keeps the JSON finite)


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 pairs -> (...) PSNR in dB, at most PSNR_CAP."""
    _check(a, b)
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(-3, -2, -1))
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(255.0 ** 2 / mse)
    return np.minimum(db, PSNR_CAP)


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(..., H, W, 3) uint8 pairs -> (...) mean SSIM over the image and the channels."""
    _check(a, b)
    lead = a.shape[:-3]
    a2, b2 = a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])
    out = np.concatenate([_ssim(a2[i:i + chunk], b2[i:i + chunk]) for i in range(0, len(a2), chunk)] or [np.zeros(0)])
    return out.reshape(lead)


def _ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:         # (n, H, W, 3) -> (n,)
    g = _gaussian()
    size = min(len(g), a.shape[1], a.shape[2])
    g = _gaussian(size, 1.5 * size / 11)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3]).double()   # (n*3, 1, H, W)
    y = torch.from_numpy(b).permute(0, 3, 1, 2).reshape(-1, 1, *b.shape[1:3]).double()

    def blur(t: torch.Tensor) -> torch.Tensor:                  # separable Gaussian, valid part only
        t = F.conv2d(t, g.view(1, 1, -1, 1))
        return F.conv2d(t, g.view(1, 1, 1, -1))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).reshape(len(a), 3).mean(dim=1).numpy()


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.shape[-1:] != (3,) or a.ndim < 3:
        raise ValueError(f"frames must be two (..., H, W, 3) arrays of one shape, got {a.shape} and {b.shape}")
