"""A world from an integer seed: terrain, objects, sky and time of day.

    world = build_world(7)                       # deterministic; cached per seed
    world.terrain.ground_height(x, z)            # what a walking camera stands on
    world.describe(x, z)                         # "a snowy pine forest at dusk" (for captions)

Worlds are built on CPU (a few hundred ms) and copied to a device with `world.to(device)`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache

import torch

from .objects import Objects, place_objects
from .shadows import terrain_shadow, tree_shadows
from .terrain import Terrain, build_terrain

# name -> (sun elevation in degrees, sun colour, sky zenith, sky horizon)
TIMES_OF_DAY = {
    "dawn":      (7.0,  (1.00, 0.62, 0.40), (0.30, 0.38, 0.62), (0.95, 0.66, 0.52)),
    "morning":   (28.0, (1.00, 0.92, 0.80), (0.28, 0.48, 0.85), (0.75, 0.84, 0.95)),
    "noon":      (62.0, (1.00, 0.98, 0.92), (0.22, 0.45, 0.88), (0.70, 0.82, 0.96)),
    "afternoon": (35.0, (1.00, 0.90, 0.74), (0.25, 0.45, 0.82), (0.78, 0.82, 0.90)),
    "dusk":      (5.0,  (1.00, 0.50, 0.30), (0.22, 0.22, 0.45), (0.92, 0.52, 0.42)),
}


@dataclass(frozen=True)
class Sky:
    time_of_day: str
    sun_dir: tuple[float, float, float]      # unit vector towards the sun (world, +y up)
    sun_colour: tuple[float, float, float]
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    fog_density: float                       # per metre: fog = 1 - exp(-density * distance)

    def as_tensor(self, device=None) -> torch.Tensor:
        """(16,) sun_dir, sun_colour, zenith, horizon, fog_density, 3 spare: the shader's input."""
        return torch.tensor([*self.sun_dir, *self.sun_colour, *self.zenith, *self.horizon,
                             self.fog_density, 0.0, 0.0, 0.0], device=device)


@dataclass
class World:
    seed: int
    terrain: Terrain
    objects: Objects
    sky: Sky
    sunlight: torch.Tensor        # (G, G) in [0, 1]: sun reaching the ground (shadows.py)

    def to(self, device) -> "World":
        t, o = self.terrain, self.objects
        terrain = replace(t, height=t.height.to(device), march_height=t.march_height.to(device),
                          shading=t.shading.to(device))
        objects = replace(o, frustums=o.frustums.to(device), ellipsoids=o.ellipsoids.to(device),
                          boxes=o.boxes.to(device))
        return replace(self, terrain=terrain, objects=objects)

    def describe(self, x: float, z: float) -> str:
        """A short phrase for the place (x, z): 'a snowy pine forest at dusk'."""
        biome = self.terrain.biome_at(x, z)
        place = {
            "water": "across a lake", "sand": "along a sandy shore",
            "grass": {"autumn": "over golden meadows", "arid": "over dry grassland"}.get(self.terrain.climate, "over green meadows"),
            "forest": {"alpine": "through a pine forest", "autumn": "through an autumn forest"}.get(self.terrain.climate, "through a forest"),
            "rock": "over rocky slopes", "snow": "across snowy peaks",
        }[biome]
        return f"{place} at {self.sky.time_of_day}"

    def spawn_point(self, index: int = 0) -> tuple[float, float]:
        """A dry spot near the world's centre to start a walk (deterministic per index)."""
        gen = torch.Generator().manual_seed(self.seed * 7919 + index)
        t = self.terrain
        for _ in range(64):
            x, z = (torch.rand(2, generator=gen) * t.size_m).tolist()
            if t.sample(t.height, torch.tensor(x), torch.tensor(z)) > t.water_level + 1.0:
                return x, z
        return x, z


def build_sky(gen: torch.Generator) -> Sky:
    names = list(TIMES_OF_DAY)
    name = names[int(torch.randint(len(names), (1,), generator=gen))]
    elevation, sun, zenith, horizon = TIMES_OF_DAY[name]
    azimuth = float(torch.rand(1, generator=gen)) * 2 * math.pi
    e = math.radians(elevation)
    sun_dir = (math.cos(e) * math.sin(azimuth), math.sin(e), -math.cos(e) * math.cos(azimuth))
    fog = 0.004 + 0.004 * float(torch.rand(1, generator=gen))
    return Sky(name, sun_dir, sun, zenith, horizon, fog)


@contextmanager
def cpu_threads(n: int | None):
    """Run the block with torch using `n` CPU threads (None: unchanged), then restore. On a small,
    shared CPU one thread is often fastest: OpenMP threads wait on each other when a core is busy."""
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@lru_cache(maxsize=8)
def build_world(seed: int, grid: int = 512, size_m: float = 1024.0) -> World:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"world seed must be a non-negative integer, got {seed!r}")
    gen = torch.Generator().manual_seed(seed)
    with cpu_threads(1):
        terrain = build_terrain(gen, grid, size_m)
        sky = build_sky(gen)
        objects = place_objects(terrain, gen)
        sunlight = terrain_shadow(terrain, sky.sun_dir) * tree_shadows(terrain, objects, sky.sun_dir)
    return World(seed, terrain, objects, sky, sunlight)
