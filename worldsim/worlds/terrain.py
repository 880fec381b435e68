"""Terrain of a world: fractal height field, moisture, biomes, surface colours and normals.

The world is a square of `size_m` metres that wraps around (a torus), sampled on a (G, G) grid
(row = z, column = x). Everything the ray-marcher needs is precomputed here once per seed:
the marching height (terrain raised to the water surface) and a shading grid (albedo, normal).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .noise import fbm

BIOMES = ("water", "sand", "grass", "forest", "rock", "snow")
WATER, SAND, GRASS, FOREST, ROCK, SNOW = range(6)

# Palettes: base albedo per biome, chosen per seed ("climate") for variety.
PALETTES = {
    "temperate": {SAND: (0.76, 0.70, 0.50), GRASS: (0.30, 0.55, 0.20), FOREST: (0.16, 0.36, 0.12),
                  ROCK: (0.45, 0.42, 0.40), SNOW: (0.92, 0.94, 0.97)},
    "autumn":    {SAND: (0.74, 0.66, 0.48), GRASS: (0.52, 0.52, 0.22), FOREST: (0.40, 0.28, 0.12),
                  ROCK: (0.48, 0.43, 0.38), SNOW: (0.92, 0.93, 0.96)},
    "alpine":    {SAND: (0.66, 0.62, 0.52), GRASS: (0.34, 0.50, 0.28), FOREST: (0.12, 0.28, 0.16),
                  ROCK: (0.40, 0.40, 0.42), SNOW: (0.95, 0.96, 0.99)},
    "arid":      {SAND: (0.82, 0.68, 0.45), GRASS: (0.58, 0.55, 0.30), FOREST: (0.30, 0.40, 0.18),
                  ROCK: (0.62, 0.45, 0.33), SNOW: (0.93, 0.93, 0.95)},
}


@dataclass
class Terrain:
    size_m: float                 # side of the wrapping square, metres
    height: torch.Tensor          # (G, G) terrain height, metres
    march_height: torch.Tensor    # (G, G) max(height, water_level): what rays and walkers hit
    shading: torch.Tensor         # (G, G, 6) albedo rgb, normal xyz of the marched surface
    biome: torch.Tensor           # (G, G) int8 index into BIOMES
    slope: torch.Tensor           # (G, G) |grad height|, rise over run
    water_level: float
    snow_line: float
    climate: str

    @property
    def grid(self) -> int:
        return self.height.shape[0]

    @property
    def cell_m(self) -> float:
        return self.size_m / self.grid

    def sample(self, field: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Bilinear sample of a (G, G[, C]) field at world (x, z), wrapping; the ray-marcher's rule."""
        g = self.grid
        gx, gz = x / self.cell_m, z / self.cell_m
        x0, z0 = gx.floor(), gz.floor()
        fx, fz = gx - x0, gz - z0
        x0, z0 = x0.long() % g, z0.long() % g
        x1, z1 = (x0 + 1) % g, (z0 + 1) % g
        flat = field.reshape(g * g, -1)
        if field.dim() == 3:
            fx, fz = fx[..., None], fz[..., None]

        def at(zi, xi):        # index_select: advanced indexing is much slower on CPU
            out = flat.index_select(0, (zi * g + xi).reshape(-1))
            return out.reshape(tuple(zi.shape) + tuple(field.shape[2:]))
        top = at(z0, x0) * (1 - fx) + at(z0, x1) * fx
        bottom = at(z1, x0) * (1 - fx) + at(z1, x1) * fx
        return top * (1 - fz) + bottom * fz

    def ground_height(self, x: float, z: float) -> float:
        """Height a walker stands on at (x, z): the terrain, or the water surface over water.
        The same bilinear rule as `sample`, in plain Python (called once per tick by walkers)."""
        if getattr(self, "_ground", None) is None:
            self._ground = self.march_height.cpu().double().numpy()
        g, h = self.grid, self._ground
        gx, gz = float(x) / self.cell_m, float(z) / self.cell_m
        x0, z0 = math.floor(gx), math.floor(gz)
        fx, fz = gx - x0, gz - z0
        x0, z0 = x0 % g, z0 % g
        x1, z1 = (x0 + 1) % g, (z0 + 1) % g
        top = h[z0, x0] * (1 - fx) + h[z0, x1] * fx
        bottom = h[z1, x0] * (1 - fx) + h[z1, x1] * fx
        return float(top * (1 - fz) + bottom * fz)

    def biome_at(self, x: float, z: float) -> str:
        i = int(z // self.cell_m) % self.grid
        j = int(x // self.cell_m) % self.grid
        return BIOMES[int(self.biome[i, j])]


def _gradient(h: torch.Tensor, cell: float) -> tuple[torch.Tensor, torch.Tensor]:
    dx = (torch.roll(h, -1, 1) - torch.roll(h, 1, 1)) / (2 * cell)
    dz = (torch.roll(h, -1, 0) - torch.roll(h, 1, 0)) / (2 * cell)
    return dx, dz


def build_terrain(gen: torch.Generator, grid: int = 512, size_m: float = 1024.0) -> Terrain:
    cell = size_m / grid
    climate = list(PALETTES)[int(torch.randint(len(PALETTES), (1,), generator=gen))]
    continent = fbm(grid, 3, 3, gen)
    hills = fbm(grid, 10, 5, gen)
    ridges = fbm(grid, 8, 5, gen, gain=0.45, ridged=True)
    mountains = ((continent - 0.05) / 0.45).clamp(0, 1)
    mountains = mountains * mountains * (3 - 2 * mountains)                 # smoothstep
    height = 30 * continent + 6 * hills + 55 * mountains * (0.5 + 0.5 * ridges)
    height = height - height.min()

    water_q = {"arid": 0.05, "alpine": 0.10}.get(climate, 0.18)
    snow_q = {"alpine": 0.75, "arid": 0.985}.get(climate, 0.92)
    flat = height.flatten()
    water_level = float(flat.kthvalue(max(1, int(water_q * flat.numel()))).values)
    snow_line = float(flat.kthvalue(int(snow_q * flat.numel())).values)
    march = height.clamp(min=water_level)

    moisture = fbm(grid, 6, 4, gen)
    detail = fbm(grid, 64, 2, gen)                                        # fine tint / edge noise
    dx, dz = _gradient(height, cell)
    slope = (dx * dx + dz * dz).sqrt()

    biome = torch.full((grid, grid), GRASS, dtype=torch.int8)
    biome[moisture + 0.15 * detail > 0.12] = FOREST
    rock_line = water_level + 0.7 * (snow_line - water_level)
    biome[(height > rock_line + 4 * detail) | (slope > 0.85)] = ROCK
    biome[(height > snow_line + 5 * detail) & (slope < 1.1)] = SNOW
    biome[height < water_level + 1.2 + 0.8 * detail] = SAND
    biome[height < water_level] = WATER

    palette = PALETTES[climate]
    albedo = torch.zeros(grid, grid, 3)
    for b, rgb in palette.items():
        albedo[biome == b] = torch.tensor(rgb)
    depth = (water_level - height).clamp(min=0)
    mix = (depth / 6).clamp(0, 1)[..., None]
    water = torch.tensor((0.10, 0.35, 0.38)) * (1 - mix) + torch.tensor((0.02, 0.10, 0.22)) * mix
    albedo = torch.where((biome == WATER)[..., None], water, albedo * (1 + 0.12 * detail[..., None]))

    mdx, mdz = _gradient(march, cell)
    normal = torch.stack([-mdx, torch.ones_like(mdx), -mdz], -1)
    normal = normal / normal.norm(dim=-1, keepdim=True)
    shading = torch.cat([albedo.clamp(0, 1), normal], -1).contiguous()
    return Terrain(size_m, height.contiguous(), march.contiguous(), shading, biome, slope,
                   water_level, snow_line, climate)
