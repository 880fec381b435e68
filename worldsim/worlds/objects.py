"""Objects of a world as analytic primitives: trees, rocks, houses and towers.

Three primitive kinds cover everything, each a table with one row per primitive:
  frustums   (N, 9): cx, y0, cz, y1, r0, r1, r, g, b   vertical truncated cone (cylinder: r0 = r1,
                                                        cone: r1 = 0); trunks, crowns, towers, roofs
  ellipsoids (N, 9): cx, cy, cz, rx, ry, rz, r, g, b   rocks, broadleaf crowns
  boxes      (N, 11): cx, cy, cz, hx, hy, hz, cos, sin, r, g, b   house walls, rotated about +y
Positions are inside the wrapping square [0, size_m)^2; the renderer wraps them around the camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .terrain import FOREST, GRASS, ROCK, SAND, SNOW, Terrain

COLOURS = {"red": (0.70, 0.16, 0.12), "white": (0.88, 0.86, 0.82), "yellow": (0.85, 0.70, 0.25),
           "blue": (0.22, 0.32, 0.62), "grey": (0.55, 0.55, 0.56), "brown": (0.45, 0.30, 0.18)}


@dataclass
class Landmark:
    kind: str           # "tower" | "house"
    colour: str
    x: float
    z: float


@dataclass
class Objects:
    frustums: torch.Tensor
    ellipsoids: torch.Tensor
    boxes: torch.Tensor
    landmarks: list[Landmark] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _uniform(gen, n, lo, hi):
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def place_objects(terrain: Terrain, gen: torch.Generator, spacing: float = 5.0) -> Objects:
    """Scatter objects on a jittered grid by biome; deterministic for the generator's state."""
    size = terrain.size_m
    side = int(size / spacing)
    jz, jx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    x = ((jx.flatten() + torch.rand(side * side, generator=gen)) * spacing) % size
    z = ((jz.flatten() + torch.rand(side * side, generator=gen)) * spacing) % size
    n = x.numel()
    ground = terrain.sample(terrain.height, x, z)
    i = (z / terrain.cell_m).long() % terrain.grid
    j = (x / terrain.cell_m).long() % terrain.grid
    biome, slope = terrain.biome[i, j].long(), terrain.slope[i, j]
    roll = torch.rand(n, generator=gen)
    alpine = terrain.climate == "alpine"

    p_tree = torch.zeros(n)
    p_tree[biome == FOREST] = 0.45
    p_tree[biome == GRASS] = 0.025
    p_tree[biome == SNOW] = 0.03 if alpine else 0.0
    tree = (roll < p_tree) & (slope < 0.9)
    rock = ~tree & (roll < p_tree + torch.where((biome == ROCK) | (biome == SAND), 0.04, 0.008)) \
        & (biome != 0)
    cold = (ground > terrain.water_level + 0.55 * (terrain.snow_line - terrain.water_level)) | alpine
    pine = tree & (cold | (torch.rand(n, generator=gen) < 0.35))
    broad = tree & ~pine

    frustums, ellipsoids, boxes = [], [], []
    # Pines: a thin trunk and a tall dark cone.
    k = int(pine.sum())
    px, pz, pg = x[pine], z[pine], ground[pine] - 0.3
    tall = _uniform(gen, k, 5.0, 10.0)
    radius = tall * _uniform(gen, k, 0.22, 0.30)
    shade = _uniform(gen, k, 0.8, 1.15)[:, None]
    snowy = (biome[pine] == SNOW)[:, None].float()
    crown = (torch.tensor((0.10, 0.26, 0.14)) * shade) * (1 - snowy) + torch.tensor((0.75, 0.80, 0.82)) * snowy
    trunk = torch.tensor((0.30, 0.20, 0.12)).expand(k, 3)
    frustums.append(torch.cat([torch.stack([px, pg, pz, pg + 1.6, 0.22 * torch.ones(k), 0.18 * torch.ones(k)], 1), trunk], 1))
    frustums.append(torch.cat([torch.stack([px, pg + 1.2, pz, pg + 1.2 + tall, radius, torch.zeros(k)], 1), crown], 1))
    # Broadleaf trees: trunk and a round crown, coloured by climate.
    k = int(broad.sum())
    bx, bz, bg = x[broad], z[broad], ground[broad] - 0.3
    trunk_h = _uniform(gen, k, 1.8, 3.0)
    rx, ry = _uniform(gen, k, 1.8, 3.0), _uniform(gen, k, 1.6, 2.6)
    leaf = {"autumn": (0.62, 0.35, 0.10), "arid": (0.40, 0.45, 0.18)}.get(terrain.climate, (0.20, 0.45, 0.14))
    leaf = torch.tensor(leaf) * _uniform(gen, k, 0.8, 1.2)[:, None]
    frustums.append(torch.cat([torch.stack([bx, bg, bz, bg + trunk_h + 0.5, 0.3 * torch.ones(k), 0.22 * torch.ones(k)], 1),
                               torch.tensor((0.32, 0.22, 0.13)).expand(k, 3)], 1))
    ellipsoids.append(torch.cat([torch.stack([bx, bg + trunk_h + 0.8 * ry, bz, rx, ry, rx * _uniform(gen, k, 0.85, 1.15)], 1),
                                 leaf.clamp(0, 1)], 1))
    # Rocks: squashed ellipsoids sunk into the ground.
    k = int(rock.sum())
    size_r = _uniform(gen, k, 0.5, 2.2)
    grey = torch.tensor((0.47, 0.45, 0.43)) * _uniform(gen, k, 0.75, 1.2)[:, None]
    ellipsoids.append(torch.cat([torch.stack([x[rock], ground[rock], z[rock], size_r * _uniform(gen, k, 0.9, 1.5),
                                              size_r * _uniform(gen, k, 0.5, 0.9), size_r], 1), grey.clamp(0, 1)], 1))

    landmarks = []
    # Houses on flat grass, towers anywhere dry and not too steep: few, well apart.
    flat = ((biome == GRASS) & (slope < 0.12)).nonzero().flatten()
    order = flat[torch.randperm(flat.numel(), generator=gen)]
    names = list(COLOURS)
    for idx in order[:40].tolist():
        hx, hz = float(_uniform(gen, 1, 2.5, 4.5)), float(_uniform(gen, 1, 2.0, 3.5))
        yaw = float(_uniform(gen, 1, 0, 3.1416))
        g = float(ground[idx]) - 0.2
        wall = names[int(torch.randint(2, (1,), generator=gen)) + 1]            # white or yellow
        roof = ("red", "brown", "blue")[int(torch.randint(3, (1,), generator=gen))]
        c, s = torch.cos(torch.tensor(yaw)), torch.sin(torch.tensor(yaw))
        boxes.append(torch.tensor([[x[idx], g + 1.6, z[idx], hx, 1.6, hz, c, s, *COLOURS[wall]]]))
        frustums.append(torch.tensor([[x[idx], g + 3.2, z[idx], g + 5.4, (hx * hx + hz * hz) ** 0.5 + 0.3, 0.15, *COLOURS[roof]]]))
        landmarks.append(Landmark("house", roof + "-roofed", float(x[idx]), float(z[idx])))
    dry = ((biome != 0) & (biome != SAND) & (slope < 0.3)).nonzero().flatten()
    for idx in dry[torch.randperm(dry.numel(), generator=gen)[:6]].tolist():
        colour = names[int(torch.randint(len(names), (1,), generator=gen))]
        r, h = float(_uniform(gen, 1, 2.2, 3.2)), float(_uniform(gen, 1, 12, 20))
        g = float(ground[idx]) - 0.5
        frustums.append(torch.tensor([[x[idx], g, z[idx], g + h, r, r * 0.9, *COLOURS[colour]]]))
        frustums.append(torch.tensor([[x[idx], g + h, z[idx], g + h + 0.6 * h / 2, r + 0.7, 0.0, *COLOURS["red" if colour != "red" else "grey"]]]))
        landmarks.append(Landmark("tower", colour, float(x[idx]), float(z[idx])))

    def table(parts, width):
        return torch.cat(parts, 0).contiguous() if parts else torch.zeros(0, width)
    return Objects(table(frustums, 9), table(ellipsoids, 9), table(boxes, 11), landmarks,
                   {"pines": int(pine.sum()), "broadleaf": int(broad.sum()), "rocks": int(rock.sum()),
                    "houses": len(boxes), "towers": len(landmarks) - len(boxes)})
