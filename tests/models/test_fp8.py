"""FP8 linears (models/fp8.py): close to full precision, inference only, and an option of the aapt
renderer and `bench model`.

Tolerances. e4m3 keeps 3 mantissa bits: rounding to nearest errs by at most 2^-4 = 6.25 % of an
element, ~2^-4/sqrt(3) = 3.6 % RMS (less in practice: the error is relative to the value's binade).
A dot product of independently rounded activations and weights then errs by at most
sqrt(2) x 3.6 % = 5.1 % RMS relative, so a layer on random data stays below 6 % (measured 3.5-3.7 %);
bf16 (8 bits) errs ~0.23 % on the same data. In the tiny generator the block linears' errors are
diluted by the residual stream: its velocity errs ~0.5 % and its latent (noise - velocity) ~0.08 %.
"""
from __future__ import annotations

import json

import pytest
import torch
import torch._dynamo
from torch import nn
from torch._dynamo.utils import counters

from worldsim.models.fp8 import Float8Linear, psnr_db, relative_error, to_float8

from .test_generator import LATENT_HW, TEXT_LEN, clip_data, make_generator

LAYER_TOL = 0.06


@pytest.mark.parametrize("k, n, lead", [(48, 144, (40,)), (320, 1280, (2, 3, 17)), (96, 48, (1, 1, 16))])
def test_float8_linear_matches_linear_within_e4m3_rounding(k, n, lead):
    torch.manual_seed(0)
    lin = nn.Linear(k, n)
    x = torch.randn(*lead, k)
    lin8 = Float8Linear.from_linear(lin)
    with torch.no_grad():
        got, want = lin8(x), lin(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    err = relative_error(got - lin.bias, want - lin.bias)     # the bias is exact: judge the matmul alone
    assert 1e-3 < err < LAYER_TOL                             # quantized (not a float copy), within rounding
    assert psnr_db(got, want) > 30


def test_float8_linear_rows_scale_apart_and_zero_rows_stay_finite():
    """Rowwise scales: a row 1e4 times smaller than another keeps its relative precision, and an
    all-zero row gives the bias (no division by zero)."""
    torch.manual_seed(0)
    lin = nn.Linear(64, 32)
    x = torch.randn(3, 64)
    x[1] *= 1e-4
    x[2] = 0
    with torch.no_grad():
        got, want = Float8Linear.from_linear(lin)(x), lin(x)
    for row in (0, 1):
        assert relative_error(got[row] - lin.bias, want[row] - lin.bias) < LAYER_TOL
    torch.testing.assert_close(got[2], lin.bias.detach())


def test_float8_linear_keeps_a_bf16_input_dtype():
    torch.manual_seed(0)
    lin = nn.Linear(32, 48).to(torch.bfloat16)
    x = torch.randn(5, 32, dtype=torch.bfloat16)
    with torch.no_grad():
        got, want = Float8Linear.from_linear(lin)(x), lin(x)
    assert got.dtype == torch.bfloat16
    assert relative_error(got - lin.bias, want - lin.bias) < LAYER_TOL


def test_gradients_are_a_clear_error():
    lin8 = Float8Linear.from_linear(nn.Linear(32, 32))
    with pytest.raises(RuntimeError, match="inference only"):
        lin8(torch.randn(2, 32, requires_grad=True))
    with torch.no_grad():
        lin8(torch.randn(2, 32, requires_grad=True))           # fine without gradients
    assert list(lin8.parameters()) == []                        # nothing for an optimizer to find


def test_layers_not_multiples_of_16_or_small_are_skipped():
    model = nn.Sequential(nn.Linear(48, 40), nn.Linear(40, 48), nn.Linear(48, 64), nn.Linear(64, 16))
    assert to_float8(model) == 1                                # 40 not a multiple of 16; 16 < min_features
    assert [type(m).__name__ for m in model] == ["Linear", "Linear", "Float8Linear", "Linear"]
    assert to_float8(model, min_features=16) == 1 and isinstance(model[3], Float8Linear)
    with pytest.raises(ValueError, match="multiples of 16"):
        Float8Linear(40, 48)


@pytest.mark.parametrize("dual_stream", [False, True])
def test_to_float8_takes_the_block_linears_and_leaves_the_rest(dual_stream):
    gen = make_generator(dual_stream=dual_stream)
    assert to_float8(gen) == gen.cfg.depth * 4 * (2 if dual_stream else 1)   # qkv, proj, 2 MLP per stream
    for blk in gen.blocks:
        s = blk.video
        assert all(isinstance(m, Float8Linear) for m in (s.qkv, s.proj, s.mlp[0], s.mlp[2]))
    for lin in (gen.patch_embed, gen.text_embed, gen.time_mod, gen.final_mod, gen.final_proj, gen.time_embed.mlp[0]):
        assert type(lin) is nn.Linear


def rollout(gen, frames, slots=(0, 1)):
    dtype, device = gen.patch_embed.weight.dtype, gen.patch_embed.weight.device
    first, text, controls, noise = (x.to(device, dtype) for x in clip_data(gen, len(slots), frames))
    gen.setup_cache(len(slots), LATENT_HW, TEXT_LEN)
    with torch.no_grad():
        gen.start(first, text)
        latents = torch.stack([gen.step(controls[:, i], noise[:, i]) for i in range(1, frames)])
    return latents, noise[:, 1:].transpose(0, 1)


@pytest.mark.parametrize("dual_stream", [False, True])
def test_a_rollout_with_fp8_stays_close_to_full_precision(dual_stream):
    """2 windows and more (both ring phases): the error does not grow step after step."""
    ref = make_generator(dual_stream=dual_stream)
    gen = make_generator(dual_stream=dual_stream)
    to_float8(gen)
    frames = 2 * gen.cfg.window + 3
    want, noise = rollout(ref, frames)
    got, _ = rollout(gen, frames)
    for step in range(frames - 1):
        latent_err = relative_error(got[step], want[step])
        velocity_err = relative_error(noise[step] - got[step], noise[step] - want[step])
        assert 1e-5 < latent_err < 0.005 and velocity_err < 0.02, (step, latent_err, velocity_err)


def test_the_compiled_fp8_step_is_one_graph_per_ring_phase_and_equals_eager():
    """Dynamo traces the fp8 step fullgraph (no host syncs in the activation scales). aot_eager here;
    Inductor on CPU compiles it too (~55 s for tiny on 2 cores, within 3e-8 of eager), too slow to test."""
    torch._dynamo.reset()
    counters.clear()
    gen = make_generator()
    to_float8(gen)
    frames = 2 * gen.cfg.window + 3
    expected, _ = rollout(gen, frames)
    gen.compile_step(backend="aot_eager")
    try:
        with torch._dynamo.config.patch(error_on_recompile=True):
            got, _ = rollout(gen, frames)
        assert counters["stats"]["unique_graphs"] == 2
        assert torch.equal(got, expected)
    finally:
        torch._dynamo.reset()


def test_the_aapt_option_fp8_renders_close_to_full_precision(live_tiny_checkpoint):
    from .test_renderer import play
    from worldsim.models.renderer import AaptRenderer
    frames = []
    for fp8 in (False, True):
        r = AaptRenderer(checkpoint=live_tiny_checkpoint, fp8=fp8, start="noise")
        assert r.spec.info["fp8"] is fp8 and r.spec.info["fp8_linears"] == (8 if fp8 else 0)
        frames.append(play(r, [r.open(seed=3)], 5))               # window 3: both ring phases
    fp8_weights = sum(m.weight_f8.numel() + m.bias.numel() for m in r.model.generator.modules()
                      if isinstance(m, Float8Linear))                   # buffers now: still counted
    assert r.spec.info["generator_params"] == sum(p.numel() for p in r.model.generator.parameters()) + fp8_weights
    diffs = [abs(a[0].astype(int) - b[0].astype(int)) for a, b in zip(*frames)]
    assert all(d.mean() < 0.5 and d.max() <= 4 for d in diffs)         # uint8 frames (measured: <= 1 level)
    assert diffs[-1].any()                                              # the generator's steps did run in fp8


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_fp8_option_is_one_line(capsys, value):
    from worldsim.cli import main
    code = main(["play", "--headless", "--in-process", "--renderer", "aapt", "--renderer-option", "preset=tiny",
                 "--renderer-option", f"fp8={json.dumps(value)}" if value is not None else "fp8=null"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "aapt fp8 must be true or false" in lines[0] and "Error" not in lines[0].split(":", 2)[-1]


def test_bench_model_fp8_reports_its_error(capsys):
    from worldsim.bench.model import main
    assert main(["--preset", "tiny", "--steps", "2", "--fp8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fp8"] is True and out["fp8_linears"] == 8
    assert out["fp8_error_steps"] == out["window"] + 2 + 2
    assert 0 < out["fp8_rel_err"] <= out["fp8_rel_err_max"] < 0.005 and out["fp8_rel_err_v"] < 0.02
    assert out["fp8_psnr_db"] >= out["fp8_psnr_db_min"] > 50


@pytest.mark.gpu
def test_fp8_on_cuda_matches_bf16_and_the_compiled_step_runs():
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("fp8 matmuls need compute capability 8.9+")
    torch.manual_seed(0)
    lin = nn.Linear(1536, 4096, device="cuda", dtype=torch.bfloat16)
    x = torch.randn(1196, 1536, device="cuda", dtype=torch.bfloat16)
    with torch.no_grad():
        got, want = Float8Linear.from_linear(lin)(x), lin(x)
    assert got.dtype == torch.bfloat16
    assert relative_error(got - lin.bias, want - lin.bias) < LAYER_TOL

    torch._dynamo.reset()
    ref = make_generator().to("cuda", torch.bfloat16)
    gen = make_generator().to("cuda", torch.bfloat16)
    to_float8(gen)
    frames = 2 * gen.cfg.window + 3
    want, noise = rollout(ref, frames)
    gen.compile_step(mode="reduce-overhead")               # Inductor + CUDA graphs, as the renderer compiles
    try:
        got, _ = rollout(gen, frames)
    finally:
        torch._dynamo.reset()
    assert got.dtype == torch.bfloat16
    assert relative_error(got, want) < 0.01
    assert relative_error(noise - got, noise - want) < 0.05
