"""Compiled serving pays its compile cost before play: trace every graph the worker can ask for.

A compiled step (`Generator.compile_step`) has a graph per batch size (with `dynamic_batch`, as the
renderer compiles it: one for 1 and one for every size >= 2), ring phase (filling: masked attention;
full: none) and kind of rows (all rows in order: a slice of the whole cache; any other set: an
index tensor); CUDA graphs record one per size. The worker steps a compiled renderer only in its bucket
sizes (runtime/scheduling.py), so the graphs it can ask for are known before the first session
opens: `warm_up_step` runs each once (three times on CUDA, where CUDA graph trees run a function
eagerly once, record it on the next call and replay it after; with the blocks compiled one by one,
`compile_step(scope="blocks")`, it captures each step by hand instead: step_graphs.py), on the generator's own cache
rows, then resets the cache to the state `setup_cache` left it in. It runs only while no session
is open (the renderer checks), so no session's state can change.
"""
from __future__ import annotations

import time

import torch
import torch._dynamo
from torch._dynamo.utils import counters


def step_row_sets(batch_sizes, rows: int) -> list[list[int]]:
    """The row sets whose graphs differ: for each bucket size below `rows` any that many rows (an
    index tensor); at `rows` itself all rows in order (a slice) and, with more than one row, all
    rows in another order (an index tensor). When `rows` is no bucket, the smallest bucket above it
    too, as a padded batch (all rows, the last repeated: AaptRenderer pads a batch of more rows than
    the largest bucket below `rows` up to it). Larger sizes never run."""
    out = []
    sizes = sorted({int(b) for b in batch_sizes})
    for size in sizes:
        if size < rows:
            out.append(list(range(size)))
        elif size == rows:
            out.append(list(range(rows)))
            if rows > 1:
                out.append(list(range(rows))[::-1])
    above = [size for size in sizes if size > rows]
    if rows not in sizes and above:
        out.append(list(range(rows)) + [rows - 1] * (above[0] - rows))
    return out


def ring_phases(window: int) -> list[int]:
    """Frames in a session's ring that put a step in each phase: 1 (just started: filling, masked)
    and `window` (full); a window of 1 is full from the start."""
    return [1] if window <= 1 else [1, window]


@torch.no_grad()
def warm_up_step(gen, batch_sizes, calls: int | None = None, progress=None) -> int:
    """Run the compiled step once per (row set, ring phase), as `AaptRenderer.step` calls it
    (controls in the cache's dtype, float32 noise), then reset the cache. Returns the number of
    graphs dynamo made. `progress(done, total, rows, full, seconds)`, if given, is called after each
    (row set, phase) with the seconds it took: a large preset's warm-up takes minutes. Raises dynamo's
    recompile limit when more graphs than it are needed (the default, 8, is below the 9 that buckets
    1..128 with 128 rows make: the 9th would run eagerly)."""
    if not gen.step_compiled:
        raise RuntimeError("warm_up_step needs a compiled step (Generator.compile_step)")
    sets = step_row_sets(batch_sizes, len(gen._host_frames))
    config = torch._dynamo.config
    if config.recompile_limit < len(sets):
        config.recompile_limit = len(sets)
    prev, graphs = gen.prev_latent, counters["stats"]["unique_graphs"]
    calls = calls or (3 if prev.device.type == "cuda" else 1)
    phases = ring_phases(gen.cfg.window)
    total, done = len(sets) * len(phases), 0
    try:
        for slots in sets:
            controls = prev.new_zeros(len(slots), gen.cfg.control_channels, *prev.shape[2:])
            noise = torch.zeros(len(slots), *prev.shape[1:]).to(prev.device)
            for frames in phases:
                t0 = time.perf_counter()
                for _ in range(1 if gen.step_graphs is not None else calls):
                    gen.frame_index[slots] = frames
                    for r in slots:
                        gen._host_frames[r] = frames
                    if gen.step_graphs is not None:          # scope "blocks" on CUDA: captured by hand
                        gen.capture_step(controls, noise, slots=slots)
                    else:
                        gen.step(controls, noise, slots=slots)
                done += 1
                if progress is not None:
                    progress(done, total, len(slots), frames >= gen.cfg.window, time.perf_counter() - t0)
    finally:
        reset_cache(gen)
    return counters["stats"]["unique_graphs"] - graphs


@torch.no_grad()
def reset_cache(gen) -> None:
    """Every row as `setup_cache` made it (zeros), in place: the buffers compiled graphs and CUDA
    graphs hold keep their addresses."""
    for cache in gen.caches:
        cache.keys.zero_()
        cache.values.zero_()
        cache.first_keys.zero_()
    gen.frame_index.zero_()
    gen.prev_latent.zero_()
    gen._host_frames[:] = [0] * len(gen._host_frames)
