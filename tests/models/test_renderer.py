"""The `aapt` renderer: the Renderer protocol over generator + streaming decoder, batched over sessions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldsim.models.checkpoint import save_checkpoint
from worldsim.models.renderer import AaptRenderer
from worldsim.runtime.registry import create_renderer
from worldsim.runtime.renderer import Renderer, RendererError


def camera_packets(start: int, count: int) -> list[dict]:
    """A camera walking forward and turning: level OpenCV camera, yaw grows per frame."""
    out = []
    for f in range(start, start + count):
        yaw = 0.05 * f
        c, s = math.cos(yaw), math.sin(yaw)
        rot = np.array([[c, 0, -s], [0, -1, 0], [-s, 0, -c]])      # Ry(yaw) @ diag(1, -1, -1)
        c2w = np.eye(4)
        c2w[:3, :3] = rot
        c2w[:3, 3] = [0.0, 1.0, -0.1 * f]
        out.append({"camera": {"c2w": c2w.reshape(-1).tolist()}})
    return out


def make_renderer(max_sessions: int = 3, **options) -> AaptRenderer:
    r = AaptRenderer(preset="tiny", max_sessions=max_sessions, **options)
    r.model.generator.init_weights(zero_init=False)     # a live random generator (zero init copies noise)
    return r


def play(r: AaptRenderer, states, steps: int):
    frames = [r.step(states, [camera_packets(0, 1)] * len(states))]
    for k in range(1, steps):
        frames.append(r.step(states, [camera_packets(1 + 4 * (k - 1), 4)] * len(states)))
    return frames


def test_protocol_shapes_and_determinism():
    r = make_renderer()
    assert isinstance(r, Renderer)
    spec = r.spec
    assert (spec.width, spec.height, spec.frames_per_step, spec.first_step_frames) == (32, 32, 4, 1)
    assert "camera" in spec.control_kinds and spec.info["window"] == 3
    first = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    a = r.open(seed=7, prompt="a red tower", first_frame=first)
    b = r.open(seed=7, prompt="a red tower", first_frame=first)
    frames = play(r, [a, b], 6)                          # past the window of 3
    assert frames[0][0].shape == (1, 32, 32, 3) and frames[1][0].shape == (4, 32, 32, 3)
    assert all(f.dtype == np.uint8 for step in frames for f in step)
    for step in frames:                                  # same seed, prompt, frame and controls
        np.testing.assert_array_equal(step[0], step[1])
    assert frames[-1][0].std() > 1.0


def test_batched_sessions_at_different_phases_equal_sessions_alone():
    r = make_renderer()
    alone = r.open(seed=1)
    expected = [f[0] for f in play(r, [alone], 4)]
    r.close(alone)
    other = r.open(seed=2, prompt="dusk")
    r.step([other], [camera_packets(0, 1)])
    again = r.open(seed=1)                               # now batched with a session one step ahead
    got = [r.step([again, other], [camera_packets(0, 1), camera_packets(1, 4)])[0]]
    for k in range(1, 4):
        got.append(r.step([other, again], [camera_packets(1 + 4 * k, 4), camera_packets(1 + 4 * (k - 1), 4)])[1])
    for e, g in zip(expected, got):          # batch size changes float rounding, never more than 1/255
        np.testing.assert_allclose(e.astype(int), g.astype(int), atol=1, rtol=0)


def test_compiled_step_renders_the_same_frames_past_the_window():
    import torch._dynamo
    torch._dynamo.reset()
    try:
        frames = []
        for compile in (False, "eager"):                 # "eager": dynamo's tracing, fullgraph, cheap
            r = make_renderer(compile=compile)
            frames.append(play(r, [r.open(seed=3), r.open(seed=4)], 6))       # window 3: both ring phases
        assert r.spec.info["compile"] == "eager"
        for a, b in zip(*frames):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
    finally:
        torch._dynamo.reset()


def test_bad_requests_raise_renderer_errors():
    r = make_renderer()
    s = r.open(seed=0)
    with pytest.raises(RendererError, match="takes 1 packets"):
        r.step([s], [camera_packets(0, 4)])
    with pytest.raises(RendererError, match="lacks controls"):
        r.step([s], [[{"pose": {}}]])
    with pytest.raises(RendererError, match="first_frame must be uint8"):
        r.open(seed=0, first_frame=np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(RendererError, match="takes controls"):
        r.open(seed=0, controls=["joystick"])
    r.open(seed=1), r.open(seed=2)
    with pytest.raises(RendererError, match="full"):
        r.open(seed=3)
    r.close(s)
    r.open(seed=4)                                       # the closed session's slot is reused


def test_checkpoint_option_through_the_registry(tmp_path):
    r = make_renderer()
    save_checkpoint(r.model, tmp_path / "ckpt", controls=r.controls)
    loaded = create_renderer("aapt", checkpoint=str(tmp_path / "ckpt"), max_sessions=1, start="noise")
    assert loaded.spec.info["checkpoint"].endswith("ckpt") and loaded.spec.control_kinds == r.spec.control_kinds
    s1, s2 = r.open(seed=5), loaded.open(seed=5)
    for k, (f1, f2) in enumerate(zip(play(r, [s1], 3), play(loaded, [s2], 3))):
        np.testing.assert_array_equal(f1[0], f2[0])


def test_controls_reach_the_model():
    r = make_renderer()
    a, b = r.open(seed=3), r.open(seed=3)
    r.step([a, b], [camera_packets(0, 1)] * 2)
    still = [{"camera": {"c2w": camera_packets(0, 1)[0]["camera"]["c2w"]}}] * 4
    fa, fb = r.step([a, b], [camera_packets(1, 4), still])
    assert np.abs(fa.astype(int) - fb.astype(int)).mean() > 0.1   # same seed, different camera


def test_plays_a_checkpoint_through_the_worker_process(tmp_path):
    from worldsim.runtime.client import Client

    r = make_renderer()
    save_checkpoint(r.model, tmp_path / "ckpt", controls=r.controls)
    with Client.spawn("aapt", {"checkpoint": str(tmp_path / "ckpt"), "start": "noise"}) as client:
        session = client.open("aapt", seed=5)
        assert session.spec.info["preset"] == "tiny"
        first = client.step(session, 0, camera_packets(0, 1))
        later = client.step(session, 1, camera_packets(1, 4))
    s = r.open(seed=5)
    np.testing.assert_array_equal(first.frames, r.step([s], [camera_packets(0, 1)])[0])
    np.testing.assert_array_equal(later.frames, r.step([s], [camera_packets(1, 4)])[0])


def packets_for(state) -> list[dict]:
    return camera_packets(0, 1) if state.steps == 0 else camera_packets(1 + 4 * (state.steps - 1), 4)


def play_sessions(r: AaptRenderer, spare) -> list[np.ndarray]:
    """Sessions opening, closing and restored into others at different times, stepped in batches
    of mixed phases; `spare()` may open an idle session, moving the next ones to other slots."""
    frames = []

    def step(*states):
        frames.extend(r.step(list(states), [packets_for(s) for s in states]))

    spare()
    a = r.open(seed=1)
    spare()
    b = r.open(seed=2, prompt="dusk")
    step(a, b)
    c = r.open(seed=3)
    step(b, c, a)                                   # c's first latent beside a's and b's second
    snap = r.snapshot(a)
    step(a, c)
    step(c, b, a)
    r.close(b)
    spare()
    d = r.open(seed=4)
    step(d, a, c)
    r.restore(a, snap)
    e = r.open(seed=5)                              # b's old slot, or another
    r.restore(e, snap)                              # a's past in another slot
    n = len(frames)
    step(a, e, d)
    np.testing.assert_array_equal(frames[n], frames[n + 1])
    r.close(c)
    f = r.open(seed=6)                              # fresh, in a slot that held a started session
    for _ in range(4):                              # past the window of 3
        step(e, f, d, a)
    r.close(a)
    step(d, f)
    return frames


def test_sessions_render_the_same_whatever_slots_they_hold():
    """The decoder's and the generator's per-session state follow the session's slot: the same
    sessions in other (non-contiguous) slots, restored across slots, render the same frames."""
    torch.manual_seed(0)
    r = make_renderer(max_sessions=4)
    expected = play_sessions(r, lambda: None)
    torch.manual_seed(0)
    twin = make_renderer(max_sessions=7)
    got = play_sessions(twin, lambda: twin.open(seed=99))
    assert len(got) == len(expected) == 34
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_steps_write_the_decoder_state_in_place():
    """The decoder's per-session state is static: many steps of changing batches allocate no new
    buffers and leave no more live tensors behind."""
    import gc

    def live_tensors() -> int:
        gc.collect()
        return sum(type(o) in (torch.Tensor, torch.nn.Parameter) for o in gc.get_objects())   # not compile's fakes

    r = make_renderer()
    a, b, c = (r.open(seed=s) for s in (1, 2, 3))
    play(r, [a, b, c], 2)
    buffers = {m: t.data_ptr() for m, t in r.decoder.cache.frames.items()}
    counts = []
    for k in range(15):
        batch = [[a, b, c], [c, a], [b]][k % 3]
        r.step(batch, [packets_for(s) for s in batch])
        if k % 3 == 2 and k > 2:                # after one round of these batches (their row indices)
            counts.append(live_tensors())
    assert buffers and {m: t.data_ptr() for m, t in r.decoder.cache.frames.items()} == buffers
    assert len(set(counts)) == 1 and counts[0] > 0
