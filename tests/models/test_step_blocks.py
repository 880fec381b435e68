"""compile_step(scope="blocks"): each block compiled once per shape whatever the depth, the step's frames those of
the eager step, no recompile across the window boundary; on CUDA the step captured by hand as a graph per (batch
size, ring phase) at warm-up and replayed in play for any rows of that size."""
from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from worldsim.models.warmup import warm_up_step

from .test_generator import LATENT_HW, TEXT_LEN, clip_data, make_generator
from .test_step_compile import fresh_dynamo, rollout_steps

pytestmark = pytest.mark.usefixtures(fresh_dynamo.__name__)    # dynamo's caches reset around each test


def test_blocks_compile_once_whatever_the_depth_and_step_as_eager_past_the_window():
    graphs = {}
    for depth in (2, 4):
        torch._dynamo.reset()
        counters.clear()
        gen = make_generator(depth=depth)
        frames = 2 * gen.cfg.window + 3                   # fill the ring, cross the boundary, run past it
        expected = rollout_steps(gen, [2, 0], frames)
        gen.compile_step(backend="aot_eager", scope="blocks")
        assert gen.step_compiled and gen.step_graphs is None      # no hand-made graphs on the CPU
        rollout_steps(gen, [2, 0], frames)                # traces each shape and phase once
        with torch._dynamo.config.patch(error_on_recompile=True):
            got = rollout_steps(gen, [2, 0], frames)
        graphs[depth] = counters["stats"]["unique_graphs"]
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert graphs[2] == graphs[4]                         # the blocks' code, not one graph per block


def test_an_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="compile scope must be step or blocks, got 'layers'"):
        make_generator().compile_step(scope="layers")


def test_capturing_needs_the_hand_made_graphs():
    gen = make_generator()
    gen.compile_step(backend="eager", scope="blocks")
    gen.setup_cache(3, LATENT_HW, 4)
    with pytest.raises(RuntimeError, match="capture_step needs"):
        gen.capture_step(torch.zeros(1, gen.cfg.control_channels, *LATENT_HW), torch.zeros(1, 4, *LATENT_HW), [0])


def rollout_on_cache(gen, slots, frames, device):
    """rollout_steps on the cache the generator has (a new one would leave captured graphs on the old buffers)."""
    first, text, controls, noise = (x.to(device) for x in clip_data(gen, len(slots), frames))
    gen.start(first, text, slots=slots)
    return torch.stack([gen.step(controls[:, i], noise[:, i], slots=slots) for i in range(1, frames)])


@pytest.mark.gpu
def test_hand_captured_steps_replay_the_eager_frames_for_any_rows_past_the_window():
    gen = make_generator().cuda()
    frames = 2 * gen.cfg.window + 3
    expected = rollout_steps(gen, [2, 0], frames, "cuda")        # a cache of 3 rows
    gen.compile_step(mode="reduce-overhead", scope="blocks")
    warm_up_step(gen, (1, 2))                                    # 1 and 2 rows of the 3, each ring phase
    assert set(gen.step_graphs.graphs) == {(1, False), (1, True), (2, False), (2, True)}

    def uncaptured(*args):
        raise AssertionError("a step ran outside its captured graph")
    gen._compiled_step = (uncaptured, uncaptured)
    got = rollout_on_cache(gen, [2, 0], frames, "cuda")          # rows [2, 0]: the graph captured on [0, 1]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    gen.setup_cache(3, LATENT_HW, TEXT_LEN)
    assert len(gen.step_graphs) == 0                             # new buffers: the old graphs are dropped
