"""Where torch.compile keeps what it compiled: ~/.cache/worldsim/inductor, unless $TORCHINDUCTOR_CACHE_DIR names
another folder. torch's own default is a folder under /tmp, lost at a reboot. A compiled worker's first start traces
and compiles every step graph it can be asked for (the `default` preset on the 2-core CPU: 62 s; `1.3b` on an H200:
~1 min a graph); a later start reads them back (the `default` preset: 6 s); docs/runtime.md."""
from __future__ import annotations

import os
from pathlib import Path


def inductor_cache_dir() -> Path:
    """The folder Inductor's caches (FX graphs, AOT autograd, kernels) go to."""
    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR", Path.home() / ".cache" / "worldsim" / "inductor"))


def use_inductor_cache() -> Path:
    """Point Inductor at `inductor_cache_dir()` unless the caller already chose a folder; call it before compiling."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor_cache_dir()))
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
