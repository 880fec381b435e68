"""TTT-Linear scan in Triton: forward and backward kernels, one program per (batch, head).

State layout (fp32, flat, per head): W [D, D] | b [D]. The math is dual.linear_step's.
"""
from __future__ import annotations

import triton
import triton.language as tl

from .triton_common import (ScanKernels, TTTScan, check_kernel_inputs, kahan_add, ln_backward, ln_l2_grad,
                            ln_l2_grad_backward, ln_stats)


@triton.jit
def _load_state(P, rd, D: tl.constexpr):
    return tl.load(P + rd[:, None] * D + rd[None, :]), tl.load(P + D * D + rd)


@triton.jit
def _store_state(P, w, b, rd, D: tl.constexpr):
    tl.store(P + rd[:, None] * D + rd[None, :], w)
    tl.store(P + D * D + rd, b)


@triton.jit
def _linear_fwd(Q, K, T, ETA, LNW, LNB, INIT, Z, CKPT, SCR, L, H, D: tl.constexpr, F: tl.constexpr,
                BS: tl.constexpr, CK: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr, FAST: tl.constexpr):
    pid = tl.program_id(0)
    h = pid % H
    S: tl.constexpr = D * D + D
    rd, rb = tl.arange(0, D), tl.arange(0, BS)
    w, b = _load_state(INIT + h * S, rd, D)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    tok = pid.to(tl.int64) * L * D
    for m in range(n):
        if SAVE:
            if m % CK == 0:
                _store_state(CKPT + (pid.to(tl.int64) * n_ck + m // CK) * S, w, b, rd, D)
        offs = tok + (m * BS + rb)[:, None] * D + rd[None, :]
        k = tl.load(K + offs).to(tl.float32)
        tgt = tl.load(T + offs).to(tl.float32)
        e = tl.load(ETA + pid.to(tl.int64) * L + m * BS + rb).to(tl.float32) / BS
        z = tl.dot(k, w, input_precision=PREC) + b[None, :]
        g, xh, rstd, gy, hh, c2 = ln_l2_grad(z, tgt, gamma, beta, D, FAST)
        eg = g * e[:, None]
        w = w - tl.dot(tl.trans(k), eg, input_precision=PREC)
        b = b - tl.sum(eg, axis=0)
        q = tl.load(Q + offs).to(tl.float32)
        xhq, rstdq = ln_stats(tl.dot(q, w, input_precision=PREC) + b[None, :], D, FAST)
        tl.store(Z + offs, (q + gamma[None, :] * xhq + beta[None, :]).to(Z.dtype.element_ty))


@triton.jit
def _linear_bwd(Q, K, T, ETA, LNW, LNB, CKPT, SCR, DZ, DQ, DK, DT, DETA, DSTATE, DLN, L, H,
                D: tl.constexpr, F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr, PREC: tl.constexpr,
                FAST: tl.constexpr):
    pid = tl.program_id(0)
    h = pid % H
    S: tl.constexpr = D * D + D
    rd, rb = tl.arange(0, D), tl.arange(0, BS)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    tok = pid.to(tl.int64) * L * D
    scr = SCR + pid.to(tl.int64) * (CK + 1) * S
    dw, db = tl.zeros([D, D], tl.float32), tl.zeros([D], tl.float32)   # adjoint of the state after the step
    dgam, dbet = tl.zeros([D], tl.float32), tl.zeros([D], tl.float32)   # compensated sums over all steps
    cgam, cbet = tl.zeros([D], tl.float32), tl.zeros([D], tl.float32)
    for gi in range(n_ck):
        grp = n_ck - 1 - gi
        m0 = grp * CK
        cnt = tl.minimum(CK, n - m0)
        w, b = _load_state(CKPT + (pid.to(tl.int64) * n_ck + grp) * S, rd, D)
        for i in range(cnt):
            _store_state(scr + i * S, w, b, rd, D)
            offs = tok + ((m0 + i) * BS + rb)[:, None] * D + rd[None, :]
            k = tl.load(K + offs).to(tl.float32)
            tgt = tl.load(T + offs).to(tl.float32)
            e = tl.load(ETA + pid.to(tl.int64) * L + (m0 + i) * BS + rb).to(tl.float32) / BS
            z = tl.dot(k, w, input_precision=PREC) + b[None, :]
            g, xh, rstd, gy, hh, c2 = ln_l2_grad(z, tgt, gamma, beta, D, FAST)
            w = w - tl.dot(tl.trans(k), g * e[:, None], input_precision=PREC)
            b = b - tl.sum(g * e[:, None], axis=0)
        _store_state(scr + cnt * S, w, b, rd, D)
        tl.debug_barrier()
        for j in range(cnt):
            i = cnt - 1 - j
            offs = tok + ((m0 + i) * BS + rb)[:, None] * D + rd[None, :]
            eoffs = pid.to(tl.int64) * L + (m0 + i) * BS + rb
            q = tl.load(Q + offs).to(tl.float32)
            do = tl.load(DZ + offs).to(tl.float32)
            # query path z = q + LN(q W_m + b_m)
            w, b = _load_state(scr + (i + 1) * S, rd, D)
            xhq, rstdq = ln_stats(tl.dot(q, w, input_precision=PREC) + b[None, :], D, FAST)
            sgam, sbet = tl.sum(do * xhq, axis=0), tl.sum(do, axis=0)
            dzq = ln_backward(do * gamma[None, :], xhq, rstdq, D)
            dw += tl.dot(tl.trans(q), dzq, input_precision=PREC)
            db += tl.sum(dzq, axis=0)
            dq = do + tl.dot(dzq, tl.trans(w), input_precision=PREC)
            # training path at W_{m-1}; dw, db now hold the full adjoint of W_m
            w, b = _load_state(scr + i * S, rd, D)
            k = tl.load(K + offs).to(tl.float32)
            tgt = tl.load(T + offs).to(tl.float32)
            e = tl.load(ETA + eoffs).to(tl.float32) / BS
            z = tl.dot(k, w, input_precision=PREC) + b[None, :]
            g, xh, rstd, gy, hh, c2 = ln_l2_grad(z, tgt, gamma, beta, D, FAST)
            da = -tl.dot(k, dw, input_precision=PREC) - db[None, :]            # d(eta*g) [BS, D]
            dk = -tl.dot(g * e[:, None], tl.trans(dw), input_precision=PREC)
            de = tl.sum(da * g, axis=1)
            dz, dtgt, dgam_rows, dbet_rows = ln_l2_grad_backward(da * e[:, None], g, xh, rstd, gy, hh, c2, gamma,
                                                                 D, FAST)
            dgam, cgam = kahan_add(dgam, cgam, sgam + tl.sum(dgam_rows, axis=0))
            dbet, cbet = kahan_add(dbet, cbet, sbet + tl.sum(dbet_rows, axis=0))
            dk += tl.dot(dz, tl.trans(w), input_precision=PREC)
            dw += tl.dot(tl.trans(k), dz, input_precision=PREC)
            db += tl.sum(dz, axis=0)
            tl.store(DQ + offs, dq.to(DQ.dtype.element_ty))
            tl.store(DK + offs, dk.to(DK.dtype.element_ty))
            tl.store(DT + offs, dtgt.to(DT.dtype.element_ty))
            tl.store(DETA + eoffs, (de / BS).to(DETA.dtype.element_ty))
        tl.debug_barrier()   # the next group overwrites the scratch
    _store_state(DSTATE + pid.to(tl.int64) * S, dw, db, rd, D)
    tl.store(DLN + pid * 2 * D + rd, dgam)
    tl.store(DLN + pid * 2 * D + D + rd, dbet)


# The state stays in registers in the forward (no scratch); the backward keeps a group's CK + 1 states.
LINEAR_KERNELS = ScanKernels(_linear_fwd, _linear_bwd, fwd_scratch=lambda S, BS, D, F, CK: 1,
                             bwd_scratch=lambda S, BS, D, F, CK: (CK + 1) * S)


def ttt_linear_triton(q, k, target, eta, ln_weight, ln_bias, W, b, mini_batch):
    """`ops.ttt_linear` on the Triton kernels (inputs already checked by ops)."""
    check_kernel_inputs(q, mini_batch, q.shape[-1])
    return TTTScan.apply(LINEAR_KERNELS, mini_batch, q, k, target, eta, ln_weight, ln_bias, W, b)
