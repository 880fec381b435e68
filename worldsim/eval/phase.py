"""Sub-pixel phase correlation: how far the image content moved between two frames.

    dx, dy = phase_shift(a, b)       # b is a with its content moved by (dx, dy) px (x right, y down)

Normalised cross-power spectrum of the two luma images (Hann-windowed, so the frame border does
not dominate), the integer peak of its inverse, then refined on a 1/10 and then a 1/`upsample` px grid around
it with matrix DFTs (Guizar-Sicairos et al., 2008; the method of skimage's phase_cross_correlation).
Accurate to ~0.01 px on pure translations; tests/eval check <= 0.05 px.
"""
from __future__ import annotations

import numpy as np
import torch

LUMA = np.array([0.299, 0.587, 0.114])


def _luma(frame: np.ndarray) -> np.ndarray:               # (H, W, 3) uint8 or (H, W) -> (H, W) float64
    f = np.asarray(frame, dtype=np.float64)
    return f @ LUMA if f.ndim == 3 else f


def _upsampled_dft(spectrum: torch.Tensor, size: int, upsample: int, offsets: np.ndarray) -> np.ndarray:
    """Inverse DFT of `spectrum` (H, W) on a size x size grid of step 1/upsample starting at -offsets.
    (torch: its matmul keeps to the caller's thread count; BLAS threads spin on a busy small CPU)"""
    out = spectrum
    for n, offset in zip(spectrum.shape[::-1], offsets[::-1]):
        kernel = np.exp(-2j * np.pi * (np.arange(size) - offset)[:, None] * np.fft.fftfreq(n, upsample))
        out = torch.from_numpy(kernel) @ out.transpose(0, 1)
    return out.numpy()


def phase_shift(a: np.ndarray, b: np.ndarray, upsample: int = 100, window: bool = True) -> tuple[float, float]:
    """Content shift (dx, dy) in px from frame a to frame b: (H, W, 3) uint8 or (H, W) float each."""
    fa, fb = _luma(a), _luma(b)
    if fa.shape != fb.shape:
        raise ValueError(f"frames differ in size: {fa.shape} vs {fb.shape}")
    if window:
        w = np.outer(np.hanning(fa.shape[0]), np.hanning(fa.shape[1]))
        fa, fb = (fa - fa.mean()) * w, (fb - fb.mean()) * w
    product = np.fft.fft2(fb) * np.fft.fft2(fa).conj()
    product /= np.maximum(np.abs(product), 1e-12)
    corr = np.fft.ifft2(product)
    peak = np.array(np.unravel_index(np.argmax(np.abs(corr)), corr.shape), dtype=np.float64)
    shape = np.array(corr.shape)
    peak[peak > shape // 2] -= shape[peak > shape // 2]
    # refine in two passes, each a small matrix DFT around the last peak: a 1/10 px grid over
    # +-0.75 px, then a 1/upsample px grid over +-0.1 px (5x cheaper than one 1/100 grid over 1.5 px)
    spectrum = torch.from_numpy(np.ascontiguousarray(product.conj()))
    for factor, span in ((10, 1.5), (upsample, 0.2)) if upsample > 10 else ((upsample, 1.5),):
        peak = np.round(peak * factor) / factor
        size = int(np.ceil(factor * span))
        centre = np.fix(size / 2.0)
        fine = _upsampled_dft(spectrum, size, factor, centre - peak * factor).conj()
        best = np.array(np.unravel_index(np.argmax(np.abs(fine)), fine.shape), dtype=np.float64)
        peak = peak + (best - centre) / factor
    return float(peak[1]), float(peak[0])
