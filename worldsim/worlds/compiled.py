"""torch.compile of the ray-marcher's hot functions, with a compile cache kept across runs.

The first compile takes a while on a small CPU; Inductor's caches under
~/.cache/worldsim/inductor (or $TORCHINDUCTOR_CACHE_DIR) make every later start fast. Shapes
are dynamic (any batch, resolution and number of live rays) and cameras are tensors, so moving
the camera never recompiles.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace


def cache_dir() -> Path:
    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR",
                               Path.home() / ".cache" / "worldsim" / "inductor"))


@lru_cache(maxsize=None)
def compiled_kernels() -> SimpleNamespace:
    """The march chunk, the bisection and the shader, each fused by Inductor
    (C++/OpenMP kernels on CPU, Triton on GPU). Same signatures as raymarch.EAGER."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
    import torch

    from .march import bisect, march_chunk
    from .raymarch import shade
    fuse = lambda fn: torch.compile(fn, dynamic=True, fullgraph=True)   # noqa: E731
    return SimpleNamespace(march_chunk=fuse(march_chunk), bisect=fuse(bisect), shade=fuse(shade))
