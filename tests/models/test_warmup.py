"""Compiled serving pays its compile cost before play: after `AaptRenderer.warm_up`, sessions stepped in
any bucket sizes, in any rows and across the window boundary never compile, and render the frames an
uncompiled renderer renders."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from worldsim.models.warmup import step_row_sets
from worldsim.rendering import RendererError
from worldsim.runtime.scheduling import split_for_step

from .test_renderer import camera_packets, make_renderer

BUCKETS = (1, 2, 4, 8)          # 8: above max_sessions, never asked for, never traced
ROUNDS = [[0, 1, 2, 3], [3, 1], [2], [0, 1, 2], [3, 2, 1, 0], [1, 3, 0], [0, 1, 2, 3], [2, 3], [3, 2, 1, 0],
          [1], [0, 2, 1, 3], [3, 0]]     # ready sessions per worker round: window 3, so both ring phases and mixes


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def serve_rounds(r, sessions) -> list[np.ndarray]:
    """Every session's first step together, then ROUNDS as the worker batches them (bucket sizes)."""
    frames = list(r.step(sessions, [camera_packets(0, 1)] * len(sessions)))
    for ready in ROUNDS:
        assert [len(b) for b in split_for_step(ready, BUCKETS, static=True)] == [len(ready)]   # 3: padded to 4
        for batch in split_for_step(ready, BUCKETS, static=True):
            states = [sessions[i] for i in batch]
            frames += r.step(states, [camera_packets(1 + 4 * (s.steps - 1), 4) for s in states])
    return frames


def test_row_sets_cover_each_bucket_and_both_kinds_of_full_batch():
    assert step_row_sets((1, 2, 4, 8), 4) == [[0], [0, 1], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert step_row_sets((1, 2, 4), 3) == [[0], [0, 1], [0, 1, 2, 2]]   # 3 is no bucket: a batch of 3 pads to 4
    assert step_row_sets((1, 2, 4, 8), 3) == [[0], [0, 1], [0, 1, 2, 2]]
    assert step_row_sets((1, 2), 1) == [[0]]


def test_after_warm_up_play_never_compiles_and_renders_the_uncompiled_frames():
    """Batches of 3 (the split pads them: split_for_step) run the graph of 4, the last session
    repeated; the uncompiled reference pads them alike, so the arithmetic is the same batch for
    batch (padding itself changes nothing a session sees: test_renderer_padding.py)."""
    reference = make_renderer(max_sessions=4)
    assert reference.warm_up(BUCKETS) == 0.0 and reference.pad_sizes == ()     # uncompiled: nothing to trace
    reference.pad_sizes = (1, 2, 4)
    expected = serve_rounds(reference, [reference.open(seed=s) for s in range(4)])
    r = make_renderer(max_sessions=4, compile="eager")         # dynamo's tracing, fullgraph, cheap
    seconds = r.warm_up(BUCKETS)
    assert r.pad_sizes == (1, 2, 4)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == r.spec.info["compiled_graphs"] == 6       # 1 row; 2 or more (dynamic); all 4 in order; x 2 phases
    assert seconds > 0 and r.spec.info["compile_s"] == round(seconds, 3)
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = serve_rounds(r, [r.open(seed=s) for s in range(4)])
    assert counters["stats"]["unique_graphs"] == graphs
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_warm_up_with_sessions_open_is_refused():
    r = make_renderer(max_sessions=2, compile="eager")
    r.open(seed=0)
    with pytest.raises(RendererError, match="warm up before opening sessions: 1 are open"):
        r.warm_up((1, 2))


def test_the_worker_logs_each_graph_as_it_is_traced(capsys):
    """A large preset's warm-up runs for minutes: each (row set, ring phase) gets its own line with its time,
    so a log cut short says how far the warm-up got."""
    from worldsim.runtime.scheduling import warm_up_static
    r = make_renderer(max_sessions=2, compile="eager")
    heard = []
    r.warm_up((1, 2), progress=lambda *a: heard.append(a))
    # one row; both rows in order (a slice) and reversed (an index tensor); each in both ring phases
    assert [a[:4] for a in heard] == [(1, 6, 1, False), (2, 6, 1, True), (3, 6, 2, False), (4, 6, 2, True),
                                      (5, 6, 2, False), (6, 6, 2, True)]
    assert all(a[4] >= 0 for a in heard)
    torch._dynamo.reset()
    took = warm_up_static({"aapt": make_renderer(max_sessions=2, compile="eager")}, (1, 2))
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].startswith("worldsim worker: 'aapt' graph 1/6 (1 row, ring filling) in ")
    assert lines[6].startswith("worldsim worker: 'aapt' graph 6/6 (2 rows, ring full) in ")
    assert lines[7].startswith("worldsim worker: renderer 'aapt' compiled in ") and set(took) == {"aapt"}


def test_a_renderer_compiled_block_by_block_serves_the_uncompiled_frames_without_compiling_in_play():
    reference = make_renderer(max_sessions=4)
    reference.pad_sizes = (1, 2, 4)
    expected = serve_rounds(reference, [reference.open(seed=s) for s in range(4)])
    r = make_renderer(max_sessions=4, compile="eager", compile_scope="blocks")
    r.warm_up(BUCKETS)
    assert r.spec.info["compile_scope"] == "blocks" and r.pad_sizes == (1, 2, 4)
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = serve_rounds(r, [r.open(seed=s) for s in range(4)])
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)
    with pytest.raises(ValueError, match="aapt compile_scope must be step or blocks, got 'layer'"):
        make_renderer(compile_scope="layer")
