"""A compiled aapt renderer pads a batch up to a compiled size by repeating its last session
(`AaptRenderer.pad_sizes`, set by warm_up): the padded step must be the unpadded one for every real
session (frames, KV cache rows, prev_latent, frame counters, decoder caches, noise RNG) and leave
the other rows alone. Tested eagerly (the same padding, `pad_sizes` set by hand): compiling changes
how the step runs, not what it writes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from .test_renderer import camera_packets, make_renderer

STEPS = 8          # the tiny preset's window is 3: the rings fill, then wrap several times


def assert_same_state(a, b):
    """Two snapshots (AaptRenderer.snapshot) hold the same state."""
    assert a["steps"] == b["steps"] and a["frame_index"] == b["frame_index"]
    assert a["host_frames"] == b["host_frames"]
    assert torch.equal(a["noise"], b["noise"])
    torch.testing.assert_close(a["prev_latent"], b["prev_latent"], rtol=0, atol=1e-5)
    for ka, kb in zip(a["kv"], b["kv"], strict=True):
        for name in ("keys", "values", "first_keys"):
            torch.testing.assert_close(ka[name], kb[name], rtol=0, atol=1e-5)
    assert a["decoder"].keys() == b["decoder"].keys() and a["decoder_started"] == b["decoder_started"]
    for name in a["decoder"]:
        torch.testing.assert_close(a["decoder"][name], b["decoder"][name], rtol=0, atol=1e-5)


@pytest.mark.parametrize("pad_sizes, real, padded", [((1, 2, 4), 3, 4),      # one copy of the last
                                                     ((1, 8), 3, 8)])        # more copies than free rows
def test_a_padded_step_is_the_unpadded_step_for_every_real_session(pad_sizes, real, padded):
    plain, pad = make_renderer(max_sessions=4), make_renderer(max_sessions=4)
    pad.pad_sizes = pad_sizes
    batches = []
    step = pad.model.generator.step
    pad.model.generator.step = lambda ctrl, noise, slots: batches.append(list(slots)) or step(ctrl, noise, slots=slots)
    a = [plain.open(seed=s) for s in range(real)]
    b = [pad.open(seed=s) for s in range(real)]
    assert [s.slot for s in a] == [s.slot for s in b] == list(range(real))
    for k in range(STEPS):
        packets = [camera_packets(0, 1) if k == 0 else camera_packets(1 + 4 * (k - 1) + 3 * s, 4)
                   for s in range(real)]                                        # each session its own camera
        want, got = plain.step(a, packets), pad.step(b, packets)
        assert len(got) == real
        for w, g in zip(want, got):
            assert g.shape == w.shape
            assert np.abs(w.astype(int) - g.astype(int)).max() <= 1           # uint8 rounding at most
        for sa, sb in zip(a, b):
            assert_same_state(plain.snapshot(sa), pad.snapshot(sb))
    gen = pad.model.generator
    assert batches == [list(range(real)) + [real - 1] * (padded - real)] * (STEPS - 1)   # step 0 decodes only
    assert gen._host_frames[:real] == [STEPS] * real and gen.frame_index[:real].tolist() == [STEPS] * real
    assert gen._host_frames[real:] == [0] and gen.frame_index[real:].tolist() == [0]    # the free row untouched
    for cache in gen.caches:
        assert not cache.keys[real:].any() and not cache.values[real:].any()
    assert not gen.prev_latent[real:].any()


def test_no_padding_without_pad_sizes_or_a_size_that_holds_the_batch():
    r = make_renderer(max_sessions=4)
    ctrl, noise = torch.zeros(3, 2), torch.ones(3, 2)
    assert r.pad_sizes == () and r._pad(ctrl, noise, [0, 1, 2])[2] == [0, 1, 2]
    r.pad_sizes = (1, 2)
    assert r._pad(ctrl, noise, [0, 1, 2])[2] == [0, 1, 2]
    r.pad_sizes = (1, 2, 4, 8)
    assert r._pad(ctrl[:2], noise[:2], [2, 0])[2] == [2, 0]
    c, n, slots = r._pad(ctrl + torch.arange(3.0)[:, None], noise, [2, 0, 1])
    assert slots == [2, 0, 1, 1] and c[:, 0].tolist() == [0, 1, 2, 2] and n.shape == (4, 2)


def test_warm_up_sets_the_compiled_sizes_as_pad_sizes():
    torch._dynamo.reset()
    try:
        r = make_renderer(max_sessions=4, compile="eager")
        r.warm_up((1, 2, 4, 8))
        assert r.pad_sizes == (1, 2, 4)            # 8 is above max_sessions: never traced
        assert make_renderer(max_sessions=2).warm_up((1, 2)) == 0.0
        torch._dynamo.reset()
        r = make_renderer(max_sessions=3, compile="eager")   # 3 is no bucket: a batch of 3 runs as 4
        r.warm_up((1, 2, 4, 8))
        assert r.pad_sizes == (1, 2, 4)
        states = [r.open(seed=s) for s in range(3)]
        r.step(states, [camera_packets(0, 1)] * 3)
        with torch._dynamo.config.patch(error_on_recompile=True):
            assert len(r.step(states, [camera_packets(1, 4)] * 3)) == 3
    finally:
        torch._dynamo.reset()


def test_the_decoder_sees_only_warmed_sizes_and_warm_up_leaves_no_trace(monkeypatch):
    """The eager decoder decodes the padded batch (so a real-time batch of any size meets only sizes
    the warm-up ran), and the warm-up's decodes leave every decoder row fresh: frames as without it."""
    torch._dynamo.reset()
    try:
        r, plain = make_renderer(max_sessions=3, compile="eager"), make_renderer(max_sessions=3)
        module = r.decoder.module
        sizes, forward = [], module.forward
        monkeypatch.setattr(module, "forward", lambda x, cache: sizes.append(x.shape[0]) or forward(x, cache))
        r.warm_up((1, 2, 4, 8))
        assert sorted(set(sizes)) == [1, 2, 4] and r.pad_sizes == (1, 2, 4)
        sizes.clear()
        states, plain_states = [r.open(seed=s) for s in range(3)], [plain.open(seed=s) for s in range(3)]
        for k in range(4):
            packets = [camera_packets(0, 1) if k == 0 else camera_packets(1 + 4 * (k - 1) + 5 * s, 4) for s in range(3)]
            for want, got in zip(plain.step(plain_states, packets), r.step(states, packets), strict=True):
                assert np.abs(want.astype(int) - got.astype(int)).max() <= 1
        assert sizes == [3, 4, 4, 4]           # the first latents unpadded (a session's start), then the graph's 4
    finally:
        torch._dynamo.reset()
