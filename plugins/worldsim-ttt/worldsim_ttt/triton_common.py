"""Pieces shared by the Triton scan kernels: LayerNorm and GELU math, and the autograd plumbing.

Both kernels run one program per (batch, head) over all mini-batches with an fp32 inner state
that never leaves the chip: in registers (TTT-Linear) or in small per-program buffers that stay in
L2, worked through in register tiles (TTT-MLP). Forward saves the state every CKPT_EVERY
mini-batches (only when a gradient is needed); backward walks the checkpoint groups in reverse,
re-runs each group's updates into a per-program scratch (CKPT_EVERY + 1 states), then goes back
through the group's mini-batches carrying the state adjoint.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

LN_EPS: tl.constexpr = tl.constexpr(1e-8)
GELU_C: tl.constexpr = tl.constexpr(0.7978845608028654)   # sqrt(2 / pi)
GELU_A: tl.constexpr = tl.constexpr(0.044715)
CKPT_EVERY = 16


# Elementwise math. With FAST false: correctly rounded division and square root and libdevice's accurate
# exp, not Triton's fast approximations (div.full, sqrt.approx, ex2.approx): over the ~5,000 sequential inner
# updates of a 350k-token scan their small errors grow into the LayerNorm-parameter gradients (which are
# sums of large, mostly cancelling terms); see docs/ttt.md, "Accuracy". FAST is a kernel's constexpr choice.
@triton.jit
def div(x, y, FAST: tl.constexpr):
    if FAST:
        return x / y
    else:
        return tl.div_rn(x, y)


@triton.jit
def sigmoid(x, FAST: tl.constexpr):
    if FAST:
        return 1.0 / (1.0 + tl.exp(-x))
    else:
        return div(1.0, 1.0 + libdevice.exp(-x), FAST)


@triton.jit
def chunk_pointers(P, c, rd, rc, D: tl.constexpr, F: tl.constexpr, FC: tl.constexpr):
    """Pointers to hidden-chunk c of a TTT-MLP state at P: W1[:, c] [D, FC], b1[c] [FC], W2[c, :] [FC, D]."""
    col = c * FC + rc
    return P + rd[:, None] * F + col[None, :], P + D * F + col, P + D * F + F + col[:, None] * D + rd[None, :]


@triton.jit
def ln_stats(z, D: tl.constexpr, FAST: tl.constexpr):
    """Row LayerNorm statistics of z [M, D]: (xhat [M, D], rstd [M])."""
    mu = tl.sum(z, axis=1) / D
    zc = z - mu[:, None]
    var = tl.sum(zc * zc, axis=1) / D + LN_EPS
    if FAST:
        rstd = 1.0 / tl.sqrt(var)
    else:
        rstd = div(1.0, tl.sqrt_rn(var), FAST)
    return zc * rstd[:, None], rstd


@triton.jit
def ln_backward(dy, xh, rstd, D: tl.constexpr):
    """Gradient w.r.t. the LN input given dy w.r.t. xhat (the affine already applied to dy)."""
    c1 = tl.sum(dy, axis=1) / D
    c2 = tl.sum(dy * xh, axis=1) / D
    return rstd[:, None] * (dy - c1[:, None] - xh * c2[:, None])


@triton.jit
def gelu_parts(x, FAST: tl.constexpr):
    """gelu_tanh(x) and its first derivative, through s = sigmoid(2u) = (1 + tanh u) / 2."""
    u1 = GELU_C * (1.0 + 3.0 * GELU_A * x * x)            # du/dx
    s = sigmoid(2.0 * GELU_C * (x + GELU_A * x * x * x), FAST)
    return x * s, s + 2.0 * x * s * (1.0 - s) * u1


@triton.jit
def gelu_second(x, FAST: tl.constexpr):
    """d^2 gelu_tanh / dx^2 = (1 - t^2) (u' - x t u'^2 + 3 a c x^2), t = tanh u."""
    u1 = GELU_C * (1.0 + 3.0 * GELU_A * x * x)
    s = sigmoid(2.0 * GELU_C * (x + GELU_A * x * x * x), FAST)
    t = 2.0 * s - 1.0
    return 4.0 * s * (1.0 - s) * (u1 - x * t * u1 * u1 + 3.0 * GELU_A * GELU_C * x * x)


@triton.jit
def ln_l2_grad(z, tgt, gamma, beta, D: tl.constexpr, FAST: tl.constexpr):
    """d/dz of 1/2 |LN(z) - tgt|^2 per row, and what its backward needs: (g, xh, rstd, gy, h, c2)."""
    xh, rstd = ln_stats(z, D, FAST)
    gy = gamma[None, :] * xh + beta[None, :] - tgt
    h = gy * gamma[None, :]
    c2 = tl.sum(h * xh, axis=1) / D
    g = rstd[:, None] * (h - (tl.sum(h, axis=1) / D)[:, None] - xh * c2[:, None])
    return g, xh, rstd, gy, h, c2


@triton.jit
def ln_l2_grad_backward(dg, g, xh, rstd, gy, h, c2, gamma, D: tl.constexpr, FAST: tl.constexpr):
    """Back through `ln_l2_grad`: given dg, return (dz, dtarget, dgamma rows, dbeta rows)."""
    dh = ln_backward(dg, xh, rstd, D)                  # g is rstd * P h with P symmetric
    c3 = tl.sum(dg * xh, axis=1) / D
    dxh = -rstd[:, None] * (c2[:, None] * dg + h * c3[:, None]) + dh * (gamma * gamma)[None, :]
    dxh_tot = div(tl.sum(dg * g, axis=1) + tl.sum(dxh * xh, axis=1), rstd, FAST)   # d/d rstd, all paths
    dzc = rstd[:, None] * dxh - (rstd * rstd * dxh_tot / D)[:, None] * xh
    dz = dzc - (tl.sum(dzc, axis=1) / D)[:, None]
    dgamma = dh * (gy + gamma[None, :] * xh)
    return dz, -dh * gamma[None, :], dgamma, dh * gamma[None, :]


@triton.jit
def kahan_add(total, comp, x):
    """Compensated summation: (total, comp) += x. The LN-parameter gradients sum ~10^4 steps."""
    y = x - comp
    t = total + y
    return t, (t - total) - y


def check_kernel_inputs(q: torch.Tensor, mini_batch: int, d: int) -> None:
    if q.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"backend='triton' takes fp32, bf16 or fp16 tokens, got {q.dtype}; use backend='torch'")
    for name, n in (("head dim d", d), ("mini_batch", mini_batch)):
        if n < 16 or n & (n - 1):
            raise ValueError(f"backend='triton' needs {name} a power of two >= 16, got {n}")


class ScanKernels:
    """A fwd/bwd kernel pair over one flat fp32 state layout (the params concatenated, per head).

    fwd_scratch / bwd_scratch(S, BS, D, F, CK) give the fp32 scratch each program works in (states, cached
    activations; a split forward's exchange slots are sized by `launch_forward`, fwd_scratch None); num_warps, fp32_precision (tl.dot
    precision; the dots take fp32 operands for tokens of every dtype, which the kernels upcast on load) and fast_math
    (Triton's approximate sigmoid, sqrt and division) are each a (forward, backward) pair. bf16/fp16 tokens had
    single-pass TF32 dots until 2026-12-01: Triton truncates TF32 operands, and through the scan that bias grew to
    1.1e-1 (relative, against fp64) in one head's k gradient on an H200 (scripts/ttt_bf16_gap.py; the bf16 torch
    reference: 2e-3); the torch reference with its dot operands truncated to TF32 gives that head 1.09e-1 on the CPU,
    rounded 4.4e-3 (docs/ttt.md, Accuracy). split: 0 for a forward of one program per (batch, head); else the hidden
    columns each of the F // split programs of a (batch, head) holds (the forward then takes a zeroed int32
    counter per (batch, head), CNT, and the constexpr FC = min(split, F)); exchange_tiles: the [BS, D] tiles each of
    them exchanges at a barrier (1 for _mlp_fwd_split, 2 for _mlp_fwd_paired), which sizes its exchange slots."""

    def __init__(self, fwd, bwd, fwd_scratch, bwd_scratch, num_warps: tuple[int, int] = (4, 4),
                 fp32_precision: tuple[str, str] = ("tf32x3", "tf32x3"), fast_math: tuple[bool, bool] = (False, False),
                 split: int = 0, exchange_tiles: int = 1, rerun=None):
        self.fwd, self.bwd, self.fwd_scratch, self.bwd_scratch = fwd, bwd, fwd_scratch, bwd_scratch
        self.num_warps, self.fp32_precision, self.fast_math = tuple(num_warps), tuple(fp32_precision), tuple(fast_math)
        self.split, self.exchange_tiles, self.rerun = split, exchange_tiles, rerun

    def variant(self, num_warps=None, fp32_precision=None, fast_math=None, split=None, rerun=None) -> "ScanKernels":
        """The same kernels launched with other settings (None keeps this one's)."""
        return ScanKernels(self.fwd, self.bwd, self.fwd_scratch, self.bwd_scratch, num_warps or self.num_warps,
                           fp32_precision or self.fp32_precision,
                           self.fast_math if fast_math is None else fast_math, self.split if split is None else split,
                           self.exchange_tiles, rerun or self.rerun)


def launch_forward(kernels: ScanKernels, mini_batch: int, F: int, q, k, target, eta, lnw, lnb, init, save: bool,
                   ck: int = CKPT_EVERY):
    """Run the forward kernel on contiguous inputs (init [H, S] fp32, the flat initial state per head; F the
    hidden width, params[0].shape[-1]).
    Returns (z, the state checkpoints [B*H, n_ck, S] every `ck` mini-batches, or a dummy without `save`)."""
    B, H, L, D = q.shape
    S = init.shape[1]
    n_ck = triton.cdiv(L // mini_batch, ck)
    ckpt = q.new_empty((B * H, n_ck, S) if save else (1,), dtype=torch.float32)
    z = torch.empty_like(q)
    grid, split = (B * H,), {}
    if kernels.split:               # P programs per (batch, head), consecutive pids: see _mlp_fwd_split
        fc = min(kernels.split, F)
        if F % fc:
            raise ValueError(f"the split forward needs the hidden width {F} a multiple of {fc}")
        grid = (B * H * (F // fc),)
        split = dict(CNT=torch.zeros(B * H, dtype=torch.int32, device=q.device), FC=fc)
        scratch_size = 2 * kernels.exchange_tiles * F // fc * mini_batch * D   # two exchange slots of [P, tiles, BS, D]
    else:
        scratch_size = kernels.fwd_scratch(S, mini_batch, D, F, ck)
    scratch = q.new_empty((B * H, scratch_size), dtype=torch.float32)
    kernels.fwd[grid](q, k, target, eta, lnw, lnb, init, z, ckpt, scratch, L=L, H=H, D=D, F=F, BS=mini_batch,
                      CK=ck, SAVE=save, PREC=kernels.fp32_precision[0],
                      FAST=kernels.fast_math[0], num_warps=kernels.num_warps[0], **split)
    return z, ckpt


class TTTScan(torch.autograd.Function):
    """z = scan(q, k, target, eta, ln_weight, ln_bias, *params) on the Triton kernels `kernels`."""

    @staticmethod
    def forward(ctx, kernels: ScanKernels, mini_batch: int, q, k, target, eta, ln_weight, ln_bias, *params):
        F = params[0].shape[-1]
        H = q.shape[1]
        q, k, target, eta = (x.contiguous() for x in (q, k, target, eta))
        init = torch.cat([p.detach().float().reshape(H, -1) for p in params], dim=1).contiguous()  # [H, S]
        lnw, lnb = ln_weight.detach().float().contiguous(), ln_bias.detach().float().contiguous()
        z, ckpt = launch_forward(kernels, mini_batch, F, q, k, target, eta, lnw, lnb, init, any(ctx.needs_input_grad))
        ctx.save_for_backward(q, k, target, eta, lnw, lnb, ckpt)
        ctx.kernels, ctx.mini_batch, ctx.F = kernels, mini_batch, F
        ctx.param_meta = [(p.shape, p.dtype) for p in params]
        ctx.ln_dtype = ln_weight.dtype
        return z

    @staticmethod
    def backward(ctx, dz):
        q, k, target, eta, lnw, lnb, ckpt = ctx.saved_tensors
        B, H, L, D = q.shape
        S = ckpt.shape[-1]
        dq, dk, dt, deta = (torch.empty_like(x) for x in (q, k, target, eta))
        kernels, n_ck = ctx.kernels, ckpt.shape[1]
        scratch_size = kernels.bwd_scratch(S, ctx.mini_batch, D, ctx.F, CKPT_EVERY)
        common = dict(D=D, F=ctx.F, BS=ctx.mini_batch, CK=CKPT_EVERY, PREC=kernels.fp32_precision[1],
                      FAST=kernels.fast_math[1], num_warps=kernels.num_warps[1], num_stages=1)
        extra = {}
        if kernels.rerun is not None:     # every group re-run at once, one program each, before the backward walks them
            scratch = q.new_empty((B * H * n_ck, scratch_size), dtype=torch.float32)
            kernels.rerun[(B * H * n_ck,)](k, target, eta, lnw, lnb, ckpt, scratch, L, H=H, **common)
            extra = dict(RERUN=False)
        else:
            scratch = q.new_empty((B * H, scratch_size), dtype=torch.float32)
        dstate = q.new_empty((B * H, S), dtype=torch.float32)
        dln = q.new_empty((B * H, 2, D), dtype=torch.float32)
        kernels.bwd[(B * H,)](q, k, target, eta, lnw, lnb, ckpt, scratch, dz.contiguous(), dq, dk, dt, deta,
                              dstate, dln, L, H=H, **common, **extra)
        dstate = dstate.view(B, H, S).sum(0)
        sizes = [torch.Size(shape[1:]).numel() for shape, _ in ctx.param_meta]
        dparams = [g.reshape(shape).to(dtype) for g, (shape, dtype)
                   in zip(dstate.split(sizes, dim=1), ctx.param_meta)]
        dln = dln.view(B, H, 2, D).sum(0).to(ctx.ln_dtype)
        return (None, None, dq, dk, dt, deta, dln[:, 0], dln[:, 1], *dparams)
