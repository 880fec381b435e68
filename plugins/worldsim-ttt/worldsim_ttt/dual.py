"""The TTT inner loop in PyTorch, dual form: the reference that the Triton kernels are tested against.

Per (batch, head) the inner model's weights are a state that is trained on the keys of each
mini-batch of b tokens and then applied to the queries of that same mini-batch:

    grads of  l_j = 1/2 |LN(f_W(k_j)) - target_j|^2   at W_{m-1}, summed over j in m with weights eta_j / b
    W_m = W_{m-1} - sum_j (eta_j / b) grad_W l_j(W_{m-1})
    z_t = q_t + LN(f_{W_m}(q_t))                           for every t in mini-batch m

"Dual form": the per-token gradients are never materialised; the sum over the mini-batch is one
matrix product (K^T @ (eta * dL/dZ)), so a step costs a handful of batched matmuls. Autograd
differentiates through the whole scan (that is the reference backward).

Shapes: tokens [B, H, L, d]; eta [B, H, L]; LN gamma/beta [H, d]; the state is batched over B.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

LN_EPS = 1e-8
_GELU_C = math.sqrt(2.0 / math.pi)


def gelu_tanh(x: Tensor) -> Tensor:
    return 0.5 * x * (1.0 + torch.tanh(_GELU_C * (x + 0.044715 * x**3)))


def gelu_tanh_grad(x: Tensor) -> Tensor:
    t = torch.tanh(_GELU_C * (x + 0.044715 * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x)


def layer_norm(z: Tensor, gamma: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """LN over the last dim, biased variance, eps inside the sqrt. Returns (y, xhat, rstd)."""
    mu = z.mean(-1, keepdim=True)
    zc = z - mu
    rstd = torch.rsqrt((zc * zc).mean(-1, keepdim=True) + LN_EPS)
    xhat = zc * rstd
    return gamma * xhat + beta, xhat, rstd


def ln_l2_grad(z: Tensor, target: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """d/dz of 1/2 |LN(z) - target|^2, row by row (the analytic LayerNorm backward)."""
    y, xhat, rstd = layer_norm(z, gamma, beta)
    gx = (y - target) * gamma
    return rstd * (gx - gx.mean(-1, keepdim=True) - xhat * (gx * xhat).mean(-1, keepdim=True))


class MLPState(NamedTuple):
    W1: Tensor  # [B, H, d, 4d]
    b1: Tensor  # [B, H, 1, 4d]
    W2: Tensor  # [B, H, 4d, d]
    b2: Tensor  # [B, H, 1, d]


class LinearState(NamedTuple):
    W: Tensor  # [B, H, d, d]
    b: Tensor  # [B, H, 1, d]


def mlp_step(s: MLPState, q: Tensor, k: Tensor, target: Tensor, eta: Tensor,
             gamma: Tensor, beta: Tensor) -> tuple[Tensor, MLPState]:
    """One mini-batch. q, k, target [B, H, b, d]; eta [B, H, b, 1] (already / b); gamma, beta [H, 1, d]."""
    z1 = k @ s.W1 + s.b1                                   # [B, H, b, 4d]
    x2 = gelu_tanh(z1)
    g2 = ln_l2_grad(x2 @ s.W2 + s.b2, target, gamma, beta)  # [B, H, b, d]
    g1 = (g2 @ s.W2.transpose(-1, -2)) * gelu_tanh_grad(z1)  # [B, H, b, 4d]
    eg1, eg2 = eta * g1, eta * g2
    new = MLPState(
        s.W1 - k.transpose(-1, -2) @ eg1, s.b1 - eg1.sum(-2, keepdim=True),
        s.W2 - x2.transpose(-1, -2) @ eg2, s.b2 - eg2.sum(-2, keepdim=True),
    )
    out = gelu_tanh(q @ new.W1 + new.b1) @ new.W2 + new.b2
    return q + layer_norm(out, gamma, beta)[0], new


def linear_step(s: LinearState, q: Tensor, k: Tensor, target: Tensor, eta: Tensor,
                gamma: Tensor, beta: Tensor) -> tuple[Tensor, LinearState]:
    """One mini-batch of TTT-Linear, f(x) = LN(x W + b). Shapes as in `mlp_step`."""
    g = eta * ln_l2_grad(k @ s.W + s.b, target, gamma, beta)  # [B, H, b, d]
    new = LinearState(s.W - k.transpose(-1, -2) @ g, s.b - g.sum(-2, keepdim=True))
    return q + layer_norm(q @ new.W + new.b, gamma, beta)[0], new


def scan(step, state, q: Tensor, k: Tensor, target: Tensor, eta: Tensor,
         ln_weight: Tensor, ln_bias: Tensor, mini_batch: int):
    """Run `step` over the mini-batches of q, k, target [B, H, L, d], eta [B, H, L].

    Everything is computed in the state's dtype. Returns (z [B, H, L, d] in that dtype, final state).
    """
    B, H, L, d = q.shape
    dt = state[0].dtype
    n = L // mini_batch
    qs, ks, ts = (x.to(dt).reshape(B, H, n, mini_batch, d) for x in (q, k, target))
    es = (eta.to(dt) / mini_batch).reshape(B, H, n, mini_batch, 1)
    gamma, beta = ln_weight.to(dt).unsqueeze(1), ln_bias.to(dt).unsqueeze(1)  # [H, 1, d]
    outs = []
    for m in range(n):
        z, state = step(state, qs[:, :, m], ks[:, :, m], ts[:, :, m], es[:, :, m], gamma, beta)
        outs.append(z)
    return torch.stack(outs, dim=2).reshape(B, H, L, d), state


def scan_checkpointed(step, state, q: Tensor, k: Tensor, target: Tensor, eta: Tensor,
                      ln_weight: Tensor, ln_bias: Tensor, mini_batch: int, segment: int) -> Tensor:
    """`scan`, with torch.utils.checkpoint around every `segment` tokens (a multiple of mini_batch):
    backward keeps one segment's activations at a time, so long references fit in memory. Returns z."""
    outs = []
    for s in range(0, q.shape[2], segment):
        sl = slice(s, s + segment)
        z, state = checkpoint(lambda st, *t: scan(step, st, *t, ln_weight, ln_bias, mini_batch), state,
                              q[:, :, sl], k[:, :, sl], target[:, :, sl], eta[:, :, sl], use_reentrant=False)
        outs.append(z)
    return torch.cat(outs, dim=2)


def state_dtype(*tensors: Tensor) -> torch.dtype:
    """The inner state's dtype: fp64 if any input is fp64, else fp32 (never below fp32)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def initial_mlp_state(B: int, W1: Tensor, b1: Tensor, W2: Tensor, b2: Tensor, dt: torch.dtype) -> MLPState:
    """The learned initial weights [H, ...], broadcast over the batch (gradients flow back to them)."""
    return MLPState(W1.to(dt).expand(B, *W1.shape), b1.to(dt).unsqueeze(-2).expand(B, -1, -1, -1),
                    W2.to(dt).expand(B, *W2.shape), b2.to(dt).unsqueeze(-2).expand(B, -1, -1, -1))


def initial_linear_state(B: int, W: Tensor, b: Tensor, dt: torch.dtype) -> LinearState:
    return LinearState(W.to(dt).expand(B, *W.shape), b.to(dt).unsqueeze(-2).expand(B, -1, -1, -1))
