"""Periodic fractal value noise on a square grid (the world wraps around, so it never ends).

All functions are deterministic for a given `torch.Generator` and run on CPU; worlds are built
once per seed and moved to the rendering device afterwards.
"""
from __future__ import annotations

import torch


def value_noise(size: int, cells: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth periodic noise in [-1, 1] on a (size, size) grid with `cells` lattice cells per side.

    A random lattice (cells, cells) is interpolated with a quintic fade, wrapping at the edges,
    so the result tiles seamlessly.                                      # -> (size, size)
    """
    lattice = torch.rand(cells, cells, generator=gen, dtype=torch.float64) * 2 - 1
    coord = torch.arange(size, dtype=torch.float64) * (cells / size)     # (size,)
    i0 = coord.floor().long()
    f = coord - i0
    f = f * f * f * (f * (f * 6 - 15) + 10)                              # quintic fade
    i0 = i0 % cells
    i1 = (i0 + 1) % cells
    # rows (z) then columns (x)
    a = lattice[i0][:, i0] * (1 - f)[None, :] + lattice[i0][:, i1] * f[None, :]
    b = lattice[i1][:, i0] * (1 - f)[None, :] + lattice[i1][:, i1] * f[None, :]
    return (a * (1 - f)[:, None] + b * f[:, None]).float()


def fbm(size: int, base_cells: int, octaves: int, gen: torch.Generator,
        gain: float = 0.5, ridged: bool = False) -> torch.Tensor:
    """Fractal sum of `octaves` value-noise layers, doubling frequency each time; about [-1, 1].

    `ridged` folds each layer (1 - |n|), which makes sharp mountain crests.   # -> (size, size)
    """
    total = torch.zeros(size, size)
    amplitude, norm = 1.0, 0.0
    cells = base_cells
    for _ in range(octaves):
        layer = value_noise(size, min(cells, size), gen)
        if ridged:
            layer = 1 - 2 * layer.abs()
        total += amplitude * layer
        norm += amplitude
        amplitude *= gain
        cells *= 2
    return total / norm
