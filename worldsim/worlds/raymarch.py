"""The batched ray-marcher: renders B cameras of one world in one call, on CPU or GPU.

    scene = Scene.from_world(build_world(7), device)
    frames = render(scene, c2w, K, height, width)       # c2w (B, 4, 4), K (B, 3, 3) -> uint8 (B, H, W, 3)

Cameras follow the OpenCV convention (x right, y down, z forward; c2w camera-to-world; pixel
centres at (j + 0.5, i + 0.5)). Rays are laid out by screen tile. The terrain is marched against
the precomputed height grid (march.py); each tile's nearest primitives are intersected
analytically (culling.py, primitives.py); the nearest hit is shaded: Lambert with the sun, sky
ambient, water reflecting the sky, distance fog. `shade` and the march chunks are pure tensor
functions that `torch.compile` fuses (compiled.py); `EAGER` runs the same code uncompiled.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch

from .culling import CAMERA_KEEP, bounding_spheres, cull_cameras, cull_tiles, dead_primitive
from .march import FAR, bilinear, bisect, clearance_grid, march_chunk, march_terrain
from .primitives import hit_boxes, hit_ellipsoids, hit_frustums, normals
from .world import World, cpu_threads  # noqa: F401 -- cpu_threads is part of this module's API

KINDS = ("frustums", "ellipsoids", "boxes")
HITS = {"frustums": hit_frustums, "ellipsoids": hit_ellipsoids, "boxes": hit_boxes}


@dataclass
class Scene:
    """A world's tensors on one device: everything the ray-marcher reads."""
    height: torch.Tensor              # (G*G, 2) marching height (terrain raised to the water), clearance;
                                      # row-major (z, x)
    shading: torch.Tensor             # (G*G, 8) albedo rgb, normal xyz, water flag, sunlight
    sky: torch.Tensor                 # (16,) see Sky.as_tensor
    tables: dict[str, torch.Tensor]   # kind -> (M, P) primitive table (objects.py)
    bounds: dict[str, torch.Tensor]   # kind -> (M, 4) bounding spheres
    grid: int
    size_m: float
    top: float                        # highest surface point, metres

    @classmethod
    def from_world(cls, world: World, device="cpu") -> "Scene":
        t, o = world.terrain, world.objects
        water = (t.height < t.water_level).float()[..., None]
        shading = torch.cat([t.shading, water, world.sunlight[..., None]], -1).reshape(-1, 8)
        tables = {k: _padded(k, v) for k, v in
                  (("frustums", o.frustums), ("ellipsoids", o.ellipsoids), ("boxes", o.boxes))}
        bounds = {k: bounding_spheres(k, v) for k, v in tables.items()}
        mv = lambda x: x.to(device=device, dtype=torch.float32).contiguous()   # noqa: E731
        march = torch.stack([t.march_height, clearance_grid(t.march_height)], -1).reshape(-1, 2)
        return cls(mv(march), mv(shading), mv(world.sky.as_tensor()),
                   {k: mv(v) for k, v in tables.items()}, {k: mv(v) for k, v in bounds.items()},
                   t.grid, t.size_m, float(t.march_height.max()))


def _padded(kind: str, table: torch.Tensor) -> torch.Tensor:
    """At least CAMERA_KEEP rows (never-hit rows appended), so culled tables have fixed sizes."""
    missing = CAMERA_KEEP[kind] - table.shape[0]
    if missing <= 0:
        return table
    return torch.cat([table, dead_primitive(kind, table.shape[1], table.device).expand(missing, -1)])


