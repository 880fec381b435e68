"""The step with its blocks compiled one by one, and on CUDA captured whole by hand (`compile_step(scope="blocks")`).

Traced as one graph, a step of `1.3b`'s 30 blocks takes Inductor about a minute on an H200, once per batch size and
ring phase (docs/BENCHMARKS.md). Blocks share their code, so compiling each `Block` instead compiles that code once
per shape, whatever the depth (the weights are the graph's inputs), and the step's glue (patchify, RoPE angles, the
output head) runs eagerly. What tracing the whole step also gave, one launch for the whole step, comes back on CUDA
from capturing the step into a `torch.cuda.CUDAGraph` per batch size and ring phase (`graph_key`): its state (KV
caches, frame indices, previous latents) lives in buffers that keep their addresses, and the rows it steps are an
index copied into the graph's own buffer, so a replay reads and writes the memory the eager step would for whichever
rows of that size. A capture needs the step run once before it, which steps the state: graphs are captured
only by `capture` while no session is open (models/warmup.py resets the cache after); a step no graph was captured
for runs the compiled blocks uncaptured.
"""
from __future__ import annotations

import torch
from torch import Tensor


def call_block(block, x: Tensor, m: Tensor, ctx, tokens, text_out: bool):
    """One block of `Generator.run_blocks`' loop."""
    return block(x, m, ctx, tokens, text_out=text_out)


def compile_blocks(gen, backend: str) -> None:
    """Compile the step's block call (fullgraph, static shapes): every block runs the one graph dynamo keeps per
    shape and ring phase (its weights are inputs). Only the step's: start and training call the blocks uncompiled."""
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, 64)      # sizes x phases x (last block or not) x rows kinds
    gen._step_block = torch.compile(call_block, backend=backend, fullgraph=True, dynamic=False)


def graph_key(rows, count: int, full: bool) -> tuple:
    """Which graph serves a step: all rows in order (a slice) or `count` rows of an index tensor (any of them: the
    index is an input copied into the graph's own buffer), in the ring phase `full` or filling."""
    return ("all" if isinstance(rows, slice) else count, full)


class StepGraphs:
    """CUDA graphs of a generator's step, one per `graph_key`: `capture` records one, `run` replays it."""

    def __init__(self):
        self.graphs: dict[tuple, tuple] = {}
        self.pool = None                     # one memory pool for all: replays never overlap, outputs are kept

    def __len__(self) -> int:
        return len(self.graphs)

    def capture(self, key: tuple, fn, controls: Tensor, noise: Tensor, rows) -> None:
        """Record fn(controls, noise, rows) under `key`, after one run on a side stream (it compiles the blocks for
        these shapes and steps the state of `rows`: call only while no session is open)."""
        static = (controls.clone(), noise.clone(), rows.clone() if isinstance(rows, Tensor) else rows)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn(*static)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            out = fn(*static)
        self.pool = graph.pool()
        self.graphs[key] = (graph, static, out)

    def run(self, key: tuple, controls: Tensor, noise: Tensor, rows) -> Tensor | None:
        """Replay `key`'s graph on these inputs and rows: the new latent (the graph's own buffer: clone it before the
        next replay), or None when no graph was captured for `key`."""
        entry = self.graphs.get(key)
        if entry is None:
            return None
        graph, (static_controls, static_noise, static_rows), out = entry
        static_controls.copy_(controls)
        static_noise.copy_(noise)
        if isinstance(static_rows, Tensor):
            static_rows.copy_(rows)
        graph.replay()
        return out
