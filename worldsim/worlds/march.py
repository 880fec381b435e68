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
CHUNKS = 10              # at most CHUNK_STEPS * CHUNKS steps per ray (late chunks see few rays)
BISECT_STEPS = 6
CLEAR_CELLS = 12         # clearance window half-size, in grid cells


def _corners(base, x: torch.Tensor, z: torch.Tensor, grid: int, inv_cell: float):
    """Flat indices of the 4 grid points around world (x, z) (wrapping) and the fractions."""
    gx, gz = x * inv_cell, z * inv_cell
    fx0, fz0 = gx.floor(), gz.floor()
    x0 = torch.remainder(fx0, grid).long()
    z0 = torch.remainder(fz0, grid).long()
    x1 = torch.where(x0 == grid - 1, 0, x0 + 1)
    r0 = base + z0 * grid
    r1 = base + torch.where(z0 == grid - 1, 0, z0 + 1) * grid
    return r0 + x0, r0 + x1, r1 + x0, r1 + x1, gx - fx0, gz - fz0


def bilinear(field: torch.Tensor, base, x: torch.Tensor, z: torch.Tensor, grid: int, inv_cell: float):
    """Bilinear, wrapping sample at world (x, z) of the (G*G[, C]) grid that starts at row `base`
    of a flat stack of grids (one per world). -> x.shape[ + (C,)]"""
    i00, i01, i10, i11, fx, fz = _corners(base, x, z, grid, inv_cell)
    if field.dim() == 2:
        fx, fz = fx[..., None], fz[..., None]
    top = field[i00] * (1 - fx) + field[i01] * fx
    bottom = field[i10] * (1 - fx) + field[i11] * fx
    return top * (1 - fz) + bottom * fz


def clearance_grid(height: torch.Tensor, radius_cells: int = CLEAR_CELLS) -> torch.Tensor:
    """(G, G) -> (G, G): the highest height within a square window of +-radius_cells (wrapping)."""
    k = 2 * radius_cells + 1
    padded = torch.nn.functional.pad(height[None, None], (radius_cells,) * 4, mode="circular")
    return torch.nn.functional.max_pool2d(padded, k, stride=1)[0, 0]


def march_chunk(hmap, base, o, d, t, t_above, grid: int, inv_cell: float, top: float):
    """CHUNK_STEPS steps. hmap (W*G*G, 2) height and clearance; base (R,) grid offset of each ray's
    world; o, d (R, 3); t, t_above (R,). -> t, t_above, below, finished (R,).

    A step is the larger of a relaxed step (0.8 of the height above the surface, at least 8% of
    the distance: may overshoot, bisection repairs) and a safe step: while the ray is above the
    clearance (the highest point within CLEAR_CELLS cells) it cannot hit anything for the
    clearance radius horizontally or until it has dropped to that height."""
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = d.unbind(-1)
    reach = (CLEAR_CELLS - 1) / inv_cell / (dx * dx + dz * dz).sqrt().clamp(min=1e-3)   # metres along the ray
    sink = (-dy).clamp(min=1e-4)
    for _ in range(CHUNK_STEPS):
        y = oy + t * dy
        h, clear = _height_and_clearance(hmap, base, ox + t * dx, oz + t * dz, grid, inv_cell)
        dh = y - h
        above = (dh > 0) & (t < FAR)
        t_above = torch.where(above, t, t_above)
        safe = torch.where(y > clear, torch.minimum(reach, (y - clear) / sink), 0.0)
        step = torch.maximum(torch.maximum(0.8 * dh, 0.02 + 0.08 * t), safe)
        t = torch.where(above, t + step, t)
    h, _ = _height_and_clearance(hmap, base, ox + t * dx, oz + t * dz, grid, inv_cell)
    dh = oy + t * dy - h
    escaped = (dy >= 0) & (oy + t * dy > top)          # above every mountain and rising
    below = (dh <= 0) & (t < FAR)
    return t, t_above, below, below | (t >= FAR) | escaped


def _height_and_clearance(hmap, base, x, z, grid: int, inv_cell: float):
    """Bilinear height and the clearance at the lower corner of the cell. hmap (W*G*G, 2)."""
    i00, i01, i10, i11, fx, fz = _corners(base, x, z, grid, inv_cell)
    top = hmap[i00, 0] * (1 - fx) + hmap[i01, 0] * fx
    bottom = hmap[i10, 0] * (1 - fx) + hmap[i11, 0] * fx
    return top * (1 - fz) + bottom * fz, hmap[i00, 1]


def bisect(hmap, base, o, d, lo, hi, grid: int, inv_cell: float):
    """Refine hits between lo (above the surface) and hi (below). (R, 3), (R,) -> t (R,)."""
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = d.unbind(-1)
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        up = (oy + mid * dy - _height_and_clearance(hmap, base, ox + mid * dx, oz + mid * dz, grid, inv_cell)[0]) > 0
        lo, hi = torch.where(up, mid, lo), torch.where(up, hi, mid)
    return 0.5 * (lo + hi)


def march_terrain(hmap, base, o, d, grid: int, inv_cell: float, top: float, kernels) -> torch.Tensor:
    """Distance to the marched surface along each ray, +inf for sky. base (R,), o, d (R, 3) -> (R,).

    `kernels` supplies march_chunk and bisect (eager or compiled: see compiled.py)."""
    R, dev = d.shape[0], d.device
    # Live rays are kept compact (index_select, never boolean masks: those are ~50x slower on
    # CPU); a finished ray's (t_above, t) is recorded once, and hits are bisected at the end.
    idx = torch.nonzero(~((d[:, 1] >= 0) & (o[:, 1] > top))).squeeze(1)        # rising above all: sky
    live = [base.index_select(0, idx), o.index_select(0, idx), d.index_select(0, idx)]
    t = torch.full((idx.numel(),), 0.05, device=dev)
    t_above = torch.zeros_like(t)
    done_idx, done_lo, done_hi = [], [], []
    for _ in range(CHUNKS):
        if idx.numel() == 0:
            break
        t, t_above, below, finished = kernels.march_chunk(hmap, *live, t, t_above, grid, inv_cell, top)
        hit = torch.nonzero(below).squeeze(1)
        done_idx.append(idx.index_select(0, hit))
        done_lo.append(t_above.index_select(0, hit))
        done_hi.append(t.index_select(0, hit))
        keep = torch.nonzero(~finished).squeeze(1)                               # rays still marching
        idx, t, t_above = idx.index_select(0, keep), t.index_select(0, keep), t_above.index_select(0, keep)
        live = [x.index_select(0, keep) for x in live]
    out = torch.full((R,), INF, device=dev)          # rays still marching after CHUNKS count as sky
    if done_idx:
        hits = torch.cat(done_idx)
        pick = lambda x: x.index_select(0, hits)                                # noqa: E731
        out[hits] = kernels.bisect(hmap, pick(base), pick(o), pick(d), torch.cat(done_lo),
                                   torch.cat(done_hi), grid, inv_cell)
    return out