class SceneStack:
    """Several worlds' grids concatenated, so cameras of different worlds render in one call."""

    def __init__(self, scenes: list[Scene]):
        first = scenes[0]
        if any(s.grid != first.grid or s.size_m != first.size_m for s in scenes):
            raise ValueError("worlds rendered together must share grid size and world size")
        self.scenes = list(scenes)
        one = len(scenes) == 1
        self.height = first.height if one else torch.cat([s.height for s in scenes])     # (W*G*G, 2)
        self.shading = first.shading if one else torch.cat([s.shading for s in scenes])  # (W*G*G, 8)
        self.sky = torch.stack([s.sky for s in scenes])                                  # (W, 16)
        self.grid, self.size_m = first.grid, first.size_m
        self.top = max(s.top for s in scenes)


def tile_size(height: int, width: int) -> int:
    for tile in (8,):
        if height % tile == 0 and width % tile == 0:
            return tile
    raise ValueError(f"width and height must be multiples of 8, got {width}x{height}")


def camera_rays(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int, tile: int) -> torch.Tensor:
    """Unit world-space ray directions of every pixel centre, by tile. -> (B, T, tile*tile, 3)."""
    dev = c2w.device
    ty, tx = height // tile, width // tile
    i = torch.arange(height, device=dev).reshape(ty, 1, tile, 1).expand(ty, tx, tile, tile)
    j = torch.arange(width, device=dev).reshape(1, tx, 1, tile).expand(ty, tx, tile, tile)
    v = i.reshape(1, -1).float() + 0.5                                          # (1, H*W) tile-major
    u = j.reshape(1, -1).float() + 0.5
    fx, fy, cx, cy = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 2, None], K[:, 1, 2, None]
    d_cam = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(u).expand(K.shape[0], -1)], -1)
    d = d_cam @ c2w[:, :3, :3].transpose(1, 2)                                  # (B, H*W, 3)
    d = d / d.norm(dim=-1, keepdim=True)
    return d.reshape(K.shape[0], ty * tx, tile * tile, 3)


def _sky_colour(d: torch.Tensor, sky: torch.Tensor) -> torch.Tensor:
    sun_dir, sun, zenith, horizon = sky[..., 0:3], sky[..., 3:6], sky[..., 6:9], sky[..., 9:12]
    up = d[..., 1:2].clamp(min=0).sqrt()
    base = horizon * (1 - up) + zenith * up
    cos = (d * sun_dir).sum(-1, keepdim=True).clamp(min=0)
    return base + sun * (0.25 * cos ** 8 + 4.0 * cos ** 900)


def shade(shading, base, sky, origin, d, t_terrain, frustums, ellipsoids, boxes, grid: int, inv_cell: float):
    """Colour of every ray: the nearest of terrain and tile primitives, lit and fogged.
    base (B, 1, 1) grid offset of each camera's world; sky (B, 1, 1, 16); origin (B, 1, 1, 3)
    wrapped world position; d (B, T, n, 3); t_terrain (B, T, n);
    tables (B, T, k, P) relative to the camera. -> linear RGB (B, T, n, 3)."""
    p = origin + d * torch.where(torch.isinf(t_terrain), 0.0, t_terrain)[..., None]
    cell = bilinear(shading, base, p[..., 0], p[..., 2], grid, inv_cell)               # (B, T, n, 8)
    albedo, normal, water, sunlight = cell[..., 0:3], cell[..., 3:6], cell[..., 6:7], cell[..., 7:8]
    t_best = t_terrain
    for kind, table in (("frustums", frustums), ("ellipsoids", ellipsoids), ("boxes", boxes)):
        t_k, idx = HITS[kind](d, table).min(-1)                                 # (B, T, n)
        prim = table.gather(-2, idx[..., None].expand(*idx.shape, table.shape[-1]))
        nearer = (t_k < t_best)[..., None]
        n_k = normals(kind, d * t_k.clamp(max=FAR)[..., None], prim)
        albedo = torch.where(nearer, prim[..., -3:], albedo)
        normal = torch.where(nearer, n_k, normal)
        water = torch.where(nearer, 0.0, water)
        sunlight = torch.where(nearer, 1.0, sunlight)
        t_best = torch.minimum(t_best, t_k)
    sun_dir, sun, zenith, horizon, density = sky[..., 0:3], sky[..., 3:6], sky[..., 6:9], sky[..., 9:12], sky[..., 12:13]
    lambert = (normal * sun_dir).sum(-1, keepdim=True).clamp(min=0) * sunlight
    ambient = 0.6 * (0.5 * zenith + 0.5 * horizon) * (0.6 + 0.4 * normal[..., 1:2])
    lit = albedo * (ambient + 0.85 * sun * lambert)
    # water mixes in the reflected sky, more at grazing angles (Schlick-like)
    mirror = torch.stack([d[..., 0], -d[..., 1], d[..., 2]], -1)
    fresnel = 0.25 + 0.65 * (1 - (-d[..., 1:2]).clamp(0, 1)) ** 5
    lit = torch.where(water > 0.5, lit * (1 - fresnel) + _sky_colour(mirror, sky) * fresnel, lit)
    fog = 1 - torch.exp(-density * t_best.clamp(max=FAR)[..., None])
    surface = lit * (1 - fog) + (0.85 * horizon + 0.15 * sun) * fog
    return torch.where((t_best < FAR)[..., None], surface, _sky_colour(d, sky))


