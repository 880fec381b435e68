"""The dual-form ops equal the primal definition (fp64, outputs and every gradient); dtypes; errors."""
from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from worldsim_ttt import dual
from worldsim_ttt.ops import ttt_linear, ttt_mlp

_spec = importlib.util.spec_from_file_location("ttt_primal", pathlib.Path(__file__).with_name("primal.py"))
primal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(primal)

NAMES_MLP = ["q", "k", "target", "eta", "ln_weight", "ln_bias", "W1", "b1", "W2", "b2"]
NAMES_LINEAR = ["q", "k", "target", "eta", "ln_weight", "ln_bias", "W", "b"]


def make_inputs(kind, B=2, H=2, L=12, d=4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=1.0: (torch.randn(*s, generator=g, dtype=torch.float64) * scale).to(dtype)
    x = dict(q=r(B, H, L, d), k=r(B, H, L, d), target=r(B, H, L, d),
             eta=(0.5 + torch.rand(B, H, L, generator=g, dtype=torch.float64)).to(dtype),
             ln_weight=1 + r(H, d, scale=0.3), ln_bias=r(H, d, scale=0.3))
    if kind == "mlp":
        x.update(W1=r(H, d, 4 * d, scale=0.5), b1=r(H, 4 * d, scale=0.3),
                 W2=r(H, 4 * d, d, scale=0.5), b2=r(H, d, scale=0.3))
    else:
        x.update(W=r(H, d, d, scale=0.5), b=r(H, d, scale=0.3))
    return x


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("kind,mini_batch", [("mlp", 4), ("linear", 3), ("mlp", 12)])
def test_dual_equals_primal_outputs_and_gradients(kind, mini_batch):
    op, ref = (ttt_mlp, primal.primal_ttt_mlp) if kind == "mlp" else (ttt_linear, primal.primal_ttt_linear)
    names = NAMES_MLP if kind == "mlp" else NAMES_LINEAR
    x = {n: t.requires_grad_() for n, t in make_inputs(kind).items()}
    args = [x[n] for n in names]
    z, z_ref = op(*args, mini_batch=mini_batch), ref(*args, mini_batch=mini_batch)
    assert z.dtype == torch.float64
    assert rel(z, z_ref) <= 1e-10
    # the inner loop really moves the state: outputs differ from the frozen-W0 model
    frozen = op(*args[:3], torch.zeros_like(x["eta"]), *args[4:], mini_batch=mini_batch)
    assert rel(frozen, z_ref) > 1e-3
    cot = torch.randn_like(z)
    grads = torch.autograd.grad((z * cot).sum(), args)
    grads_ref = torch.autograd.grad((z_ref * cot).sum(), args)
    for n, g, g_ref in zip(names, grads, grads_ref):
        assert g_ref.norm() > 0, n
        assert rel(g, g_ref) <= 1e-10, n


def test_checkpointed_scan_equals_scan():
    # the long-sequence references (GPU tests, precision probe) run the scan checkpointed per segment
    x = {n: t.requires_grad_() for n, t in make_inputs("mlp", L=24).items()}
    args = [x[n] for n in NAMES_MLP]
    state = dual.initial_mlp_state(2, *args[6:], torch.float64)
    z = ttt_mlp(*args, mini_batch=4)
    z_ck = dual.scan_checkpointed(dual.mlp_step, state, *args[:6], mini_batch=4, segment=8)
    assert torch.equal(z, z_ck)
    cot = torch.randn_like(z)
    for n, g, g_ck in zip(NAMES_MLP, torch.autograd.grad(z, args, cot), torch.autograd.grad(z_ck, args, cot)):
        assert torch.allclose(g, g_ck, rtol=1e-12, atol=1e-14), n


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_keep_fp32_state(dtype, monkeypatch):
    x = make_inputs("mlp", dtype=dtype)
    seen = []
    step = dual.mlp_step
    monkeypatch.setattr(dual, "mlp_step", lambda s, *a: seen.append(s.W1.dtype) or step(s, *a))
    z = ttt_mlp(*[x[n] for n in NAMES_MLP], mini_batch=4)
    assert z.dtype == dtype and set(seen) == {torch.float32}
    # and the result is the fp32 computation on the same (rounded) inputs, rounded once at the end
    z32 = ttt_mlp(*[x[n].float() for n in NAMES_MLP], mini_batch=4)
    assert torch.equal(z, z32.to(dtype))


def test_fp64_state_stays_fp64():
    x = make_inputs("linear")
    state = dual.initial_linear_state(2, x["W"], x["b"], dual.state_dtype(*x.values()))
    assert state.W.dtype == torch.float64


def test_bad_input_is_reported_clearly():
    x = make_inputs("mlp", L=10)
    with pytest.raises(ValueError, match="multiple of mini_batch"):
        ttt_mlp(*[x[n] for n in NAMES_MLP], mini_batch=4)
    x = make_inputs("mlp")
    with pytest.raises(ValueError, match="W2 must have shape"):
        ttt_mlp(*[x[n] for n in NAMES_MLP[:8]], x["W2"][:, :3], x["b2"], mini_batch=4)
    with pytest.raises(ValueError, match="backend"):
        ttt_mlp(*[x[n] for n in NAMES_MLP], mini_batch=4, backend="cuda")
    with pytest.raises(ValueError, match="needs CUDA"):
        ttt_mlp(*[x[n] for n in NAMES_MLP], mini_batch=4, backend="triton")
