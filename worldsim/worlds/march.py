"""Terrain marching against the precomputed height grid, with finished rays dropped between chunks.

Rays are flat (R,) tensors. `march_chunk` advances every ray a fixed number of relaxed steps
(pure tensor code: `torch.compile` fuses it into one kernel); between chunks the rays that have
gone below the surface, left the world's height range upwards or passed FAR are dropped, so
later chunks work on fewer rays. `bisect` then refines the hits between the last point above the
surface and the first below.
"""
from __future__ import annotations

import torch

from .primitives import INF

FAR = 400.0              # metres: beyond this every ray is sky
CHUNK_STEPS = 8          # relaxed steps per fused chunk
CHUNKS = 12              # at most CHUNK_STEPS * CHUNKS steps per ray (late chunks see few rays)
BISECT_STEPS = 6


def bilinear(field: torch.Tensor, base, x: torch.Tensor, z: torch.Tensor, grid: int, inv_cell: float):
    """Bilinear, wrapping sample at world (x, z) of the (G*G[, C]) grid that starts at row `base`
    of a flat stack of grids (one per world). -> x.shape[ + (C,)]"""
    gx, gz = x * inv_cell, z * inv_cell
    fx0, fz0 = gx.floor(), gz.floor()
    fx, fz = gx - fx0, gz - fz0
    x0 = torch.remainder(fx0, grid).long()
    z0 = torch.remainder(fz0, grid).long()
    x1 = torch.where(x0 == grid - 1, 0, x0 + 1)
    r0 = base + z0 * grid
    r1 = base + torch.where(z0 == grid - 1, 0, z0 + 1) * grid
    if field.dim() == 2:
        fx, fz = fx[..., None], fz[..., None]
    top = field[r0 + x0] * (1 - fx) + field[r0 + x1] * fx
    bottom = field[r1 + x0] * (1 - fx) + field[r1 + x1] * fx
    return top * (1 - fz) + bottom * fz


def march_chunk(hmap, base, o, d, t, t_above, grid: int, inv_cell: float, top: float):
    """CHUNK_STEPS relaxed steps. base (R,) grid offset; o, d (R, 3); t, t_above (R,). -> t, t_above, below, finished (R,)."""
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = d.unbind(-1)
    for _ in range(CHUNK_STEPS):
        dh = oy + t * dy - bilinear(hmap, base, ox + t * dx, oz + t * dz, grid, inv_cell)
        above = (dh > 0) & (t < FAR)
        t_above = torch.where(above, t, t_above)
        t = torch.where(above, t + torch.maximum(0.45 * dh, 0.015 + 0.06 * t), t)
    dh = oy + t * dy - bilinear(hmap, base, ox + t * dx, oz + t * dz, grid, inv_cell)
    escaped = (dy >= 0) & (oy + t * dy > top)          # above every mountain and rising
    below = (dh <= 0) & (t < FAR)
    return t, t_above, below, below | (t >= FAR) | escaped


def bisect(hmap, base, o, d, lo, hi, grid: int, inv_cell: float):
    """Refine hits between lo (above the surface) and hi (below). (R, 3), (R,) -> t (R,)."""
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = d.unbind(-1)
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        up = (oy + mid * dy - bilinear(hmap, base, ox + mid * dx, oz + mid * dz, grid, inv_cell)) > 0
        lo, hi = torch.where(up, mid, lo), torch.where(up, hi, mid)
    return 0.5 * (lo + hi)


def march_terrain(hmap, base, o, d, grid: int, inv_cell: float, top: float, kernels) -> torch.Tensor:
    """Distance to the marched surface along each ray, +inf for sky. base (R,), o, d (R, 3) -> (R,).

    `kernels` supplies march_chunk and bisect (eager or compiled: see compiled.py)."""
    R = d.shape[0]
    t = torch.full((R,), 0.05, device=d.device)
    t_above = torch.zeros(R, device=d.device)
    below = torch.zeros(R, dtype=torch.bool, device=d.device)
    active = torch.nonzero(~((d[:, 1] >= 0) & (o[:, 1] > top))).squeeze(1)     # rising above all: sky
    for _ in range(CHUNKS):
        if active.numel() == 0:
            break
        ta, tb, under, finished = kernels.march_chunk(hmap, base[active], o[active], d[active],
                                                      t[active], t_above[active], grid, inv_cell, top)
        t[active], t_above[active], below[active] = ta, tb, under
        active = active[~finished]
    idx = torch.nonzero(below).squeeze(1)        # rays still marching after CHUNKS count as sky
    out = torch.full((R,), INF, device=d.device)
    if idx.numel():
        out[idx] = kernels.bisect(hmap, base[idx], o[idx], d[idx], t_above[idx], t[idx], grid, inv_cell)
    return out
