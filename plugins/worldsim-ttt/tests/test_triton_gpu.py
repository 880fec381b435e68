"""The Triton kernels equal the PyTorch dual form, forward and backward (CUDA only)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from worldsim_ttt import dual
from worldsim_ttt.bench import PARAM_NAMES, op_args, random_inputs
from worldsim_ttt.ops import ttt_linear, ttt_mlp

pytestmark = pytest.mark.gpu
OPS = {"mlp": (ttt_mlp, 64), "linear": (ttt_linear, 16)}
NAMES = lambda kind: ["q", "k", "target", "eta", "ln_weight", "ln_bias", *PARAM_NAMES[kind]]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


def reference(kind: str, args: list[torch.Tensor], mini_batch: int, segment: int | None = None) -> torch.Tensor:
    """The torch backend; with `segment`, the same scan checkpointed per segment so 350k tokens fit in memory."""
    op, _ = OPS[kind]
    if segment is None:
        return op(*args, mini_batch=mini_batch, backend="torch")
    q, k, target, eta, ln_w, ln_b, *params = args
    init = dual.initial_mlp_state if kind == "mlp" else dual.initial_linear_state
    step = dual.mlp_step if kind == "mlp" else dual.linear_step
    state = init(q.shape[0], *params, torch.float32)
    outs = []
    for s in range(0, q.shape[2], segment):
        sl = slice(s, s + segment)
        z, state = checkpoint(lambda st, *t: dual.scan(step, st, *t, ln_w, ln_b, mini_batch), state,
                              q[:, :, sl], k[:, :, sl], target[:, :, sl], eta[:, :, sl], use_reentrant=False)
        outs.append(z)
    return torch.cat(outs, dim=2).to(q.dtype)


def check(kind: str, B: int, H: int, L: int, dtype: torch.dtype, tol: float, segment: int | None = None):
    op, mini_batch = OPS[kind]
    x = random_inputs(kind, B, H, L, 64, dtype=dtype, device="cuda", seed=L + H)
    args = [t.requires_grad_() for t in op_args(kind, x)]
    z = op(*args, mini_batch=mini_batch, backend="triton")
    cot = torch.randn_like(z)
    grads = torch.autograd.grad(z, args, cot)
    del z
    z_ref = reference(kind, args, mini_batch, segment)
    grads_ref = torch.autograd.grad(z_ref, args, cot)
    errors = {"z": rel(op(*args, mini_batch=mini_batch, backend="triton").detach(), z_ref.detach())}
    errors.update({n: rel(g, r) for n, g, r in zip(NAMES(kind), grads, grads_ref)})
    print(kind, B, H, L, dtype, {n: f"{e:.2e}" for n, e in errors.items()})
    assert all(g.isfinite().all() for g in grads)
    assert max(errors.values()) <= tol, errors


@pytest.mark.parametrize("kind", ["mlp", "linear"])
@pytest.mark.parametrize("H", [1, 48])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.bfloat16, 1e-2)])
def test_triton_equals_torch(kind, H, dtype, tol):
    check(kind, B=2, H=H, L=4096, dtype=dtype, tol=tol)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_triton_equals_torch_350k_one_head(kind):
    check(kind, B=1, H=1, L=350208, dtype=torch.float32, tol=1e-4)


def test_triton_equals_torch_350k_48_heads():
    check("mlp", B=1, H=48, L=350208, dtype=torch.float32, tol=1e-4, segment=64 * 512)


def test_partial_last_checkpoint_group_and_no_grad_path():
    # 21 mini-batches: the last checkpoint group is partial; no_grad skips the checkpoints
    x = random_inputs("mlp", 1, 3, 64 * 21, 64, device="cuda")
    with torch.no_grad():
        z = ttt_mlp(*op_args("mlp", x), backend="triton")
    assert rel(z, ttt_mlp(*op_args("mlp", x), backend="torch")) <= 1e-4
    check("mlp", B=1, H=3, L=64 * 21, dtype=torch.float32, tol=1e-4)
