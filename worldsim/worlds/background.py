"""Start on the eager kernels, switch to the CPU kernel packages once they are built.

On a new machine the AOTInductor packages (compiled.py) take a minute or more to build. Instead
of waiting, `kernels_soon()` hands out the eager kernels at once and builds the packages in a
background thread, which runs the build in a child process (lower priority, so rendering keeps
its core; the child writes the usual package cache) and then loads them. The next render after
that uses the packages; the frames are identical either way. A failed build keeps eager and says
so once. With the packages already cached they are loaded at once, as before.
"""
from __future__ import annotations

import atexit
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Callable

PACKAGES = ("march", "bisect", "shade")


def packages_ready(grid: int = 512, inv_cell: float = 0.5) -> bool:
    from .compiled import _package_dir
    directory = _package_dir(grid, inv_cell)
    return all((directory / f"{name}.pt2").exists() for name in PACKAGES)


_children: list[subprocess.Popen] = []


@atexit.register
def _stop_children() -> None:
    """A build still running when the process exits is stopped (the next start builds again; a
    parent killed by a signal is noticed by the child itself: main())."""
    for proc in _children:
        if proc.poll() is None:
            proc.terminate()


def build_in_child() -> None:
    """Build the packages in a child process (`python -m worldsim.worlds.background`); raises
    RuntimeError if it fails."""
    proc = subprocess.Popen([sys.executable, "-m", "worldsim.worlds.background"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _children.append(proc)
    _, err = proc.communicate()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise RuntimeError(tail[0][:300])


def load_packages() -> SimpleNamespace:
    from .compiled import packaged_kernels
    return packaged_kernels()


class BackgroundKernels:
    """The kernels to render with now: eager until the build is done, then the packages."""

    def __init__(self, build: Callable[[], None] = build_in_child,
                 load: Callable[[], SimpleNamespace] = load_packages, log=None):
        from .raymarch import EAGER
        self.eager, self.ready, self.error = EAGER, None, None
        self._build, self._load, self._log = build, load, log
        self._announced = False
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="worldsim-kernel-build", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._build()
            self.ready = self._load()
        except Exception as err:                          # noqa: BLE001 -- any failure: stay eager
            self.error = err

    def current(self) -> SimpleNamespace:
        if self.ready is not None:
            if not self._announced:
                self._announced = True
                self._say(f"worldsim: compiled CPU kernels ready after {time.monotonic() - self.started:.1f} s "
                          f"(built in the background); switching from eager")
            return self.ready
        if self.error is not None and not self._announced:
            self._announced = True
            self._say(f"worldsim: building the compiled CPU kernels failed ({self.error}); "
                      f"rendering stays on the eager kernels")
        return self.eager

    def _say(self, line: str) -> None:
        print(line, file=self._log or sys.stderr, flush=True)


class Fixed:
    """Kernels that are ready now."""

    def __init__(self, kernels: SimpleNamespace):
        self.kernels = kernels

    def current(self) -> SimpleNamespace:
        return self.kernels


_shared: BackgroundKernels | None = None
_lock = threading.Lock()


def kernels_soon(device, compile: bool = True):
    """Like compiled.kernels_for, but never waits for a CPU package build: -> an object whose
    `current()` is the kernels to render the next frame with. One background build per process."""
    global _shared
    import torch

    from .compiled import kernels_for
    if not compile or torch.device(device).type != "cpu" or packages_ready():
        return Fixed(kernels_for(device, compile))
    with _lock:
        if _shared is None:
            _shared = BackgroundKernels()
        return _shared


def main() -> int:
    """Child process: build the packages at low priority; exit 1 if they could not be built."""
    import os
    import warnings
    try:
        os.nice(10)
    except OSError:
        pass
    parent = os.getppid()

    def orphaned():                                       # a parent killed by a signal runs no atexit
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=orphaned, daemon=True).start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from .compiled import packaged_kernels
        packaged_kernels()
    if not packages_ready():
        print(str(caught[-1].message) if caught else "packages missing after the build", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
