"""Sub-pixel phase correlation: how far the image content moved between two frames.

    dx, dy = phase_shift(a, b)       # b is a with its content moved by (dx, dy) px (x right, y down)

Normalised cross-power spectrum of the two luma images (Hann-windowed, so the frame border does
not dominate), the integer peak of its inverse, then refined on a 1/`upsample` px grid around it
with a matrix DFT (Guizar-Sicairos et al., 2008; the method of skimage's phase_cross_correlation).
Accurate to ~0.01 px on pure translations; tests/eval check <= 0.05 px.
"""
from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])


def _luma(frame: np.ndarray) -> np.ndarray:               # (H, W, 3) uint8 or (H, W) -> (H, W) float64
    f = np.asarray(frame, dtype=np.float64)
    return f @ LUMA if f.ndim == 3 else f


def _upsampled_dft(spectrum: np.ndarray, size: int, upsample: int, offsets: np.ndarray) -> np.ndarray:
    """Inverse DFT of `spectrum` (H, W) on a size x size grid of step 1/upsample starting at -offsets."""
    out = spectrum
    for n, offset in zip(spectrum.shape[::-1], offsets[::-1]):
        kernel = np.exp(-2j * np.pi * (np.arange(size) - offset)[:, None] * np.fft.fftfreq(n, upsample))
        out = np.tensordot(kernel, out, axes=(1, -1))
    return out


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
    if upsample > 1:
        peak = np.round(peak * upsample) / upsample
        size = int(np.ceil(upsample * 1.5))
        centre = np.fix(size / 2.0)
        fine = _upsampled_dft(product.conj(), size, upsample, centre - peak * upsample).conj()
        best = np.array(np.unravel_index(np.argmax(np.abs(fine)), fine.shape), dtype=np.float64)
        peak = peak + (best - centre) / upsample
    return float(peak[1]), float(peak[0])