EAGER = SimpleNamespace(march_chunk=march_chunk, bisect=bisect, shade=shade)


def render(scenes: Scene | SceneStack, c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
           world: torch.Tensor | None = None, kernels=EAGER) -> torch.Tensor:
    """Render B cameras in one call. c2w (B, 4, 4), K (B, 3, 3) at this resolution; `world` (B,)
    the index of each camera's world in the stack (default all 0). -> uint8 (B, H, W, 3)."""
    stack = scenes if isinstance(scenes, SceneStack) else SceneStack([scenes])
    dev = stack.height.device
    c2w, K = c2w.to(dev, torch.float32), K.to(dev, torch.float32)
    B, tile = c2w.shape[0], tile_size(height, width)
    world = torch.zeros(B, dtype=torch.long, device=dev) if world is None else world.to(dev)
    ty, tx, n = height // tile, width // tile, tile * tile
    o = c2w[:, :3, 3]
    origin = torch.stack([torch.remainder(o[:, 0], stack.size_m), o[:, 1],
                          torch.remainder(o[:, 2], stack.size_m)], -1)            # (B, 3) wrapped
    d = camera_rays(c2w, K, height, width, tile)                                 # (B, T, n, 3)
    inv_cell = stack.grid / stack.size_m
    base = world * stack.grid * stack.grid                                       # (B,)
    t_terrain = march_terrain(stack.height, base.repeat_interleave(height * width),
                              origin.repeat_interleave(height * width, 0), d.reshape(-1, 3),
                              stack.grid, inv_cell, stack.top, kernels).reshape(B, ty * tx, n)
    tables = {kind: [None] * B for kind in KINDS}
    for w in world.unique().tolist():                                            # cull per world
        cams = (world == w).nonzero().squeeze(1)
        scene = stack.scenes[w]
        for kind in KINDS:
            culled = cull_cameras(kind, scene.tables[kind], scene.bounds[kind], origin[cams],
                                  c2w[cams], K[cams], height, width, stack.size_m)
            per_tile = cull_tiles(kind, *culled, K[cams], ty, tx, tile)          # (b, T, k, P)
            for j, cam in enumerate(cams.tolist()):
                tables[kind][cam] = per_tile[j]
    tables = {kind: torch.stack(v) for kind, v in tables.items()}
    rgb = kernels.shade(stack.shading, base[:, None, None], stack.sky[world][:, None, None, :],
                        origin[:, None, None, :], d, t_terrain, tables["frustums"], tables["ellipsoids"],
                        tables["boxes"], stack.grid, inv_cell)
    rgb = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8)                          # (B, T, n, 3)
    rgb = rgb.reshape(B, ty, tx, tile, tile, 3).permute(0, 1, 3, 2, 4, 5)
    return rgb.reshape(B, height, width, 3)
