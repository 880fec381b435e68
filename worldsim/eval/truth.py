"""The ground truth: a `reference` renderer driven by the evaluation's packets, rendered ahead.

By default it runs in a worker process (one CPU thread), so on a 2-core machine the truth and
the subject render side by side and the subject's step times are not disturbed by the truth
holding this process's GIL. A renderer object given instead (tests: a synthetic world) runs in
a thread of this process.

    pool = TruthPool(spec)                        # the subject's size and fps
    future = pool.submit(seeds, trajectory)       # -> rollout.Run
    pool.close()
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from ..errors import WorldsimUserError
from .rollout import roll_out

_renderer = None                                   # the worker process's reference renderer


def _start(options: dict) -> None:
    global _renderer
    from ..worlds.renderer import ReferenceRenderer
    _renderer = ReferenceRenderer(**options)


def _roll(seeds, trajectory):
    return roll_out(_renderer, seeds, trajectory)


class TruthPool:
    def __init__(self, spec, fovy_deg: float = 60.0, renderer=None):
        self.renderer = renderer
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

    def submit(self, seeds, trajectory) -> Future:
        if self.renderer is None:
            return self.pool.submit(_roll, list(seeds), trajectory)
        return self.pool.submit(roll_out, self.renderer, seeds, trajectory)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
