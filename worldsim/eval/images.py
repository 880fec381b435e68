"""Per-frame image similarity: PSNR and SSIM of uint8 RGB frames.

    psnr(a, b)      # (N, H, W, 3) uint8 each -> (N,) dB; identical frames read PSNR_CAP
    psnr_from_mse(mse(a, b).mean())   # the PSNR of a set of frames: of their mean MSE
    ssim(a, b)      # (N, H, W, 3) uint8 each -> (N,) in [-1, 1]; Gaussian window 11, sigma 1.5

SSIM is Wang et al. (2004) with the usual constants (K1 0.01, K2 0.03, range 255), computed on
the luma (BT.601 Y, as the original and FFmpeg's `ssim` Y do) over the valid part of the image
(no padding), averaged over the image.
"""
from __future__ import annotations

import numpy as np
import torch

PSNR_CAP = 100.0          # dB for identical frames (keeps the JSON finite)


def mse(a: np.ndarray, b: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(..., H, W, 3) uint8 pairs -> (...) mean squared error per frame (exact: integer sums)."""
    _check(a, b)
    lead, pixels = a.shape[:-3], int(np.prod(a.shape[-3:]))
    a2, b2 = a.reshape(-1, pixels), b.reshape(-1, pixels)
    out = np.empty(len(a2))
    for i in range(0, len(a2), chunk):
        d = a2[i:i + chunk].astype(np.int32) - b2[i:i + chunk]
        out[i:i + chunk] = np.einsum("ij,ij->i", d, d, dtype=np.int64) / pixels
    return out.reshape(lead)


def psnr_from_mse(m) -> np.ndarray:
    """dB from a mean squared error, at most PSNR_CAP. A set of frames is scored by its mean MSE,
    so one identical frame does not weigh 100 dB in an average."""
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(255.0 ** 2 / np.asarray(m, dtype=np.float64)), PSNR_CAP)


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 pairs -> (...) PSNR in dB per frame, at most PSNR_CAP."""
    return psnr_from_mse(mse(a, b))


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(..., H, W, 3) uint8 pairs -> (...) mean luma SSIM over the image."""
    _check(a, b)
    lead = a.shape[:-3]
    a2, b2 = a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])
    out = np.concatenate([_ssim(a2[i:i + chunk], b2[i:i + chunk]) for i in range(0, len(a2), chunk)] or [np.zeros(0)])
    return out.reshape(lead)


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """(n - k + 1, n) matrix whose rows slide the kernel g (k,) along n samples: a valid 1D filter."""
    rows = n - len(g) + 1
    band = torch.zeros(rows, n, dtype=g.dtype)
    for i in range(rows):
        band[i, i:i + len(g)] = g
    return band


def _ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:         # (n, H, W, 3) -> (n,)
    size = min(11, a.shape[1], a.shape[2])
    g = _gaussian(size, 1.5 * size / 11)
    by, bx = _band(a.shape[1], g).float(), _band(a.shape[2], g).float()
    # float32 on frames centred on their own mean: uncentred, E[x^2] - E[x]^2 cancels ~255^2 * 1e-7 of error into the
    # variances (1e-4 of C2 = 58.5, enough to move a flat pair's SSIM in the fifth digit, and by BLAS build)
    luma = torch.tensor([0.299, 0.587, 0.114])
    x = torch.from_numpy(np.ascontiguousarray(a)).float() @ luma                      # (n, H, W)
    y = torch.from_numpy(np.ascontiguousarray(b)).float() @ luma

    def blur(t: torch.Tensor) -> torch.Tensor:                  # separable Gaussian, valid part only
        return by @ t @ bx.T

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x0, y0 = x.mean(dim=(1, 2), keepdim=True), y.mean(dim=(1, 2), keepdim=True)
    x, y = x - x0, y - y0
    dx, dy = blur(x), blur(y)                                   # local means, less the frame's
    vx, vy, cxy = blur(x * x) - dx * dx, blur(y * y) - dy * dy, blur(x * y) - dx * dy
    mx, my = dx + x0, dy + y0
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2)).double().numpy()


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.shape[-1:] != (3,) or a.ndim < 3:
        raise ValueError(f"frames must be two (..., H, W, 3) arrays of one shape, got {a.shape} and {b.shape}")
