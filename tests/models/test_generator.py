"""The generator's streaming path equals its training path, and its state is static."""
from __future__ import annotations

import pytest
import torch

from worldsim.config import model_preset, replace_generator
from worldsim.models.attention import ClipLayout, attention
from worldsim.models.generator import Generator

LATENT_HW = (4, 4)
TEXT_LEN = 8


def make_generator(**changes) -> Generator:
    torch.manual_seed(0)
    gen = Generator(replace_generator(model_preset("tiny"), **changes).generator)
    gen.init_weights(zero_init=False)        # every path live, so equality is not vacuous
    return gen.eval()


def rollout(gen: Generator, first, text, controls, noise, slots=None):
    """Frame-by-frame with the KV cache; returns the latents (B, F, C, h, w), frame 0 included."""
    gen.start(first, text, slots=slots)
    latents = [first]
    for i in range(1, controls.shape[1]):
        latents.append(gen.step(controls[:, i], noise[:, i], slots=slots))
    return torch.stack(latents, dim=1)


def clip_data(gen: Generator, batch: int, frames: int):
    cfg = gen.cfg
    g = torch.Generator().manual_seed(1)
    first = torch.randn(batch, cfg.latent_channels, *LATENT_HW, generator=g)
    text = torch.randn(batch, TEXT_LEN, cfg.text_dim, generator=g)
    controls = torch.randn(batch, frames, cfg.control_channels, *LATENT_HW, generator=g)
    noise = torch.randn(batch, frames, cfg.latent_channels, *LATENT_HW, generator=g)
    return first, text, controls, noise


def teacher_forced(gen: Generator, latents, text, controls, noise):
    """The whole clip in one forward: noise slot eps_i at t=1, recycled slot = the rollout's latents."""
    inputs = gen.clip_inputs(noise, latents, controls)
    t = torch.ones(latents.shape[:2], device=latents.device)
    t[:, 0] = 0.0
    with torch.no_grad():
        v = gen.forward_clip(inputs, t, text)
    return noise[:, 1:] - v[:, 1:]


@pytest.mark.parametrize("dual_stream", [False, True])
def test_kv_cache_rollout_equals_whole_clip_forward_past_the_window(dual_stream):
    gen = make_generator(dual_stream=dual_stream)           # window N = 3
    frames = 3 * gen.cfg.window + 2                         # well past the window: sinks re-positioned
    first, text, controls, noise = clip_data(gen, 2, frames)
    gen.setup_cache(2, LATENT_HW, TEXT_LEN)
    latents = rollout(gen, first, text, controls, noise)
    expected = teacher_forced(gen, latents, text, controls, noise)
    assert latents[:, 1:].abs().mean() > 0.1
    torch.testing.assert_close(latents[:, 1:], expected, rtol=1e-5, atol=1e-5)


def test_sessions_in_a_batch_are_independent_and_can_start_at_different_times():
    gen = make_generator()
    first, text, controls, noise = clip_data(gen, 2, 6)
    gen.setup_cache(2, LATENT_HW, TEXT_LEN)
    alone = rollout(gen, first[:1], text[:1], controls[:1], noise[:1], slots=[0])
    # Session 1 starts three steps after session 0 (its own frame count, ring slot and positions).
    gen.start(first[1:], text[1:], slots=[1])
    gen.start(first[:1], text[:1], slots=[0])
    for i in range(1, 4):
        gen.step(controls[:1, i], noise[:1, i], slots=[0])
    out = gen.step(controls[:, [4, 1]].diagonal(dim1=0, dim2=1).permute(3, 0, 1, 2),
                   torch.stack([noise[0, 4], noise[1, 1]]), slots=[0, 1])
    torch.testing.assert_close(out[0], alone[0, 4], rtol=1e-5, atol=1e-5)


def test_whole_clip_attention_backends_agree():
    gen = make_generator()
    frames = 2 * gen.cfg.window + 1
    first, text, controls, noise = clip_data(gen, 1, frames)
    latents = torch.cat([first[:, None], noise[:, 1:]], dim=1)
    outs = {}
    for backend in ("sdpa", "flex"):
        gen.backend = backend
        outs[backend] = teacher_forced(gen, latents, text, controls, noise)
    torch.testing.assert_close(outs["flex"], outs["sdpa"], rtol=1e-5, atol=1e-5)


def test_clip_mask_matches_its_definition_and_backends_agree_on_it():
    layout = ClipLayout(text_len=3, frame_tokens=2, frames=7, window=3)
    dense = layout.dense()
    for i in range(layout.frames):
        row = torch.zeros(layout.key_len, dtype=torch.bool)
        for a, b in layout.key_ranges(i):
            row[a:b] = True
        assert torch.equal(dense[2 * i], row) and torch.equal(dense[2 * i + 1], row)
    # frame 6 sees frame 0 at sink position 3 and frames 4..6
    assert layout.key_ranges(6) == [(0, 3), (3 + 3 * 2, 3 + 4 * 2), (3 + 4 * 2 + 3 * 2, 3 + 4 * 2 + 6 * 2)]
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 2, layout.query_len, 8, generator=g)
    k, v = (torch.randn(2, 2, layout.key_len, 8, generator=g) for _ in range(2))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    for backend in ("sdpa", "flex"):
        torch.testing.assert_close(attention(q, k, v, layout, backend), ref, rtol=1e-5, atol=1e-5)
    valid = torch.tensor([[True] * 5 + [False] * (layout.key_len - 5), [True] * layout.key_len])
    step_ref = torch.nn.functional.scaled_dot_product_attention(q[:, :, :2], k, v, attn_mask=valid[:, None, None])
    torch.testing.assert_close(attention(q[:, :, :2], k, v, valid, "flex"), step_ref, rtol=1e-5, atol=1e-5)


