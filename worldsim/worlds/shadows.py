"""Sun shadows baked into the ground once per world: terrain self-shadowing and tree shadows.

The result is a (G, G) sunlight factor in [0, 1] (1 = in full sun) that the shader multiplies
into the sun term of the terrain, so shadows cost nothing per frame. Objects themselves are lit
without shadows.
"""
from __future__ import annotations

import math

import torch

from .objects import Objects
from .terrain import Terrain


def terrain_shadow(terrain: Terrain, sun_dir, steps: int = 40, softness: float = 8.0) -> torch.Tensor:
    """March from every grid point toward the sun over the height grid. -> (G, G) in [0, 1]."""
    g, cell = terrain.grid, terrain.cell_m
    h = terrain.march_height                                   # (G, G)
    sx, sy, sz = sun_dir
    flat = math.hypot(sx, sz)
    if flat < 1e-6:
        return torch.ones(g, g)
    ux, uz, rise = sx / flat, sz / flat, sy / flat             # per metre travelled horizontally
    z, x = torch.meshgrid(torch.arange(g) * cell, torch.arange(g) * cell, indexing="ij")
    light = torch.ones(g, g)
    s = cell
    for _ in range(steps):                                     # distances grow to a few hundred metres
        above = h + rise * s - terrain.sample(h, x + ux * s, z + uz * s)
        light = torch.minimum(light, (softness * above / s + 0.5).clamp(0, 1))
        s *= 1.14
    return light


def tree_shadows(terrain: Terrain, objects: Objects, sun_dir, darkness: float = 0.75) -> torch.Tensor:
    """Soft discs on the ground under each crown, offset away from the sun. -> (G, G) in [0, 1]."""
    g, cell = terrain.grid, terrain.cell_m
    sx, sy, sz = sun_dir
    flat = math.hypot(sx, sz)
    slope = flat / max(sy, 0.08)                               # horizontal shift per metre of height
    ux, uz = (sx / flat, sz / flat) if flat > 1e-6 else (0.0, 0.0)
    f, e = objects.frustums, objects.ellipsoids
    crowns = []
    cone = (f[:, 5] == 0) & (f[:, 4] < 4.0)                    # pine crowns (not roofs)
    crowns.append(torch.stack([f[cone, 0], f[cone, 2], (f[cone, 1] + f[cone, 3]) / 2, f[cone, 4] * 0.8, f[cone, 1]], 1))
    tall = e[:, 4] > 1.2                                       # broadleaf crowns (not rocks)
    crowns.append(torch.stack([e[tall, 0], e[tall, 2], e[tall, 1], e[tall, 3], e[tall, 1] - e[tall, 4] - 2.5], 1))
    c = torch.cat(crowns)                                      # x, z, crown centre y, radius, ground y
    if c.numel() == 0:
        return torch.ones(g, g)
    lift = (c[:, 2] - c[:, 4]).clamp(min=0)
    cx, cz = c[:, 0] - ux * lift * slope, c[:, 1] - uz * lift * slope
    stretch = min(1.0 + slope, 4.0)                            # long shadows at a low sun
    reach = int(math.ceil(3.5 * stretch / cell)) + 1
    offs = torch.arange(-reach, reach + 1)
    oz, ox = torch.meshgrid(offs, offs, indexing="ij")
    ix = (cx / cell).round().long()[:, None] + ox.reshape(1, -1)          # (N, W*W)
    iz = (cz / cell).round().long()[:, None] + oz.reshape(1, -1)
    dx, dz = ix * cell - cx[:, None], iz * cell - cz[:, None]
    along = (dx * -ux + dz * -uz) / stretch                    # squeeze along the sun's direction
    across = dx * uz - dz * ux
    dist = (along * along + across * across).sqrt() / c[:, 3:4]
    shade = 1 - darkness * (1.3 - dist).clamp(0, 1).clamp(max=1.0)
    light = torch.ones(g * g)
    light.scatter_reduce_(0, ((iz % g) * g + ix % g).reshape(-1), shade.reshape(-1), "amin")
    return light.reshape(g, g)
