"""The least-squares shift measure: known sub-pixel shifts, and the latent-frame pair masks."""
from __future__ import annotations

import numpy as np

from worldsim.eval.lk import lk_shifts, pair_masks


def smooth_scene(width: int, shift: float) -> np.ndarray:
    """A smooth horizontal pattern (64 rows) moved right by `shift` px, uint8-free float RGB."""
    x = np.arange(width) - shift
    row = 120 + 60 * np.sin(2 * np.pi * x / 37.0) + 40 * np.cos(2 * np.pi * x / 23.0)
    return np.repeat(np.repeat(row[None, :, None], 64, axis=0), 3, axis=2)


def test_known_subpixel_shifts_are_measured():
    moves = [0.0, 0.5, 1.25, -0.75]
    frames = np.stack([smooth_scene(96, sum(moves[:i + 1])) for i in range(len(moves))])[None]
    pairs = np.array([False, True, True, True])
    dx = lk_shifts(frames, pairs)[0]
    assert np.isnan(dx[0])
    np.testing.assert_allclose(dx[1:], moves[1:], atol=0.05)


def test_pair_masks_split_inside_and_across_latent_frames():
    inside, boundary = pair_masks(9)          # frames 0 | 1 2 3 4 | 5 6 7 8
    assert np.flatnonzero(inside).tolist() == [2, 3, 4, 6, 7, 8]
    assert np.flatnonzero(boundary).tolist() == [1, 5]
