"""Compiled ray-marcher kernels, with caches kept across runs.

Two ways to fuse the hot functions (the march chunk, the bisection, the shader):
- `compiled_kernels()`: `torch.compile` (dynamic shapes, cameras as tensors: moving never
  recompiles). Inductor's cache makes later compiles cheaper, but each process still traces
  the kernels (tens of seconds on a small CPU).
- `packaged_kernels()` (CPU): the same kernels exported once with `torch.export` and compiled
  ahead of time by AOTInductor into .pt2 packages; later processes load them in milliseconds.
Both caches live under ~/.cache/worldsim (or $TORCHINDUCTOR_CACHE_DIR for Inductor's).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from ..compile_cache import use_inductor_cache

HERE = Path(__file__).parent
SOURCES = ("march.py", "primitives.py", "raymarch.py", "culling.py", "compiled.py")   # the package key


@lru_cache(maxsize=None)
def compiled_kernels() -> SimpleNamespace:
    """The march chunk, the bisection and the shader, each fused by Inductor
    (C++/OpenMP kernels on CPU, Triton on GPU). Same signatures as raymarch.EAGER."""
    use_inductor_cache()
    import torch

    from .march import bisect, march_chunk
    from .raymarch import shade
    fuse = lambda fn: torch.compile(fn, dynamic=True, fullgraph=True)   # noqa: E731
    return SimpleNamespace(march_chunk=fuse(march_chunk), bisect=fuse(bisect), shade=fuse(shade))


def _package_dir(grid: int, inv_cell: float) -> Path:
    import torch
    digest = hashlib.sha256(f"{torch.__version__} {grid} {inv_cell}".encode())
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    return Path.home() / ".cache" / "worldsim" / "aoti" / digest.hexdigest()[:16]


def _examples(grid: int):
    """Example inputs (sizes >= 2 so no dimension is specialised) and their dynamic dimensions."""
    import torch

    from .culling import TILE_KEEP
    from .primitives import prepare
    R, B, T, n = 64, 2, 3, 64
    Rd, Bd, Td, Wd = (torch.export.Dim(k, min=1) for k in ("rays", "cameras", "tiles", "world_rows"))
    ray = {0: Rd}
    hmap, base = torch.rand(2 * grid * grid, 2), torch.zeros(R, dtype=torch.long)
    march = (hmap, base, torch.rand(R, 3), torch.rand(R, 3), torch.rand(R), torch.rand(R), torch.tensor(50.0))
    march_dims = ({0: Wd}, ray, ray, ray, ray, ray, {})
    tables = [prepare(k, torch.rand(B, T, TILE_KEEP[k], 11 if k == "boxes" else 9) + 0.5)
              for k in ("frustums", "ellipsoids", "boxes")]
    shade = (torch.rand(2 * grid * grid, 8), torch.zeros(B, 1, 1, dtype=torch.long), torch.rand(B, 1, 1, 16),
             torch.rand(B, 1, 1, 3), torch.rand(B, T, n, 3), torch.rand(B, T, n), *tables)
    cam = {0: Bd}
    shade_dims = ({0: Wd}, cam, cam, cam, {0: Bd, 1: Td}, {0: Bd, 1: Td}, *[{0: Bd, 1: Td}] * 3)
    return march, march_dims, march[:6], march_dims[:6], shade, shade_dims


def _build(name: str, module, args, dims, path: Path):
    import torch
    exported = torch.export.export(module, args, dynamic_shapes=dims)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.pt2")
    torch._inductor.aoti_compile_and_package(exported, package_path=str(tmp))
    tmp.replace(path)                                      # atomic: concurrent builders never clash


@lru_cache(maxsize=None)
def packaged_kernels(grid: int = 512, inv_cell: float = 0.5) -> SimpleNamespace:
    """AOTInductor-compiled CPU kernels for worlds of this grid, built on first use (about a
    minute or two on a small CPU) and loaded from ~/.cache/worldsim/aoti afterwards. Falls back
    to `compiled_kernels()` if exporting fails. Same signatures as raymarch.EAGER."""
    import torch

    from .march import bisect, march_chunk
    from .raymarch import shade

    class March(torch.nn.Module):
        def forward(self, hmap, base, o, d, t, t_above, top):
            return march_chunk(hmap, base, o, d, t, t_above, grid, inv_cell, top)

    class Bisect(torch.nn.Module):
        def forward(self, hmap, base, o, d, lo, hi):
            return bisect(hmap, base, o, d, lo, hi, grid, inv_cell)

    class Shade(torch.nn.Module):
        def forward(self, shading, base, sky, origin, d, t_terrain, frustums, ellipsoids, boxes):
            return shade(shading, base, sky, origin, d, t_terrain, frustums, ellipsoids, boxes, grid, inv_cell)

    directory = _package_dir(grid, inv_cell)
    directory.mkdir(parents=True, exist_ok=True)
    march_args, march_dims, bisect_args, bisect_dims, shade_args, shade_dims = _examples(grid)
    loaded = {}
    try:
        for name, module, args, dims in (("march", March(), march_args, march_dims),
                                         ("bisect", Bisect(), bisect_args, bisect_dims),
                                         ("shade", Shade(), shade_args, shade_dims)):
            path = directory / f"{name}.pt2"
            if not path.exists():
                _build(name, module, args, dims, path)
            loaded[name] = torch._inductor.aoti_load_package(str(path))
    except Exception as err:                              # noqa: BLE001 -- any export failure: fall back
        warnings.warn(f"AOTInductor packaging failed ({err!r:.200}); using torch.compile instead")
        return compiled_kernels()
    fallback = compiled_kernels()

    def same_world(g, c):
        return g == grid and c == inv_cell

    def march_fn(hmap, base, o, d, t, t_above, g, c, top):
        if not same_world(g, c):
            return fallback.march_chunk(hmap, base, o, d, t, t_above, g, c, top)
        return tuple(loaded["march"](hmap, base, o, d, t, t_above, torch.tensor(float(top))))

    def bisect_fn(hmap, base, o, d, lo, hi, g, c):
        if not same_world(g, c):
            return fallback.bisect(hmap, base, o, d, lo, hi, g, c)
        return loaded["bisect"](hmap, base, o, d, lo, hi)

    def shade_fn(shading, base, sky, origin, d, t_terrain, frustums, ellipsoids, boxes, g, c):
        if not same_world(g, c):
            return fallback.shade(shading, base, sky, origin, d, t_terrain, frustums, ellipsoids, boxes, g, c)
        return loaded["shade"](shading, base, sky, origin, d, t_terrain, frustums, ellipsoids, boxes)

    return SimpleNamespace(march_chunk=march_fn, bisect=bisect_fn, shade=shade_fn)


def kernels_for(device, compile: bool = True) -> SimpleNamespace:
    """The kernels to render with: eager, AOT packages on CPU, torch.compile on GPU."""
    import torch
    if not compile:
        from .raymarch import EAGER
        return EAGER
    return packaged_kernels() if torch.device(device).type == "cpu" else compiled_kernels()
