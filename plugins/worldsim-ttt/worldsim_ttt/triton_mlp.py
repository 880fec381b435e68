"""TTT-MLP scan in Triton: forward and backward kernels, one program per (batch, head).

State layout (fp32, flat, per head): W1 [D, F] | b1 [F] | W2 [F, D] | b2 [D], F = 4D.
The math is dual.mlp_step's; the backward is its adjoint written out by hand (see docs/ttt.md).
"""
from __future__ import annotations

import functools
import os

import triton
import triton.language as tl

from .triton_common import (ScanKernels, TTTScan, check_kernel_inputs, chunk_pointers, gelu_parts, gelu_second,
                            kahan_add, ln_backward, ln_l2_grad, ln_l2_grad_backward, ln_stats)
from .triton_split import _mlp_fwd_paired, _mlp_fwd_split


@triton.jit
def _mlp_chunked(x, P, rd, rc, D: tl.constexpr, F: tl.constexpr, FC: tl.constexpr, PREC: tl.constexpr,
                 FAST: tl.constexpr):
    """MLP(x) [BS, D] for the state at P, one hidden chunk at a time (small on-chip tiles)."""
    acc = tl.zeros([x.shape[0], D], tl.float32) + tl.load(P + 2 * D * F + F + rd)[None, :]
    for c in range(F // FC):
        p1, pb, p2 = chunk_pointers(P, c, rd, rc, D, F, FC)
        x2c, gpc = gelu_parts(tl.dot(x, tl.load(p1), input_precision=PREC) + tl.load(pb)[None, :], FAST)
        acc += tl.dot(x2c, tl.load(p2), input_precision=PREC)
    return acc


@triton.jit
def _copy_state(DST, SRC, rd, rc, D: tl.constexpr, F: tl.constexpr, FC: tl.constexpr):
    for c in range(F // FC):
        d1, db, d2 = chunk_pointers(DST, c, rd, rc, D, F, FC)
        s1, sb, s2 = chunk_pointers(SRC, c, rd, rc, D, F, FC)
        tl.store(d1, tl.load(s1))
        tl.store(db, tl.load(sb))
        tl.store(d2, tl.load(s2))
    tl.store(DST + 2 * D * F + F + rd, tl.load(SRC + 2 * D * F + F + rd))


@triton.jit
def _update_chunked(k, tgt, e, so, sn, Y, gamma, beta, rd, rc, D: tl.constexpr, F: tl.constexpr, FC: tl.constexpr,
                    PREC: tl.constexpr, FAST: tl.constexpr, KEEP: tl.constexpr):
    """One inner step, state so -> sn (two buffers), one hidden chunk at a time. With KEEP, MLP(k) [BS, D]
    goes to the buffer Y (the backward's pass back reads it instead of computing it again)."""
    y = _mlp_chunked(k, so, rd, rc, D, F, FC, PREC, FAST)
    if KEEP:
        tl.store(Y + tl.arange(0, k.shape[0])[:, None] * D + rd[None, :], y)
    g2, xh, rstd, gy, hh, c2 = ln_l2_grad(y, tgt, gamma, beta, D, FAST)
    tl.store(sn + 2 * D * F + F + rd, tl.load(so + 2 * D * F + F + rd) - tl.sum(g2 * e[:, None], axis=0))
    for c in range(F // FC):
        p1, pb, p2 = chunk_pointers(so, c, rd, rc, D, F, FC)
        n1, nb, n2 = chunk_pointers(sn, c, rd, rc, D, F, FC)
        w1c, b1c, w2c = tl.load(p1), tl.load(pb), tl.load(p2)
        x2c, gpc = gelu_parts(tl.dot(k, w1c, input_precision=PREC) + b1c[None, :], FAST)
        eg1c = tl.dot(g2, tl.trans(w2c), input_precision=PREC) * gpc * e[:, None]
        tl.store(n1, w1c - tl.dot(tl.trans(k), eg1c, input_precision=PREC))
        tl.store(nb, b1c - tl.sum(eg1c, axis=0))
        tl.store(n2, w2c - tl.dot(tl.trans(x2c), g2 * e[:, None], input_precision=PREC))
    tl.debug_barrier()


@triton.jit
def _mlp_fwd_chunked(Q, K, T, ETA, LNW, LNB, INIT, Z, CKPT, SCR, L, H, D: tl.constexpr,
                     F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr,
                     FAST: tl.constexpr):
    """Forward with the state in two per-program buffers (ping-pong, L2-resident), hidden-chunked tiles."""
    FC: tl.constexpr = 64 if F > 64 else F
    pid = tl.program_id(0)
    h = pid % H
    S: tl.constexpr = 2 * D * F + F + D
    rd, rc, rb = tl.arange(0, D), tl.arange(0, FC), tl.arange(0, BS)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    tok = pid.to(tl.int64) * L * D
    scr = SCR + pid.to(tl.int64) * 2 * S
    _copy_state(scr, INIT + h * S, rd, rc, D, F, FC)
    tl.debug_barrier()
    for m in range(n):
        so, sn = scr + (m % 2) * S, scr + ((m + 1) % 2) * S
        if SAVE:
            if m % CK == 0:
                _copy_state(CKPT + (pid.to(tl.int64) * n_ck + m // CK) * S, so, rd, rc, D, F, FC)
        offs = tok + (m * BS + rb)[:, None] * D + rd[None, :]
        k = tl.load(K + offs).to(tl.float32)
        tgt = tl.load(T + offs).to(tl.float32)
        e = tl.load(ETA + pid.to(tl.int64) * L + m * BS + rb).to(tl.float32) / BS
        _update_chunked(k, tgt, e, so, sn, scr, gamma, beta, rd, rc, D, F, FC, PREC, FAST, False)
        q = tl.load(Q + offs).to(tl.float32)
        xhq, rstdq = ln_stats(_mlp_chunked(q, sn, rd, rc, D, F, FC, PREC, FAST), D, FAST)
        tl.store(Z + offs, (q + gamma[None, :] * xhq + beta[None, :]).to(Z.dtype.element_ty))


@triton.jit
def _rerun_group(K, T, ETA, CKPT, scr, yk, gamma, beta, tok, prog, m0, cnt, rd, rc, rb, L,
                 D: tl.constexpr, F: tl.constexpr, FC: tl.constexpr, BS: tl.constexpr, PREC: tl.constexpr,
                 FAST: tl.constexpr):
    """A checkpoint group's updates again from its checkpoint: scratch state i -> i + 1, MLP(k) of each mini-batch
    into yk (program `prog` of the (batch, head) the tokens at `tok` belong to)."""
    S: tl.constexpr = 2 * D * F + F + D
    _copy_state(scr, CKPT, rd, rc, D, F, FC)
    tl.debug_barrier()
    for i in range(cnt):
        so, sn = scr + i * S, scr + (i + 1) * S
        offs = tok + ((m0 + i) * BS + rb)[:, None] * D + rd[None, :]
        k = tl.load(K + offs).to(tl.float32)
        tgt = tl.load(T + offs).to(tl.float32)
        e = tl.load(ETA + prog.to(tl.int64) * L + (m0 + i) * BS + rb).to(tl.float32) / BS
        _update_chunked(k, tgt, e, so, sn, yk + i * BS * D, gamma, beta, rd, rc, D, F, FC, PREC, FAST, True)


@triton.jit
def _mlp_rerun(K, T, ETA, LNW, LNB, CKPT, BUF, L, H, D: tl.constexpr, F: tl.constexpr, BS: tl.constexpr,
               CK: tl.constexpr, PREC: tl.constexpr, FAST: tl.constexpr):
    """Every checkpoint group's re-run at once, one program per (batch, head, group), into BUF [B*H*n_ck, bwd scratch]:
    what _mlp_bwd otherwise does group after group on its sequential path ($WORLDSIM_TTT_MLP_RERUN=parallel)."""
    FC: tl.constexpr = 32 if F > 32 else F
    S: tl.constexpr = 2 * D * F + F + D
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    pid = tl.program_id(0)
    prog, grp = pid // n_ck, pid % n_ck
    h = prog % H
    rd, rc, rb = tl.arange(0, D), tl.arange(0, FC), tl.arange(0, BS)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    scr = BUF + pid.to(tl.int64) * ((CK + 1) * S + CK * BS * D)
    _rerun_group(K, T, ETA, CKPT + pid.to(tl.int64) * S, scr, scr + (CK + 1) * S, gamma, beta,
                 prog.to(tl.int64) * L * D, prog, grp * CK, tl.minimum(CK, n - grp * CK), rd, rc, rb, L,
                 D, F, FC, BS, PREC, FAST)


@triton.jit
def _mlp_bwd(Q, K, T, ETA, LNW, LNB, CKPT, SCR, DZ, DQ, DK, DT, DETA, DSTATE, DLN, L, H,
             D: tl.constexpr, F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr, PREC: tl.constexpr,
             FAST: tl.constexpr, RERUN: tl.constexpr = True):
    """The states of a checkpoint group and the state adjoint live in per-program buffers (L2-resident);
    every step works through them one hidden chunk (FC columns) at a time, so tiles stay small
    (32 columns: with 3xTF32 operands, 64 would need more shared memory than an SM has).
    Scratch per program (_bwd_scratch): the group's CK + 1 states, then MLP(k) [BS, D] of each of the
    group's mini-batches from the re-run (caching the [BS, F] hidden activations too was slower: more
    pointer tiles, more register spills). RERUN False: _mlp_rerun filled every group's scratch beforehand, SCR
    [B*H*n_ck, scratch], and the walk back only reads it."""
    FC: tl.constexpr = 32 if F > 32 else F
    pid = tl.program_id(0)
    h = pid % H
    S: tl.constexpr = 2 * D * F + F + D
    rd, rc, rb = tl.arange(0, D), tl.arange(0, FC), tl.arange(0, BS)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    n = L // BS
    n_ck = tl.cdiv(n, CK)
    tok = pid.to(tl.int64) * L * D
    G: tl.constexpr = (CK + 1) * S + CK * BS * D    # a group's scratch: CK + 1 states, then [CK, BS, D] MLP(k)
    adj = DSTATE + pid.to(tl.int64) * S      # adjoint of the state after the step being processed
    for c in range(F // FC):
        p1, pb, p2 = chunk_pointers(adj, c, rd, rc, D, F, FC)
        tl.store(p1, tl.zeros([D, FC], tl.float32))
        tl.store(pb, tl.zeros([FC], tl.float32))
        tl.store(p2, tl.zeros([FC, D], tl.float32))
    tl.store(adj + 2 * D * F + F + rd, tl.zeros([D], tl.float32))
    dgam, dbet = tl.zeros([D], tl.float32), tl.zeros([D], tl.float32)   # compensated sums over all steps
    cgam, cbet = tl.zeros([D], tl.float32), tl.zeros([D], tl.float32)
    for gi in range(n_ck):
        grp = n_ck - 1 - gi
        m0 = grp * CK
        cnt = tl.minimum(CK, n - m0)
        if RERUN:    # 1. re-run the group's updates: scratch[i] -> scratch[i + 1]
            scr = SCR + pid.to(tl.int64) * G
            _rerun_group(K, T, ETA, CKPT + (pid.to(tl.int64) * n_ck + grp) * S, scr, scr + (CK + 1) * S, gamma, beta,
                         tok, pid, m0, cnt, rd, rc, rb, L, D, F, FC, BS, PREC, FAST)
        else:        # _mlp_rerun did it
            scr = SCR + (pid.to(tl.int64) * n_ck + grp) * G
        yk = scr + (CK + 1) * S                   # [CK, BS, D]: MLP(k) at each mini-batch's old state
        # 2. back through the group's mini-batches, last first
        for j in range(cnt):
            i = cnt - 1 - j
            so, sn = scr + i * S, scr + (i + 1) * S
            offs = tok + ((m0 + i) * BS + rb)[:, None] * D + rd[None, :]
            eoffs = pid.to(tl.int64) * L + (m0 + i) * BS + rb
            q = tl.load(Q + offs).to(tl.float32)
            do = tl.load(DZ + offs).to(tl.float32)
            k = tl.load(K + offs).to(tl.float32)
            tgt = tl.load(T + offs).to(tl.float32)
            e = tl.load(ETA + eoffs).to(tl.float32) / BS
            # query path z = q + LN(MLP_{W_m}(q))
            xhq, rstdq = ln_stats(_mlp_chunked(q, sn, rd, rc, D, F, FC, PREC, FAST), D, FAST)
            sgam, sbet = tl.sum(do * xhq, axis=0), tl.sum(do, axis=0)
            dzq2 = ln_backward(do * gamma[None, :], xhq, rstdq, D)
            tl.store(adj + 2 * D * F + F + rd, tl.load(adj + 2 * D * F + F + rd) + tl.sum(dzq2, axis=0))
            dq = do
            for c in range(F // FC):
                p1, pb, p2 = chunk_pointers(sn, c, rd, rc, D, F, FC)
                a1, ab, a2 = chunk_pointers(adj, c, rd, rc, D, F, FC)
                w1c, w2c = tl.load(p1), tl.load(p2)
                xq2c, gpqc = gelu_parts(tl.dot(q, w1c, input_precision=PREC) + tl.load(pb)[None, :], FAST)
                dzq1c = tl.dot(dzq2, tl.trans(w2c), input_precision=PREC) * gpqc
                dq += tl.dot(dzq1c, tl.trans(w1c), input_precision=PREC)
                tl.store(a1, tl.load(a1) + tl.dot(tl.trans(q), dzq1c, input_precision=PREC))
                tl.store(ab, tl.load(ab) + tl.sum(dzq1c, axis=0))
                tl.store(a2, tl.load(a2) + tl.dot(tl.trans(xq2c), dzq2, input_precision=PREC))
            tl.debug_barrier()
            # training path at W_{m-1}; adj now holds the full adjoint of W_m
            y = tl.load(yk + i * BS * D + rb[:, None] * D + rd[None, :])
            g2, xh, rstd, gy, hh, c2 = ln_l2_grad(y, tgt, gamma, beta, D, FAST)
            db2a = tl.load(adj + 2 * D * F + F + rd)
            da2 = tl.zeros([BS, D], tl.float32) - db2a[None, :]          # d(eta * g2)
            dg2 = tl.zeros([BS, D], tl.float32)
            for c in range(F // FC):   # pass A: everything dL/dg2 needs
                p1, pb, p2 = chunk_pointers(so, c, rd, rc, D, F, FC)
                a1, ab, a2 = chunk_pointers(adj, c, rd, rc, D, F, FC)
                x2c, gpc = gelu_parts(tl.dot(k, tl.load(p1), input_precision=PREC) + tl.load(pb)[None, :], FAST)
                da2 -= tl.dot(x2c, tl.load(a2), input_precision=PREC)
                da1c = -tl.dot(k, tl.load(a1), input_precision=PREC) - tl.load(ab)[None, :]
                dg2 += tl.dot(da1c * e[:, None] * gpc, tl.load(p2), input_precision=PREC)
            de = tl.sum(da2 * g2, axis=1)
            dg2 += da2 * e[:, None]
            dz2, dtgt, dgam_rows, dbet_rows = ln_l2_grad_backward(dg2, g2, xh, rstd, gy, hh, c2, gamma, D, FAST)
            dgam, cgam = kahan_add(dgam, cgam, sgam + tl.sum(dgam_rows, axis=0))
            dbet, cbet = kahan_add(dbet, cbet, sbet + tl.sum(dbet_rows, axis=0))
            dk = tl.zeros([BS, D], tl.float32)
            for c in range(F // FC):   # pass B: per-chunk gradients and the adjoint of W_{m-1}
                p1, pb, p2 = chunk_pointers(so, c, rd, rc, D, F, FC)
                a1, ab, a2 = chunk_pointers(adj, c, rd, rc, D, F, FC)
                w1c, w2c = tl.load(p1), tl.load(p2)
                dw1c, db1c, dw2c = tl.load(a1), tl.load(ab), tl.load(a2)
                z1c = tl.dot(k, w1c, input_precision=PREC) + tl.load(pb)[None, :]
                x2c, gpc = gelu_parts(z1c, FAST)
                gx2c = tl.dot(g2, tl.trans(w2c), input_precision=PREC)
                g1c = gx2c * gpc
                da1c = -tl.dot(k, dw1c, input_precision=PREC) - db1c[None, :]       # d(eta * g1) chunk
                de += tl.sum(da1c * g1c, axis=1)
                dg1c = da1c * e[:, None]
                dgx2c = dg1c * gpc
                dx2c = (tl.dot(dz2, tl.trans(w2c), input_precision=PREC)
                        - tl.dot(g2 * e[:, None], tl.trans(dw2c), input_precision=PREC))
                dz1c = dg1c * gx2c * gelu_second(z1c, FAST) + dx2c * gpc
                dk += (tl.dot(dz1c, tl.trans(w1c), input_precision=PREC)
                       - tl.dot(g1c * e[:, None], tl.trans(dw1c), input_precision=PREC))
                tl.store(a1, dw1c + tl.dot(tl.trans(k), dz1c, input_precision=PREC))
                tl.store(ab, db1c + tl.sum(dz1c, axis=0))
                tl.store(a2, dw2c + tl.dot(tl.trans(dgx2c), g2, input_precision=PREC)
                         + tl.dot(tl.trans(x2c), dz2, input_precision=PREC))
            tl.store(adj + 2 * D * F + F + rd, db2a + tl.sum(dz2, axis=0))
            tl.debug_barrier()
            tl.store(DQ + offs, dq.to(DQ.dtype.element_ty))
            tl.store(DK + offs, dk.to(DK.dtype.element_ty))
            tl.store(DT + offs, dtgt.to(DT.dtype.element_ty))
            tl.store(DETA + eoffs, (de / BS).to(DETA.dtype.element_ty))
    tl.store(DLN + pid * 2 * D + rd, dgam)
    tl.store(DLN + pid * 2 * D + D + rd, dbet)


def _fwd_scratch(S, BS, D, F, CK):
    return 2 * S


def _bwd_scratch(S, BS, D, F, CK):
    return (CK + 1) * S + CK * BS * D


# fp32 inputs: the forward's dots as 6 bf16 products (bf16x6, below fp32 rounding and faster here than
# 3xTF32); the backward stays 3xTF32 (bf16x6 there faults in Triton 3.6, and IEEE dots were no more accurate).
MLP_KERNELS = ScanKernels(_mlp_fwd_chunked, _mlp_bwd, _fwd_scratch, _bwd_scratch, num_warps=(4, 4),
                          fp32_precision=("bf16x6", "tf32x3"))


# The hidden-split forward (_mlp_fwd_split) with the same backward ($WORLDSIM_TTT_MLP_FORWARD=split).
# fp32 inputs: 3xTF32 dots ("tf32" for a faster, less exact variant); 8 warps, so the 16 KB of state a
# program holds at 32 columns takes 32 registers a thread (32 KB, 64 registers, at 64 columns).
SPLIT_MLP_KERNELS = ScanKernels(_mlp_fwd_split, _mlp_bwd, None, _bwd_scratch, num_warps=(8, 4),
                                fp32_precision=("tf32x3", "tf32x3"), split=32)
# The same split with one exchange a mini-batch instead of two (q's output paired with the next k's; triton_split.py):
# the default since 2026-12-02. On an H200 (2026-12-01, docs/BENCHMARKS.md) its gpu tests passed beside the split
# forward's and it was 12-13 % faster at 5 and 48 heads, 18k and 101k tokens (48 heads, 18k: 19.1 against 21.6 ms).
PAIRED_MLP_KERNELS = ScanKernels(_mlp_fwd_paired, _mlp_bwd, None, _bwd_scratch, num_warps=(8, 4),
                                 fp32_precision=("tf32x3", "tf32x3"), split=32, exchange_tiles=2)
FORWARDS = {"chunked": MLP_KERNELS, "split": SPLIT_MLP_KERNELS, "paired": PAIRED_MLP_KERNELS}
FORWARD_ENV = "WORLDSIM_TTT_MLP_FORWARD"
# The hidden columns a split-forward program holds: 32 (8 programs per (batch, head) at head dim 64). Measured on an
# H200 (2026-12-01, docs/BENCHMARKS.md): 32 is 1.35-1.58x faster than 64 at 5 and 48 heads, 18k and 101k tokens;
# 128 is kept for trying ($WORLDSIM_TTT_MLP_SPLIT), not timed. 16 is not offered: correct in the interpreter, it made an
# illegal memory access on an H200 (Triton 3.6, 2026-12-01, at 5 and 48 heads; presumably the 16-row transposed dot).
SPLIT_ENV = "WORLDSIM_TTT_MLP_SPLIT"
SPLIT_COLUMNS = (32, 64, 128)
# $WORLDSIM_TTT_MLP_DOTS=tf32: the forward's dots single-pass TF32 and its sigmoid/sqrt/division Triton's approximate
# ones (the backward unchanged). On an H200 (2026-12-02, docs/BENCHMARKS.md), paired forward, 48 heads: 10.8 / 58.3 ms
# at 18k / 101k tokens against 18.7 / 100.2 exact, relative error against the fp32 torch reference 1.6e-4 against 3e-7;
# with bf16 tokens 1.76e-3 against 1.75e-3 (their own rounding dominates); its gpu test (against fp64, head by head)
# passed there: worst head 3.8e-4 in fp32. Not the default: the backward through its checkpoints is not checked.
DOTS_ENV = "WORLDSIM_TTT_MLP_DOTS"
# $WORLDSIM_TTT_MLP_RERUN=parallel: the backward's re-run of every checkpoint group from its checkpoint (a quarter or so
# of its work, estimated from the dots a mini-batch costs) at once, one program per (batch, head, group), before the
# walk back, instead of group by group on its sequential path; the same arithmetic, so the same gradients bit for bit
# (tested in the interpreter), for a scratch of every group at once (~2.5 MB a group and head: 2.2 GB at 48 heads and
# 18k tokens). Not timed on a GPU yet (docs/BENCHMARKS.md).
RERUN_ENV = "WORLDSIM_TTT_MLP_RERUN"


def mlp_kernels(forward: str | None = None) -> ScanKernels:
    """The TTT-MLP kernels with the forward `forward` ("chunked", "split", "paired"; None:
    $WORLDSIM_TTT_MLP_FORWARD, default "paired": measured on an H200 it equals the torch reference as the chunked
    forward does, and is 12-13 % faster than "split", itself 10-11 % faster than "chunked" at 48 heads and ~2x at the
    film model's 5 (docs/BENCHMARKS.md)); a split forward with $WORLDSIM_TTT_MLP_SPLIT hidden columns a program when
    that is set; its forward's dots single-pass TF32 with $WORLDSIM_TTT_MLP_DOTS=tf32; its backward's re-run of
    the checkpoint groups all at once with $WORLDSIM_TTT_MLP_RERUN=parallel."""
    name = mlp_forward_name(forward)
    kernels = FORWARDS[name]
    columns = os.environ.get(SPLIT_ENV)
    if kernels.split and columns and columns != str(kernels.split):
        if columns not in map(str, SPLIT_COLUMNS):
            raise ValueError(f"${SPLIT_ENV} must be one of {', '.join(map(str, SPLIT_COLUMNS))}, got {columns!r}")
        kernels = _split_variant(name, int(columns))
    dots = os.environ.get(DOTS_ENV, "exact")
    if dots not in ("exact", "tf32"):
        raise ValueError(f"${DOTS_ENV} must be exact or tf32, got {dots!r}")
    rerun = os.environ.get(RERUN_ENV, "inline")
    if rerun not in ("inline", "parallel"):
        raise ValueError(f"${RERUN_ENV} must be inline or parallel, got {rerun!r}")
    kernels = _tf32_forward(kernels) if dots == "tf32" else kernels
    return _parallel_rerun(kernels) if rerun == "parallel" else kernels


@functools.lru_cache(maxsize=None)
def _parallel_rerun(kernels: ScanKernels) -> ScanKernels:
    return kernels.variant(rerun=_mlp_rerun)


@functools.lru_cache(maxsize=None)
def _tf32_forward(kernels: ScanKernels) -> ScanKernels:
    return kernels.variant(fp32_precision=("tf32", kernels.fp32_precision[1]), fast_math=(True, kernels.fast_math[1]))


@functools.lru_cache(maxsize=None)
def _split_variant(name: str, columns: int) -> ScanKernels:
    return FORWARDS[name].variant(split=columns)


def mlp_forward_name(forward: str | None = None) -> str:
    """The forward `mlp_kernels(forward)` picks, by name."""
    name = forward or os.environ.get(FORWARD_ENV) or "paired"
    if name not in FORWARDS:
        raise ValueError(f"TTT-MLP forward must be one of {sorted(FORWARDS)}, got {name!r} (${FORWARD_ENV})")
    return name


def ttt_mlp_triton(q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2, mini_batch):
    """`ops.ttt_mlp` on the Triton kernels (inputs already checked by ops); the forward from `mlp_kernels`."""
    check_kernel_inputs(q, mini_batch, q.shape[-1])
    return TTTScan.apply(mlp_kernels(), mini_batch, q, k, target, eta, ln_weight, ln_bias, W1, b1, W2, b2)