def _step_state(gen: Generator) -> dict:
    return {name: (b.data_ptr(), b.nbytes) for name, b in gen.named_buffers()}


def test_step_memory_is_constant_over_500_steps():
    gen = make_generator()
    first, text, controls, _ = clip_data(gen, 1, 2)
    gen.setup_cache(1, LATENT_HW, TEXT_LEN)
    gen.start(first, text)
    before = _step_state(gen)
    cache_bytes = sum(nbytes for _, nbytes in before.values())
    for _ in range(20):                                     # warm-up: past the window, allocator settled
        gen.step(controls[:, 1])
    for _ in range(480):
        latent = gen.step(controls[:, 1])
    assert torch.isfinite(latent).all()
    assert _step_state(gen) == before                       # same buffers, same storage: nothing reallocated
    assert sum(nbytes for _, nbytes in _step_state(gen).values()) == cache_bytes
    assert len(gen._host_frames) == 1                       # host-side bookkeeping does not grow either
    assert int(gen.frame_index[0]) == 501


@pytest.mark.gpu
def test_step_device_memory_is_constant_over_500_steps_on_gpu():
    gen = make_generator().cuda()
    first, text, controls, _ = (x.cuda() for x in clip_data(gen, 1, 2))
    gen.setup_cache(1, LATENT_HW, TEXT_LEN)
    gen.start(first, text)
    for _ in range(20):
        gen.step(controls[:, 1])
    torch.cuda.synchronize()
    allocated = torch.cuda.memory_allocated()
    for _ in range(480):
        gen.step(controls[:, 1])
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == allocated


def gpu_clip(extra_frames: int):
    """A bf16 generator on the GPU with its cache set up and a clip's data 2N + extra_frames long."""
    gen = make_generator().cuda().to(torch.bfloat16)
    data = [x.cuda().to(torch.bfloat16) for x in clip_data(gen, 2, 2 * gen.cfg.window + extra_frames)]
    gen.setup_cache(2, LATENT_HW, TEXT_LEN)
    return gen, data


@pytest.mark.gpu
def test_kv_cache_rollout_equals_whole_clip_forward_on_gpu_in_bf16():
    gen, (first, text, controls, noise) = gpu_clip(2)
    latents = rollout(gen, first, text, controls, noise)
    for backend in ("sdpa", "flex"):
        gen.backend = backend
        expected = teacher_forced(gen, latents, text, controls, noise)
        torch.testing.assert_close(latents[:, 1:].float(), expected.float(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("splits", [2, 3, 5])
def test_split_kv_attention_equals_one_call(splits):
    from worldsim.models.attention import split_kv_attention
    g = torch.Generator().manual_seed(splits)
    q, k, v = (torch.randn(2, 3, n, 16, generator=g) for n in (40, 700, 700))
    want = attention(q, k, v)
    torch.testing.assert_close(split_kv_attention(q, k, v, splits), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(attention(q, k, v, None, "sdpa", kv_splits=splits), want, rtol=1e-5, atol=1e-5)


def test_a_rollout_with_the_cache_in_key_chunks_equals_the_plain_one(monkeypatch):
    import worldsim.models.attention as attention_module
    gen = make_generator()                                   # 72 keys once the ring is full: chunks of 24
    frames = 3 * gen.cfg.window + 2
    first, text, controls, noise = clip_data(gen, 2, frames)
    gen.setup_cache(2, LATENT_HW, TEXT_LEN)
    want = rollout(gen, first, text, controls, noise)
    calls, split = [], attention_module.split_kv_attention
    monkeypatch.setattr(attention_module, "split_kv_attention", lambda *a: calls.append(a[1].shape) or split(*a))
    gen.kv_splits = 3
    got = rollout(gen, first, text, controls, noise)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    steps_with_full_rings = (frames - 1) - (gen.cfg.window - 1)        # the step that fills the ring is one
    assert len(calls) == steps_with_full_rings * gen.cfg.depth          # only unmasked steps are split


@pytest.mark.gpu
def test_the_cache_in_key_chunks_matches_one_call_on_gpu_compiled():
    gen, data = gpu_clip(3)
    want = rollout(gen, *data)
    torch._dynamo.reset()
    gen.kv_splits = 2
    gen.compile_step(mode="reduce-overhead")
    try:
        got = rollout(gen, *data)
    finally:
        torch._dynamo.reset()
    torch.testing.assert_close(got.float(), want.float(), rtol=0.05, atol=0.05)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_split_kv_attention_on_gpu_equals_one_call(dtype):
    from worldsim.models.attention import split_kv_attention
    g = torch.Generator("cuda").manual_seed(0)
    q, k, v = (torch.randn(1, 12, n, 128, generator=g, device="cuda").to(dtype) for n in (1560, 4000, 4000))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v).float()
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    for splits in (2, 3):
        torch.testing.assert_close(split_kv_attention(q, k, v, splits).float(), want, rtol=tol, atol=tol)
