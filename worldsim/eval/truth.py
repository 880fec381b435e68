"""The ground truth: a `reference` renderer driven by the evaluation's packets, rendered ahead.

By default it runs in a worker process (one CPU thread), so on a 2-core machine the truth and
the subject render side by side and the subject's step times are not disturbed by the truth
holding this process's GIL. A renderer object given instead (tests: a synthetic world) runs in
a thread of this process.

    pool = TruthPool(spec)                        # the subject's size and fps
    future = pool.submit(seeds, trajectory)       # -> rollout.Run
    pool.close()

With a `TruthCache` (truth_cache.py) a run kept there is read back instead of rendered (`pool.hits`
counts them), and a run rendered is kept there by the process that rendered it.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from ..errors import WorldsimUserError
from .rollout import roll_out
from .truth_cache import TruthCache

_renderer = None                                   # the worker process's reference renderer


def _start(options: dict) -> None:
    global _renderer
    from ..worlds.renderer import ReferenceRenderer
    _renderer = ReferenceRenderer(**options)


def _roll(seeds, trajectory, keep=None):
    return _render(_renderer, seeds, trajectory, keep)


def _render(renderer, seeds, trajectory, keep):
    run = roll_out(renderer, seeds, trajectory)
    if keep is not None:                           # (TruthCache, path)
        keep[0].save(keep[1], run)
    return run


class TruthPool:
    def __init__(self, spec, fovy_deg: float = 60.0, renderer=None, cache: TruthCache | None = None):
        self.renderer, self.cache, self.hits = renderer, cache, 0
        if renderer is None:
            from ..worlds.raymarch import tile_size
            try:
                tile_size(spec.height, spec.width)
            except ValueError as err:
                raise WorldsimUserError(f"the reference world cannot render the subject's "
                                        f"{spec.width}x{spec.height}: {err}") from None
            options = {"width": spec.width, "height": spec.height, "fps": spec.fps, "fovy_deg": fovy_deg}
            self.name, self.fovy_deg = "reference", fovy_deg
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start, initargs=(options,))
        else:
            self.name, self.fovy_deg = renderer.spec.name, float(renderer.spec.info.get("fovy_deg", fovy_deg))
            self.pool = ThreadPoolExecutor(1)
        self.options = {"width": spec.width, "height": spec.height, "fps": spec.fps, "fovy_deg": self.fovy_deg}

    def submit(self, seeds, trajectory) -> Future:
        keep = None
        if self.cache is not None:
            path = self.cache.path(self.name, self.options, seeds, trajectory)
            run = self.cache.load(path)
            if run is not None:
                self.hits += 1
                done = Future()
                done.set_result(run)
                return done
            keep = (self.cache, path)
        if self.renderer is None:
            return self.pool.submit(_roll, list(seeds), trajectory, keep)
        return self.pool.submit(_render, self.renderer, seeds, trajectory, keep)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
