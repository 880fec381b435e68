"""TTT-MLP scan in Triton: forward and backward kernels, one program per (batch, head).

State layout (fp32, flat, per head): W1 [D, F] | b1 [F] | W2 [F, D] | b2 [D], F = 4D.
The math is dual.mlp_step's; the backward is its adjoint written out by hand (see docs/ttt.md).
"""
from __future__ import annotations

import triton
import triton.language as tl

from .triton_common import (ScanKernels, TTTScan, check_kernel_inputs, gelu_parts, gelu_second, ln_backward,
                            ln_l2_grad, ln_l2_grad_backward, ln_stats)


@triton.jit
def _load_state(P, rd, rf, D: tl.constexpr, F: tl.constexpr):
    w1 = tl.load(P + rd[:, None] * F + rf[None, :])
    b1 = tl.load(P + D * F + rf)
    w2 = tl.load(P + D * F + F + rf[:, None] * D + rd[None, :])
    b2 = tl.load(P + 2 * D * F + F + rd)
    return w1, b1, w2, b2


@triton.jit
def _store_state(P, w1, b1, w2, b2, rd, rf, D: tl.constexpr, F: tl.constexpr):
    tl.store(P + rd[:, None] * F + rf[None, :], w1)
    tl.store(P + D * F + rf, b1)
    tl.store(P + D * F + F + rf[:, None] * D + rd[None, :], w2)
    tl.store(P + 2 * D * F + F + rd, b2)


@triton.jit
def _train(k, tgt, w1, b1, w2, b2, gamma, beta, D: tl.constexpr, PREC: tl.constexpr):
    """The inner-loss gradients at the old weights: dL/dZ1 (g1 [BS, F]) and dL/dZ2 (g2 [BS, D]), with intermediates."""
    z1 = tl.dot(k, w1, input_precision=PREC) + b1[None, :]            # [BS, F]
    x2, gp = gelu_parts(z1)
    z2 = tl.dot(x2, w2, input_precision=PREC) + b2[None, :]           # [BS, D]
    g2, xh, rstd, gy, h, c2 = ln_l2_grad(z2, tgt, gamma, beta, D)
    gx2 = tl.dot(g2, tl.trans(w2), input_precision=PREC)              # [BS, F]
    return z1, x2, gp, g2, xh, rstd, gy, h, c2, gx2, gx2 * gp


@triton.jit
def _apply(q, w1, b1, w2, b2, PREC: tl.constexpr):
    zq1 = tl.dot(q, w1, input_precision=PREC) + b1[None, :]
    xq2, gpq = gelu_parts(zq1)
    return xq2, gpq, tl.dot(xq2, w2, input_precision=PREC) + b2[None, :]


