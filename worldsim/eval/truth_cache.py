"""Ground-truth rollouts kept in a folder (`worldsim eval --truth-cache DIR`).

The reference world renders the same frames for the same seeds, trajectory, size, fps and field of
view, whatever the subject. A second evaluation on the same seeds reads them back instead of
rendering them again, and the subject gets the CPU to itself.

A file's name is a hash of all that and of the source of the code that makes the truth:
worldsim/worlds, worldsim/controls, and eval's rollout.py and trajectories.py. Change any of it
and the old files are no longer found. There is one compressed .npz per (seeds, trajectory): the
frames (S, T, H, W, 3) uint8 and the step index of each frame. A file that does not read back is
rendered again and overwritten.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from ..errors import WorldsimUserError
from .rollout import Run

_PACKAGES = ("worlds", "controls")                  # under worldsim/
_FILES = ("eval/rollout.py", "eval/trajectories.py")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the source that renders the truth."""
    root = Path(__file__).resolve().parents[1]
    paths = sorted(p for d in _PACKAGES for p in (root / d).rglob("*.py")) + [root / f for f in _FILES]
    h = hashlib.sha256()
    for p in paths:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


class TruthCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WorldsimUserError(f"--truth-cache {folder}: cannot make that folder ({err.strerror})") from None

    def path(self, renderer: str, options: dict, seeds, trajectory) -> Path:
        """Where the truth of `seeds` through `trajectory` is kept for this renderer and these options."""
        h = hashlib.sha256(json.dumps(
            {"format": 1, "renderer": renderer, "options": options, "seeds": [int(s) for s in seeds],
             "trajectory": trajectory.name, "packets": trajectory.packets, "revisit": trajectory.revisit},
            sort_keys=True, default=repr).encode())
        h.update(np.ascontiguousarray(trajectory.c2w, dtype=np.float64).tobytes())
        h.update(code_digest().encode())
        return self.folder / f"{trajectory.name}-{h.hexdigest()[:24]}.npz"

    @staticmethod
    def load(path: Path) -> Run | None:
        """The kept run, or None when there is none or it does not read back."""
        try:
            with np.load(path) as z:
                return Run(z["frames"], z["positions"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    @staticmethod
    def save(path: Path, run: Run) -> None:
        """Keep `run` at `path` (written aside, then moved in: a reader never sees half a file). A folder
        that cannot take it costs one line on stderr, not the evaluation."""
        part = path.with_name(path.stem + f".{os.getpid()}.part.npz")
        try:
            np.savez_compressed(part, frames=run.frames, positions=run.positions)
            os.replace(part, path)
        except OSError as err:
            with contextlib.suppress(OSError):
                part.unlink()
            print(f"worldsim eval: could not keep the truth in {path} ({err.strerror}); evaluating on",
                  file=sys.stderr)
