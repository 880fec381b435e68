"""Primal TTT: per-mini-batch weights updated by autograd on the inner loss (the definition itself).

Independent of dual.py on purpose: torch's own gelu and layer_norm, gradients by autograd.grad.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _ln(z, gamma, beta):
    return F.layer_norm(z, z.shape[-1:], eps=1e-8) * gamma + beta


def _scan(params, f, q, k, target, eta, ln_weight, ln_bias, b):
    B, H, L, d = q.shape
    gamma, beta = ln_weight.unsqueeze(1), ln_bias.unsqueeze(1)  # [H, 1, d]
    state = [p.expand(B, *p.shape) for p in params]  # per batch element, still in the graph
    outs = []
    for s in range(0, L, b):
        sl = slice(s, s + b)
        pred = _ln(f(state, k[:, :, sl]), gamma, beta)
        loss = ((eta[:, :, sl] / b) * 0.5 * ((pred - target[:, :, sl]) ** 2).sum(-1)).sum()
        grads = torch.autograd.grad(loss, state, create_graph=True)
        state = [w - g for w, g in zip(state, grads)]
        outs.append(q[:, :, sl] + _ln(f(state, q[:, :, sl]), gamma, beta))
    return torch.cat(outs, dim=2)


def _mlp(state, x):
    W1, b1, W2, b2 = state
    return F.gelu(x @ W1 + b1.unsqueeze(-2), approximate="tanh") @ W2 + b2.unsqueeze(-2)


def _linear(state, x):
    W, b = state
    return x @ W + b.unsqueeze(-2)


def primal_ttt_mlp(q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2, mini_batch):
    return _scan([W1, b1, W2, b2], _mlp, q, k, target, eta, ln_weight, ln_bias, mini_batch)


def primal_ttt_linear(q, k, target, eta, ln_weight, ln_bias, W, b, mini_batch):
    return _scan([W, b], _linear, q, k, target, eta, ln_weight, ln_bias, mini_batch)