@triton.jit
def _mlp_fwd(Q, K, T, ETA, LNW, LNB, INIT, Z, CKPT, L, H: tl.constexpr, D: tl.constexpr, F: tl.constexpr,
             BS: tl.constexpr, CK: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr):
    pid = tl.program_id(0)
    h = pid % H
    S: tl.constexpr = 2 * D * F + F + D
    rd, rf, rb = tl.arange(0, D), tl.arange(0, F), tl.arange(0, BS)
    w1, b1, w2, b2 = _load_state(INIT + h * S, rd, rf, D, F)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    tok = pid.to(tl.int64) * L * D
    for m in range(n):
        if SAVE:
            if m % CK == 0:
                _store_state(CKPT + (pid.to(tl.int64) * n_ck + m // CK) * S, w1, b1, w2, b2, rd, rf, D, F)
        offs = tok + (m * BS + rb)[:, None] * D + rd[None, :]
        k = tl.load(K + offs).to(tl.float32)
        tgt = tl.load(T + offs).to(tl.float32)
        e = tl.load(ETA + pid.to(tl.int64) * L + m * BS + rb).to(tl.float32) / BS
        z1, x2, gp, g2, xh, rstd, gy, hh, c2, gx2, g1 = _train(k, tgt, w1, b1, w2, b2, gamma, beta, D, PREC)
        eg1, eg2 = g1 * e[:, None], g2 * e[:, None]
        w1 = w1 - tl.dot(tl.trans(k), eg1, input_precision=PREC)
        b1 = b1 - tl.sum(eg1, axis=0)
        w2 = w2 - tl.dot(tl.trans(x2), eg2, input_precision=PREC)
        b2 = b2 - tl.sum(eg2, axis=0)
        q = tl.load(Q + offs).to(tl.float32)
        xq2, gpq, zq2 = _apply(q, w1, b1, w2, b2, PREC)
        xhq, rstdq = ln_stats(zq2, D)
        out = q + gamma[None, :] * xhq + beta[None, :]
        tl.store(Z + offs, out.to(Z.dtype.element_ty))


@triton.jit
def _mlp_bwd(Q, K, T, ETA, LNW, LNB, CKPT, SCR, DZ, DQ, DK, DT, DETA, DSTATE, DLN, L, H: tl.constexpr,
             D: tl.constexpr, F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr, PREC: tl.constexpr):
    pid = tl.program_id(0)
    h = pid % H
    S: tl.constexpr = 2 * D * F + F + D
    rd, rf, rb = tl.arange(0, D), tl.arange(0, F), tl.arange(0, BS)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    tok = pid.to(tl.int64) * L * D
    scr = SCR + pid.to(tl.int64) * (CK + 1) * S
    # the adjoint of the state after the mini-batch being processed; starts at zero after the last one
    dw1, db1 = tl.zeros([D, F], tl.float32), tl.zeros([F], tl.float32)
    dw2, db2 = tl.zeros([F, D], tl.float32), tl.zeros([D], tl.float32)
    dgam, dbet = tl.zeros([D], tl.float32), tl.zeros([D], tl.float32)
    for gi in range(n_ck):
        grp = n_ck - 1 - gi
        m0 = grp * CK
        cnt = tl.minimum(CK, n - m0)
        # 1. re-run the group's updates from its checkpoint, keeping every state in the scratch
        w1, b1, w2, b2 = _load_state(CKPT + (pid.to(tl.int64) * n_ck + grp) * S, rd, rf, D, F)
        for i in range(cnt):
            _store_state(scr + i * S, w1, b1, w2, b2, rd, rf, D, F)
            offs = tok + ((m0 + i) * BS + rb)[:, None] * D + rd[None, :]
            k = tl.load(K + offs).to(tl.float32)
            tgt = tl.load(T + offs).to(tl.float32)
            e = tl.load(ETA + pid.to(tl.int64) * L + (m0 + i) * BS + rb).to(tl.float32) / BS
            z1, x2, gp, g2, xh, rstd, gy, hh, c2, gx2, g1 = _train(k, tgt, w1, b1, w2, b2, gamma, beta, D, PREC)
            eg1, eg2 = g1 * e[:, None], g2 * e[:, None]
            w1 = w1 - tl.dot(tl.trans(k), eg1, input_precision=PREC)
            b1 = b1 - tl.sum(eg1, axis=0)
            w2 = w2 - tl.dot(tl.trans(x2), eg2, input_precision=PREC)
            b2 = b2 - tl.sum(eg2, axis=0)
        _store_state(scr + cnt * S, w1, b1, w2, b2, rd, rf, D, F)
        tl.debug_barrier()
        # 2. back through the group's mini-batches, last first
        for j in range(cnt):
            i = cnt - 1 - j
            offs = tok + ((m0 + i) * BS + rb)[:, None] * D + rd[None, :]
            eoffs = pid.to(tl.int64) * L + (m0 + i) * BS + rb
            q = tl.load(Q + offs).to(tl.float32)
            do = tl.load(DZ + offs).to(tl.float32)
            # query path z = q + LN(MLP_{W_m}(q))
            w1, b1, w2, b2 = _load_state(scr + (i + 1) * S, rd, rf, D, F)
            xq2, gpq, zq2 = _apply(q, w1, b1, w2, b2, PREC)
            xhq, rstdq = ln_stats(zq2, D)
            dgam += tl.sum(do * xhq, axis=0)
            dbet += tl.sum(do, axis=0)
            dzq2 = ln_backward(do * gamma[None, :], xhq, rstdq, D)
            dw2 += tl.dot(tl.trans(xq2), dzq2, input_precision=PREC)
            db2 += tl.sum(dzq2, axis=0)
            dzq1 = tl.dot(dzq2, tl.trans(w2), input_precision=PREC) * gpq
            dw1 += tl.dot(tl.trans(q), dzq1, input_precision=PREC)
            db1 += tl.sum(dzq1, axis=0)
            dq = do + tl.dot(dzq1, tl.trans(w1), input_precision=PREC)
            # training path at W_{m-1}; dw*, db* now hold the full adjoint of W_m
            w1, b1, w2, b2 = _load_state(scr + i * S, rd, rf, D, F)
            k = tl.load(K + offs).to(tl.float32)
            tgt = tl.load(T + offs).to(tl.float32)
            e = tl.load(ETA + eoffs).to(tl.float32) / BS
            z1, x2, gp, g2, xh, rstd, gy, hh, c2, gx2, g1 = _train(k, tgt, w1, b1, w2, b2, gamma, beta, D, PREC)
            da1 = -tl.dot(k, dw1, input_precision=PREC) - db1[None, :]              # d(eta*g1) [BS, F]
            da2 = -tl.dot(x2, dw2, input_precision=PREC) - db2[None, :]             # d(eta*g2) [BS, D]
            dk = -tl.dot(g1 * e[:, None], tl.trans(dw1), input_precision=PREC)
            dx2 = -tl.dot(g2 * e[:, None], tl.trans(dw2), input_precision=PREC)
            de = tl.sum(da1 * g1, axis=1) + tl.sum(da2 * g2, axis=1)
            dg1 = da1 * e[:, None]
            dgx2 = dg1 * gp
            dz1 = dg1 * gx2 * gelu_second(z1)
            dg2 = da2 * e[:, None] + tl.dot(dgx2, w2, input_precision=PREC)
            dw2 += tl.dot(tl.trans(dgx2), g2, input_precision=PREC)
            dz2, dtgt, dgam_rows, dbet_rows = ln_l2_grad_backward(dg2, g2, xh, rstd, gy, hh, c2, gamma, D)
            dgam += tl.sum(dgam_rows, axis=0)
            dbet += tl.sum(dbet_rows, axis=0)
            dx2 += tl.dot(dz2, tl.trans(w2), input_precision=PREC)
            dz1 += dx2 * gp
            dk += tl.dot(dz1, tl.trans(w1), input_precision=PREC)
            dw1 += tl.dot(tl.trans(k), dz1, input_precision=PREC)
            db1 += tl.sum(dz1, axis=0)
            dw2 += tl.dot(tl.trans(x2), dz2, input_precision=PREC)
            db2 += tl.sum(dz2, axis=0)
            tl.store(DQ + offs, dq.to(DQ.dtype.element_ty))
            tl.store(DK + offs, dk.to(DK.dtype.element_ty))
            tl.store(DT + offs, dtgt.to(DT.dtype.element_ty))
            tl.store(DETA + eoffs, (de / BS).to(DETA.dtype.element_ty))
        tl.debug_barrier()   # the next group overwrites the scratch
    _store_state(DSTATE + pid.to(tl.int64) * S, dw1, db1, dw2, db2, rd, rf, D, F)
    tl.store(DLN + pid * 2 * D + rd, dgam)
    tl.store(DLN + pid * 2 * D + D + rd, dbet)


MLP_KERNELS = ScanKernels(_mlp_fwd, _mlp_bwd, num_warps=8)


def ttt_mlp_triton(q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2, mini_batch):
    """`ops.ttt_mlp` on the Triton kernels (inputs already checked by ops)."""
    check_kernel_inputs(q, mini_batch, q.shape[-1])
    return TTTScan.apply(MLP_KERNELS, mini_batch, q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2)
