"""Which primitives each screen tile must test: per camera, then per square pixel tile.

Testing every ray against every object is what makes a naive ray-tracer slow. Here each camera
keeps its nearest primitives inside the view frustum (`CAMERA_KEEP`), and each screen tile keeps
the nearest of those whose projected bounding sphere overlaps it (`TILE_KEEP`). Tables come out
relative to the camera (positions wrap around the world square) in fixed sizes, so shapes never
depend on the data; unused slots hold a degenerate primitive that no ray hits.
"""
from __future__ import annotations

import torch

from .primitives import INF, prepare

OBJECT_RANGE = 110.0                                          # metres, to the bounding sphere's edge
CAMERA_KEEP = {"frustums": 96, "ellipsoids": 64, "boxes": 8}
TILE_KEEP = {"frustums": 10, "ellipsoids": 6, "boxes": 2}
Y_COLUMNS = {"frustums": (1, 3), "ellipsoids": (1,), "boxes": (1,)}   # columns holding heights


def bounding_spheres(kind: str, table: torch.Tensor) -> torch.Tensor:
    """(M, P) primitive table -> (M, 4) bounding sphere centre xyz, radius."""
    if kind == "frustums":
        cx, y0, cz, y1, r0, r1 = table[:, :6].unbind(-1)
        centre = torch.stack([cx, (y0 + y1) / 2, cz], -1)
        radius = (torch.maximum(r0, r1) ** 2 + ((y1 - y0) / 2) ** 2).sqrt()
    elif kind == "ellipsoids":
        centre, radius = table[:, 0:3], table[:, 3:6].amax(-1)
    else:
        centre, radius = table[:, 0:3], table[:, 3:6].norm(dim=-1)
    return torch.cat([centre, radius[:, None]], -1)


def dead_primitive(kind: str, width: int, device) -> torch.Tensor:
    """(P,) a primitive far below the world, never hit (its hit distance is >> FAR)."""
    dead = torch.zeros(width, device=device)
    dead[1] = -1e6
    dead[3:6] = 1.0
    if kind == "frustums":
        dead[3] = -1e6 + 1.0
    if kind == "boxes":
        dead[6] = 1.0
    return dead


def cull_cameras(kind, table, bound, origin, c2w, K, height, width, size_m):
    """Nearest primitives in each camera's view.
    -> tables (B, k, P) relative to the camera, camera-space bounding spheres (B, k, 4), unused (B, k)."""
    B, dev = origin.shape[0], origin.device
    k = min(CAMERA_KEEP[kind], table.shape[0])
    if k == 0:
        table = dead_primitive(kind, table.shape[1], dev)[None]
        bound, k = bounding_spheres(kind, table), 1
    tan_x = torch.maximum(K[:, 0, 2], width - K[:, 0, 2]) / K[:, 0, 0]         # (B,)
    tan_y = torch.maximum(K[:, 1, 2], height - K[:, 1, 2]) / K[:, 1, 1]
    half = size_m / 2
    rel = bound[None, :, :3] - origin[:, None, :]                               # (B, M, 3)
    rel = torch.stack([torch.remainder(rel[..., 0] + half, size_m) - half, rel[..., 1],
                       torch.remainder(rel[..., 2] + half, size_m) - half], -1)
    cam = rel @ c2w[:, :3, :3]                                                  # (B, M, 3) camera frame
    r = bound[None, :, 3].expand(B, -1)
    ahead = cam[..., 2].clamp(min=0)
    visible = (cam[..., 2] > -r) & (cam[..., 0].abs() - 1.5 * r < ahead * tan_x[:, None]) \
        & (cam[..., 1].abs() - 1.5 * r < ahead * tan_y[:, None])
    dist = rel.norm(dim=-1) - r
    score = torch.where(visible & (dist < OBJECT_RANGE), dist, torch.full_like(dist, INF))
    best, idx = score.topk(k, dim=1, largest=False)                             # (B, k)
    chosen = table[idx]                                                         # (B, k, P)
    shift = rel.gather(1, idx[..., None].expand(-1, -1, 3)) - bound[idx][..., :3]   # -origin, wrapped
    cols = list(chosen.unbind(-1))
    cols[0], cols[2] = cols[0] + shift[..., 0], cols[2] + shift[..., 2]
    for c in Y_COLUMNS[kind]:
        cols[c] = cols[c] + shift[..., 1]
    chosen = torch.stack(cols, -1)
    unused = torch.isinf(best)
    cam_bound = torch.cat([cam.gather(1, idx[..., None].expand(-1, -1, 3)), r.gather(1, idx)[..., None]], -1)
    return chosen, cam_bound, dist.gather(1, idx), unused


def cull_tiles(kind, chosen, cam_bound, dist, unused, K, tiles_y, tiles_x, tile):
    """Nearest primitives overlapping each screen tile, prepared for intersection (primitives.prepare).
    -> (B, T, k_t, P'), T = tiles_y * tiles_x."""
    B, k, P = chosen.shape
    x, y, z, r = cam_bound.unbind(-1)                                           # (B, k)
    fx, fy, cx, cy = (K[:, i, j, None] for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    zn, zf = (z - r).clamp(min=1e-3), z + r
    # The sphere lies inside its bounding box; the box's projection is bounded by its corners.
    us = torch.stack([(x - r) / zn, (x - r) / zf, (x + r) / zn, (x + r) / zf], -1)
    vs = torch.stack([(y - r) / zn, (y - r) / zf, (y + r) / zn, (y + r) / zf], -1)
    u0, u1 = cx + fx * us.amin(-1), cx + fx * us.amax(-1)
    v0, v1 = cy + fy * vs.amin(-1), cy + fy * vs.amax(-1)
    straddles = (z - r) <= 1e-3                                                 # crosses the camera plane
    u0, v0 = torch.where(straddles, -INF, u0), torch.where(straddles, -INF, v0)
    u1, v1 = torch.where(straddles, INF, u1), torch.where(straddles, INF, v1)
    ty = torch.arange(tiles_y, device=chosen.device).repeat_interleave(tiles_x) * tile   # (T,)
    tx = torch.arange(tiles_x, device=chosen.device).repeat(tiles_y) * tile
    overlap = (u1[:, None, :] >= tx[None, :, None]) & (u0[:, None, :] <= tx[None, :, None] + tile) \
        & (v1[:, None, :] >= ty[None, :, None]) & (v0[:, None, :] <= ty[None, :, None] + tile) \
        & ~unused[:, None, :]                                                   # (B, T, k)
    score = torch.where(overlap, dist[:, None, :], INF)
    kt = min(TILE_KEEP[kind], k)
    best, idx = score.topk(kt, dim=-1, largest=False)                           # (B, T, kt)
    per_tile = chosen.gather(1, idx.reshape(B, -1, 1).expand(-1, -1, P)).reshape(B, -1, kt, P)
    dead = dead_primitive(kind, P, chosen.device)
    return prepare(kind, torch.where(torch.isinf(best)[..., None], dead, per_tile))
