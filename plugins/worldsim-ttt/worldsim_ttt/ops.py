"""The TTT ops: `ttt_mlp` and `ttt_linear`, with a PyTorch (dual form) and a Triton backend.

    z = ttt_mlp(q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2, mini_batch=64, backend="torch")
    z = ttt_linear(q, k, target, eta, ln_weight, ln_bias, W, b, mini_batch=16, backend="torch")

q, k, target [B, H, L, d] (L a multiple of mini_batch); eta [B, H, L] per-token inner rates
(base_lr * sigmoid(.) / d); ln_weight, ln_bias [H, d]; the learned initial inner weights per head:
W1 [H, d, 4d], b1 [H, 4d], W2 [H, 4d, d], b2 [H, d]  (MLP)   or   W [H, d, d], b [H, d]  (Linear).
Returns z [B, H, L, d] in q's dtype. The inner state is fp32 for fp32/bf16/fp16 inputs, fp64 for fp64.
See dual.py for the exact update rule.
"""
from __future__ import annotations

from torch import Tensor

from . import dual

BACKENDS = ("torch", "triton")


def ttt_mlp(q: Tensor, k: Tensor, target: Tensor, eta: Tensor, ln_weight: Tensor, ln_bias: Tensor,
            W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor, mini_batch: int = 64,
            backend: str = "torch") -> Tensor:
    """TTT-MLP: inner model f(x) = LN(gelu_tanh(x W1 + b1) W2 + b2), output q + f_{W_m}(q)."""
    B, H, L, d = _check_tokens(q, k, target, eta, ln_weight, ln_bias, mini_batch, backend)
    hidden = W1.shape[-1]
    _check_shape("W1", W1, (H, d, hidden))
    _check_shape("b1", b1, (H, hidden))
    _check_shape("W2", W2, (H, hidden, d))
    _check_shape("b2", b2, (H, d))
    if backend == "triton":
        from .triton_mlp import ttt_mlp_triton
        return ttt_mlp_triton(q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2, mini_batch)
    dt = dual.state_dtype(q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2)
    state = dual.initial_mlp_state(B, W1, b1, W2, b2, dt)
    z, _ = dual.scan(dual.mlp_step, state, q, k, target, eta, ln_weight, ln_bias, mini_batch)
    return z.to(q.dtype)


def ttt_linear(q: Tensor, k: Tensor, target: Tensor, eta: Tensor, ln_weight: Tensor, ln_bias: Tensor,
               W: Tensor, b: Tensor, mini_batch: int = 16, backend: str = "torch") -> Tensor:
    """TTT-Linear: inner model f(x) = LN(x W + b), output q + f_{W_m}(q)."""
    B, H, L, d = _check_tokens(q, k, target, eta, ln_weight, ln_bias, mini_batch, backend)
    _check_shape("W", W, (H, d, d))
    _check_shape("b", b, (H, d))
    if backend == "triton":
        from .triton_linear import ttt_linear_triton
        return ttt_linear_triton(q, k, target, eta, ln_weight, ln_bias, W, b, mini_batch)
    dt = dual.state_dtype(q, k, target, eta, ln_weight, ln_bias, W, b)
    state = dual.initial_linear_state(B, W, b, dt)
    z, _ = dual.scan(dual.linear_step, state, q, k, target, eta, ln_weight, ln_bias, mini_batch)
    return z.to(q.dtype)


def _check_shape(name: str, t: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(t.shape)}")


def _check_tokens(q, k, target, eta, ln_weight, ln_bias, mini_batch, backend) -> tuple[int, int, int, int]:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if q.dim() != 4:
        raise ValueError(f"q must be [B, H, L, d], got shape {list(q.shape)}")
    B, H, L, d = q.shape
    _check_shape("k", k, (B, H, L, d))
    _check_shape("target", target, (B, H, L, d))
    _check_shape("eta", eta, (B, H, L))
    _check_shape("ln_weight", ln_weight, (H, d))
    _check_shape("ln_bias", ln_bias, (H, d))
    if not (isinstance(mini_batch, int) and mini_batch > 0):
        raise ValueError(f"mini_batch must be a positive int, got {mini_batch!r}")
    if L % mini_batch:
        raise ValueError(f"sequence length {L} is not a multiple of mini_batch={mini_batch}; pad the sequence")
    if not (q.is_floating_point() and k.dtype == q.dtype and target.dtype == q.dtype):
        raise ValueError(f"q, k, target must share one floating dtype, got {q.dtype}, {k.dtype}, {target.dtype}")
    if backend == "triton" and q.device.type != "cuda":
        raise ValueError("backend='triton' needs CUDA tensors; use backend='torch' on the CPU")
    return B, H, L, d
