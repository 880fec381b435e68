"""Analytic ray intersections with the world's primitives, batched over cameras, rays and primitives.

Every function works in camera-relative coordinates: all rays of a camera start at the origin, and
the primitive tables (..., K, P) hold positions relative to that camera (see `culling.py`).
Rays d are unit vectors (..., N, 3), where ... is (cameras, screen tiles). A miss is t = +inf. Table layouts are in `objects.py`.
"""
from __future__ import annotations

import torch

NEAR = 0.05          # metres: hits closer than this are ignored (the camera is inside nothing)
INF = float("inf")


def _split(d: torch.Tensor, table: torch.Tensor):
    # d (..., N, 3) -> three (..., N, 1); table (..., K, P) -> columns (..., 1, K)
    dx, dy, dz = d[..., 0:1], d[..., 1:2], d[..., 2:3]
    cols = [table[..., None, :, i] for i in range(table.shape[-1])]
    return dx, dy, dz, cols


def prepare(kind: str, table: torch.Tensor) -> torch.Tensor:
    """Per-primitive constants of the intersection, computed once per tile instead of per ray.
    frustums (..., 9) -> (..., 10): cx, y0, cz, y1, A, s, c0, rgb  (radius along a ray = A + s*dy*t)
    ellipsoids (..., 9) -> (..., 10): c/r (3), 1/r (3), |c/r|^2 - 1, rgb;  boxes unchanged."""
    if kind == "frustums":
        cx, y0, cz, y1, r0, r1 = table[..., :6].unbind(-1)
        s = (r1 - r0) / (y1 - y0).clamp(min=1e-4)
        A = r0 - s * y0
        c0 = cx * cx + cz * cz - A * A
        return torch.cat([torch.stack([cx, y0, cz, y1, A, s, c0], -1), table[..., 6:9]], -1)
    if kind == "ellipsoids":
        inv = 1 / table[..., 3:6]
        v = table[..., 0:3] * inv
        return torch.cat([v, inv, (v * v).sum(-1, keepdim=True) - 1, table[..., 6:9]], -1)
    return table


def hit_frustums(d: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Vertical truncated cones: the side, and the flat ends where a ray enters through them. -> t (..., N, K)."""
    dx, dy, dz, (cx, y0, cz, y1, A, s, c0) = _split(d, table[..., :7])
    B = s * dy                                        # radius along the ray: A + B t
    a = dx * dx + dz * dz - B * B
    a = torch.where(a.abs() < 1e-7, torch.full_like(a, 1e-7), a)
    b = -2 * (cx * dx + cz * dz + A * B)
    disc = b * b - 4 * a * c0
    sq = disc.clamp(min=0).sqrt()
    half = 0.5 / a
    ta, tb = (-b - sq) * half, (-b + sq) * half
    t1, t2 = torch.minimum(ta, tb), torch.maximum(ta, tb)

    def valid(t):
        y = t * dy
        return (t > NEAR) & (y >= y0) & (y <= y1) & (A + B * t >= 0)
    # a ray that meets only the far side entered through a flat end: hit that end's plane instead
    t_end = torch.where(dy > 0, y0, y1) / torch.where(dy.abs() < 1e-7, torch.full_like(dy, 1e-7), dy)
    far_only = valid(t2) & (t_end > NEAR)
    return torch.where(disc < 0, INF, torch.where(valid(t1), t1, torch.where(far_only, t_end, INF)))


def hit_ellipsoids(d: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Axis-aligned ellipsoids (prepared: c/r, 1/r, |c/r|^2 - 1). -> t (..., N, K)."""
    dx, dy, dz, (vx, vy, vz, ix, iy, iz, c) = _split(d, table[..., :7])
    ux, uy, uz = dx * ix, dy * iy, dz * iz
    a = ux * ux + uy * uy + uz * uz
    b = ux * vx + uy * vy + uz * vz                   # half of the usual b, sign flipped
    disc = b * b - a * c
    t = (b - disc.clamp(min=0).sqrt()) / a
    return torch.where((disc >= 0) & (t > NEAR), t, INF)


def hit_boxes(d: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Boxes rotated about +y (centre, half sizes, cos, sin of yaw). -> t (..., N, K)."""
    dx, dy, dz, (cx, cy, cz, hx, hy, hz, co, si) = _split(d, table[..., :8])
    # into the box frame: local = R_y(yaw)^T (t d - c)
    lx, lz = co * dx - si * dz, si * dx + co * dz
    ox, oz = -(co * cx - si * cz), -(si * cx + co * cz)
    oy = -cy
    near = torch.full_like(lx, -INF)
    far = torch.full_like(lx, INF)
    for o, u, h in ((ox, lx, hx), (oy, dy.expand_as(lx), hy), (oz, lz, hz)):
        inv = 1 / torch.where(u.abs() < 1e-8, torch.full_like(u, 1e-8), u)
        ta, tb = (-h - o) * inv, (h - o) * inv
        near = torch.maximum(near, torch.minimum(ta, tb))
        far = torch.minimum(far, torch.maximum(ta, tb))
    return torch.where((near <= far) & (near > NEAR), near, INF)


def normals(kind: str, p: torch.Tensor, prim: torch.Tensor) -> torch.Tensor:
    """Outward unit normal at hit points p (..., 3) on prepared primitives prim (..., P) of `kind`."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    if kind == "frustums":
        cx, y0, cz, y1, s = prim[..., 0], prim[..., 1], prim[..., 2], prim[..., 3], prim[..., 5]
        ex, ez = x - cx, z - cz
        rho = (ex * ex + ez * ez).sqrt().clamp(min=1e-6)
        side = torch.stack([ex / rho, -s, ez / rho], -1)
        end = torch.stack([torch.zeros_like(y), torch.where(y < 0.5 * (y0 + y1), -1.0, 1.0), torch.zeros_like(y)], -1)
        on_end = ((y - y0).abs() < 1e-3) | ((y - y1).abs() < 1e-3)
        n = torch.where(on_end[..., None], end, side)
    elif kind == "ellipsoids":
        v, inv = prim[..., 0:3], prim[..., 3:6]
        n = (p * inv - v) * inv
    else:
        cx, cy, cz, hx, hy, hz, co, si = prim[..., :8].unbind(-1)
        ex, ey, ez = x - cx, y - cy, z - cz
        qx, qy, qz = (co * ex - si * ez) / hx, ey / hy, (si * ex + co * ez) / hz
        ax, ay, az = qx.abs(), qy.abs(), qz.abs()
        nx = torch.where((ax >= ay) & (ax >= az), qx.sign(), torch.zeros_like(qx))
        ny = torch.where((ay > ax) & (ay >= az), qy.sign(), torch.zeros_like(qy))
        nz = torch.where((az > ax) & (az > ay), qz.sign(), torch.zeros_like(qz))
        n = torch.stack([co * nx + si * nz, ny, -si * nx + co * nz], -1)   # back to world
    return n / n.norm(dim=-1, keepdim=True).clamp(min=1e-8)
