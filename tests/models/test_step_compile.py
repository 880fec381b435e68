"""The step is static: one graph per ring phase (no breaks, no recompiles past the window), no host
syncs, persistent row indices; and a Block is one module for every kind of forward."""
from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from .test_generator import LATENT_HW, TEXT_LEN, clip_data, make_generator


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()                  # compiled code is cached per function, across generators
    counters.clear()
    yield
    torch._dynamo.reset()


def rollout_steps(gen, slots, frames, device="cpu"):
    first, text, controls, noise = (x.to(device) for x in clip_data(gen, len(slots), frames))
    gen.setup_cache(3, LATENT_HW, TEXT_LEN)
    gen.start(first, text, slots=slots)
    return torch.stack([gen.step(controls[:, i], noise[:, i], slots=slots) for i in range(1, frames)])


WARP = {"warp_channel": 21, "warp_scales": (0.3, 0.3, 0.9), "warp_focal": 1.73, "warp_keep": True}


@pytest.mark.parametrize("backend, slots, changes", [("eager", [2, 0], {}), ("aot_eager", [0, 1], {}),
                                                     ("aot_eager", [1, 2], WARP)], ids=["eager", "aot", "aot-warp"])
def test_compiled_step_is_one_graph_per_ring_phase_and_never_recompiles(backend, slots, changes):
    gen = make_generator(**changes)                       # WARP: the recycled-latent warp traces too
    frames = 2 * gen.cfg.window + 3                       # fill the ring, cross the boundary, run past it
    expected = rollout_steps(gen, slots, frames)
    gen.compile_step(backend=backend)                     # fullgraph=True: a graph break would raise
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = rollout_steps(gen, slots, frames)
    assert counters["stats"]["unique_graphs"] == 2        # ring filling (masked) and ring full
    assert torch.equal(got, expected)                     # same ops: bit for bit


def test_compiled_step_serves_any_rows_of_one_batch_size_with_the_same_graphs():
    """The worker steps whichever sessions are ready: a new run of rows of a size already seen must
    not compile again (slice bounds would be constants of the graph; rows are an index tensor)."""
    gen = make_generator()
    frames = gen.cfg.window + 3
    expected = rollout_steps(gen, [1, 2], frames)
    gen.compile_step(backend="aot_eager")
    rollout_steps(gen, [0, 1], frames)                     # traces both ring phases
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = rollout_steps(gen, [1, 2], frames)
    assert counters["stats"]["unique_graphs"] == 2
    assert torch.equal(got, expected)


def test_row_indices_are_made_once_per_set_of_rows():
    gen = make_generator()
    rollout_steps(gen, [2, 0], 3)
    rows = gen._rows([2, 0], "cpu")[1]
    assert isinstance(rows, torch.Tensor) and rows.tolist() == [2, 0]
    gen.step(torch.zeros(2, gen.cfg.control_channels, *LATENT_HW), slots=[2, 0])
    assert gen._rows([2, 0], "cpu")[1] is rows
    assert gen._rows([1, 2], "cpu")[1] == slice(1, 3)     # contiguous rows: a view of the cache


def test_a_block_compiles_as_one_graph_for_the_whole_clip_forward():
    gen = make_generator(dual_stream=True)
    first, text, controls, noise = clip_data(gen, 1, 2 * gen.cfg.window)
    inputs = gen.clip_inputs(noise, noise, controls)
    t = torch.rand(1, inputs.shape[1], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = gen.forward_clip(inputs, t, text)
        for block in gen.blocks:
            block.compile(backend="eager", fullgraph=True)
        got = gen.forward_clip(inputs, t, text)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.gpu
def test_step_never_syncs_with_the_host_on_gpu():
    gen = make_generator().cuda()
    rollout_steps(gen, [2, 0], 2, "cuda")                 # rows [2, 0] get their index tensor once
    controls = torch.randn(2, gen.cfg.control_channels, *LATENT_HW, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2 * gen.cfg.window):                # across the boundary: mask, then none
            gen.step(controls, slots=[2, 0])
    finally:
        torch.cuda.set_sync_debug_mode(0)


@pytest.mark.gpu
def test_compiled_step_with_cuda_graphs_equals_eager_past_the_window():
    gen = make_generator().cuda()
    frames = 2 * gen.cfg.window + 3
    expected = rollout_steps(gen, [2, 0], frames, "cuda")
    gen.compile_step(mode="reduce-overhead")
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = rollout_steps(gen, [2, 0], frames, "cuda")
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)

@pytest.mark.parametrize("slots", [[0, 1, 2], [2, 0]], ids=["all-rows", "some-rows"])
def test_inductor_writes_the_kv_cache_in_place(slots):
    """Compiled by Inductor, a step allocates nothing the size of a layer's cache: the writes go into
    the cache buffers, and stepping every row attention reads them there (some rows: it gathers
    theirs). Two writes through views of the key cache once made Inductor copy all of it, every
    layer, every step: the 8b step ran 30% slower compiled."""
    from torch._inductor.utils import run_and_get_code

    gen = make_generator()
    gen.compile_step(backend="inductor")
    with torch.no_grad():
        rollout_steps(gen, slots, gen.cfg.window + 2)     # compiles the masked step
        controls = torch.zeros(len(slots), gen.cfg.control_channels, *LATENT_HW)
        _, codes = run_and_get_code(lambda: gen.step(controls, slots=slots))   # the full-ring step
    cache = tuple(gen.caches[0].keys.shape)
    assert codes and str(cache) in "\n".join(codes)       # the cache is an input of the graph ...
    assert f"empty_strided_cpu({cache}" not in "\n".join(codes)   # ... and never allocated anew
