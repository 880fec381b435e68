"""Where the time goes: torch.profiler around a few calls or training steps, as a table and top rows.

    rows = profile_calls(fn, n=5, path="step.txt", cuda=True)     # `bench model --profile`, bench_film
    prof = StepProfiler(start=20, steps=5, path="out/profile.txt", cuda=True)   # `loop.profile_steps`
    for step in ...: prof.before(step); ...; prof.after(step)
    prof.close()

The table (torch's key_averages, 60 rows) is sorted by self device time on CUDA, self CPU time otherwise;
the rows returned are the top 12: name, calls per step, ms per step, share of the profiled total.
"""
from __future__ import annotations

from pathlib import Path


def top_rows(prof, steps: int, path: str | Path, cuda: bool, rows: int = 12) -> list[dict]:
    """Write `prof`'s table to `path`; return its top `rows` per step."""
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()
    Path(path).write_text(averages.table(sort_by=key, row_limit=60) + "\n")
    total = sum(getattr(e, key) for e in averages) or 1.0
    ranked = sorted(averages, key=lambda e: getattr(e, key), reverse=True)[:rows]
    return [{"name": e.key[:120], "calls_per_step": round(e.count / steps, 2),
             "ms_per_step": round(getattr(e, key) / 1000.0 / steps, 3), "share": round(getattr(e, key) / total, 4)}
            for e in ranked]


def _profiler(cuda: bool):
    from torch.profiler import ProfilerActivity, profile
    return profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else []))


def profile_calls(fn, n: int, path: str | Path, cuda: bool) -> list[dict]:
    """Run `fn` n times under torch.profiler (fn synchronises the device itself); table to `path`."""
    with _profiler(cuda) as prof:
        for _ in range(n):
            fn()
    return top_rows(prof, n, path, cuda)


class StepProfiler:
    """Profiles steps [start, start + steps) of a loop: `before(step)` and `after(step)` around each step
    (`after` returns True once it has written the table), `close()` when the loop ends (a run that ends
    inside the window stops the profiler without a table). With steps = 0 it does nothing."""

    def __init__(self, start: int, steps: int, path: str | Path, cuda: bool):
        self.start, self.steps, self.path, self.cuda = start, steps, Path(path), cuda
        self._prof = None

    def before(self, step: int) -> None:
        if self.steps > 0 and step == self.start:
            self._prof = _profiler(self.cuda)
            self._prof.__enter__()

    def after(self, step: int) -> bool:
        if self._prof is None or step + 1 != self.start + self.steps:
            return False
        prof = self.close()
        top_rows(prof, self.steps, self.path, self.cuda)
        return True

    def close(self):
        """Stop profiling if it runs; returns the stopped profiler (None if none ran)."""
        prof, self._prof = self._prof, None
        if prof is not None:
            prof.__exit__(None, None, None)
        return prof
