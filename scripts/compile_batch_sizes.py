"""The compiled step on the CPU with Inductor, ring full, per batch size: static graphs (one per size)
against a dynamic batch dimension (one graph for every size >= 2; docs/BENCHMARKS.md, "Compiled
serving warms up first"). Prints the graphs dynamo made, each size's first call (compile) and its
median step.

    python scripts/compile_batch_sizes.py static 1,2,3,4 40
    python scripts/compile_batch_sizes.py dynamic 1,2,3,4 40
"""
import statistics
import sys
import time

import torch
from torch._dynamo.utils import counters

from worldsim.models.renderer import AaptRenderer

mode, sizes, steps = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], int(sys.argv[3])
gen = AaptRenderer(preset="default", max_sessions=8, threads=1).model.generator
gen.compile_step("inductor", dynamic_batch=mode == "dynamic")
prev, out = gen.prev_latent, {"mode": mode}
with torch.no_grad():
    for b in sizes:
        slots = list(range(b))                      # fewer than the 8 rows: an index tensor, as the worker's
        controls = prev.new_zeros(b, gen.cfg.control_channels, *prev.shape[2:])
        noise = torch.zeros(b, *prev.shape[1:])
        times = []
        for _ in range(steps + 1):
            gen.frame_index[slots] = gen.cfg.window      # every ring full
            for s in slots:
                gen._host_frames[s] = gen.cfg.window
            t0 = time.perf_counter()
            gen.step(controls, noise, slots=slots)
            times.append(time.perf_counter() - t0)
        out[f"b{b}_first_s"] = round(times[0], 2)
        out[f"b{b}_ms"] = round(1e3 * statistics.median(times[1:]), 2)
        out[f"graphs_after_b{b}"] = counters["stats"]["unique_graphs"]
print(out, flush=True)
