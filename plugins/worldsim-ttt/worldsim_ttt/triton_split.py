"""The hidden-split TTT-MLP forwards: each (batch, head)'s hidden dimension over P programs that keep their
chunk of the state in registers and sum their partial MLP outputs through a group exchange buffer.

`_mlp_fwd_split` exchanges twice a mini-batch: MLP(k_m) at the old state, then MLP(q_m) at the new one.
`_mlp_fwd_paired` exchanges once: q_m's output and k_{m+1}'s both read the state after update m, so their
partial sums travel together, and a scan of n mini-batches passes n + 1 group barriers instead of 2n.
Both leave the same checkpoints for triton_mlp's backward.
"""
from __future__ import annotations

import triton
import triton.language as tl

from .triton_common import chunk_pointers, gelu_parts, ln_l2_grad, ln_stats


@triton.jit
def _group_barrier(CNT, target):
    """Wait until all programs of a group have arrived here: each adds 1 to the group's counter, so the
    n-th barrier (n = 1, 2, ...) is passed once the counter reads P * n (`target`). The first
    debug_barrier makes every thread's stores precede the release add (bar.sync orders them before the
    one thread that issues the scalar atomic; the release is cumulative); the acquire reads order the
    peers' stores before this program's later loads, and the last debug_barrier hands that on to all
    its threads. The only synchronisation in the split forwards (the interpreter runs programs one after
    another, so with P > 1 this spins forever there; P = 1 passes at once)."""
    tl.debug_barrier()
    tl.atomic_add(CNT, 1, sem="release", scope="gpu")
    seen = tl.atomic_add(CNT, 0, sem="acquire", scope="gpu")
    while seen < target:
        seen = tl.atomic_add(CNT, 0, sem="acquire", scope="gpu")
    tl.debug_barrier()


@triton.jit
def _exchange_sum(partial, acc, X, c, target, CNT, rb, rd, P: tl.constexpr, BS: tl.constexpr, D: tl.constexpr):
    """acc + the sum of the P programs' partials [BS, D]: store this program's (chunk c) into the slot X
    [P, BS, D], wait for the group, add all P in chunk order (every program gets the same bits)."""
    tile = rb[:, None] * D + rd[None, :]
    tl.store(X + c * BS * D + tile, partial)
    _group_barrier(CNT, target)
    for j in tl.static_range(P):
        acc += tl.load(X + j * BS * D + tile, cache_modifier=".cg")   # L2, never a stale L1 line
    return acc


@triton.jit
def _exchange_pair(pa, pb, acc, X, c, target, CNT, rb, rd, P: tl.constexpr, BS: tl.constexpr, D: tl.constexpr):
    """(acc + the group's sum of pa, acc + the group's sum of pb) through one barrier: the slot X is
    [P, 2, BS, D]; both sums in chunk order, as _exchange_sum's."""
    tile = rb[:, None] * D + rd[None, :]
    tl.store(X + 2 * c * BS * D + tile, pa)
    tl.store(X + (2 * c + 1) * BS * D + tile, pb)
    _group_barrier(CNT, target)
    sa, sb = acc, acc
    for j in tl.static_range(P):
        sa += tl.load(X + 2 * j * BS * D + tile, cache_modifier=".cg")
        sb += tl.load(X + (2 * j + 1) * BS * D + tile, cache_modifier=".cg")
    return sa, sb


@triton.jit
def _split_start(LNW, LNB, INIT, CNT, L, H, D: tl.constexpr, F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr,
                 FC: tl.constexpr):
    """A split program's group (batch, head) and chunk c, its index ranges, the head's LayerNorm, the scan's
    mini-batches and checkpoints, the group's token offset and barrier counter, and its chunk of the initial
    state (b2 whole)."""
    P: tl.constexpr = F // FC
    S: tl.constexpr = 2 * D * F + F + D
    pid = tl.program_id(0)
    grp, c = pid // P, pid % P
    h = grp % H
    rd, rc, rb = tl.arange(0, D), tl.arange(0, FC), tl.arange(0, BS)
    gamma, beta = tl.load(LNW + h * D + rd), tl.load(LNB + h * D + rd)
    p1, pb, p2 = chunk_pointers(INIT + h * S, c, rd, rc, D, F, FC)
    b2 = tl.load(INIT + h * S + 2 * D * F + F + rd)
    n = L // BS
    return (grp, c, rd, rc, rb, gamma, beta, n, tl.cdiv(n, CK), grp.to(tl.int64) * L * D, CNT + grp,
            tl.load(p1), tl.load(pb), tl.load(p2), b2)


@triton.jit
def _save_chunk(CKPT, grp, m, n_ck, c, w1, b1, w2, b2, rd, rc, D: tl.constexpr, F: tl.constexpr,
                FC: tl.constexpr, CK: tl.constexpr, S: tl.constexpr):
    """Every CK-th mini-batch, this program's chunk of the state before it (b2 from chunk 0's program)."""
    if m % CK == 0:
        ck = CKPT + (grp.to(tl.int64) * n_ck + m // CK) * S
        p1, pb, p2 = chunk_pointers(ck, c, rd, rc, D, F, FC)
        tl.store(p1, w1)
        tl.store(pb, b1)
        tl.store(p2, w2)
        if c == 0:
            tl.store(ck + 2 * D * F + F + rd, b2)


@triton.jit
def _update_chunk(k, x2c, gpc, y, tgt, e, w1, b1, w2, b2, gamma, beta, D: tl.constexpr, PREC: tl.constexpr,
                  FAST: tl.constexpr):
    """One inner step on this program's chunk, as _update_chunked's: every program has the same y (the
    group's MLP(k)), so the same g2 and b2."""
    g2, xh, rstd, gy, hh, c2 = ln_l2_grad(y, tgt, gamma, beta, D, FAST)
    eg1c = tl.dot(g2, tl.trans(w2), input_precision=PREC) * gpc * e[:, None]
    w1 -= tl.dot(tl.trans(k), eg1c, input_precision=PREC)
    b1 -= tl.sum(eg1c, axis=0)
    w2 -= tl.dot(tl.trans(x2c), g2 * e[:, None], input_precision=PREC)
    b2 -= tl.sum(g2 * e[:, None], axis=0)
    return w1, b1, w2, b2


@triton.jit
def _mlp_fwd_split(Q, K, T, ETA, LNW, LNB, INIT, Z, CKPT, SCR, CNT, L, H, D: tl.constexpr,
                   F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr,
                   FAST: tl.constexpr, FC: tl.constexpr):
    """Forward with the hidden dimension split over P = F // FC programs per (batch, head): program
    pid = group * P + c holds hidden chunk c of the state (W1[:, c], b1[c], W2[c, :]; b2 in every program,
    updated identically) in registers for the whole scan. MLP(x) = b2 + sum_c gelu(x W1c + b1c) W2c is
    summed through the group's exchange buffer SCR[group] (two slots of [P, BS, D]) behind a counter
    barrier (CNT[group], zeroed by the launcher), twice a mini-batch: MLP(k) at the old state, MLP(q) at the
    new one. Barrier j (0, 1, 2, ...; two a mini-batch) uses slot j % 2. No program overwrites a slot a
    peer still reads: a program writes slot j % 2 before barrier j only after passing barrier j - 1, which
    every peer reached after reading that slot for barrier j - 2.
    No deadlock for any grid: a group waits only on its own programs, and its pids are consecutive. The
    GPU starts programs in pid order, so when a group is only partly resident every group before it is
    fully resident, finishes without waiting on anything later, and frees the SMs the rest of the group
    needs (P programs must fit on the GPU at once: P = 4 at 64 columns, 8 at the default 32). Other kernels
    on the device can delay this but not block it."""
    P: tl.constexpr = F // FC
    S: tl.constexpr = 2 * D * F + F + D
    grp, c, rd, rc, rb, gamma, beta, n, n_ck, tok, cnt, w1, b1, w2, b2 = _split_start(LNW, LNB, INIT, CNT, L, H, D, F,
                                                                                     BS, CK, FC)
    xch = SCR + grp.to(tl.int64) * 2 * P * BS * D
    for m in range(n):
        if SAVE:
            _save_chunk(CKPT, grp, m, n_ck, c, w1, b1, w2, b2, rd, rc, D, F, FC, CK, S)
        offs = tok + (m * BS + rb)[:, None] * D + rd[None, :]
        k = tl.load(K + offs).to(tl.float32)
        # 1. MLP(k) at the old state: this chunk's share, then the group's sum
        x2c, gpc = gelu_parts(tl.dot(k, w1, input_precision=PREC) + b1[None, :], FAST)
        y = _exchange_sum(tl.dot(x2c, w2, input_precision=PREC), tl.zeros([BS, D], tl.float32) + b2[None, :],
                          xch, c, P * (2 * m + 1), cnt, rb, rd, P, BS, D)
        tgt = tl.load(T + offs).to(tl.float32)          # loaded after the wait: fewer registers live across it
        e = tl.load(ETA + grp.to(tl.int64) * L + m * BS + rb).to(tl.float32) / BS
        # 2. the update
        w1, b1, w2, b2 = _update_chunk(k, x2c, gpc, y, tgt, e, w1, b1, w2, b2, gamma, beta, D, PREC, FAST)
        # 3. MLP(q) at the new state, through the other slot
        q = tl.load(Q + offs).to(tl.float32)
        xq2c, _ = gelu_parts(tl.dot(q, w1, input_precision=PREC) + b1[None, :], FAST)
        yq = _exchange_sum(tl.dot(xq2c, w2, input_precision=PREC), tl.zeros([BS, D], tl.float32) + b2[None, :],
                           xch + P * BS * D, c, P * (2 * m + 2), cnt, rb, rd, P, BS, D)
        xhq, rstdq = ln_stats(yq, D, FAST)
        if c == 0:
            tl.store(Z + offs, (q + gamma[None, :] * xhq + beta[None, :]).to(Z.dtype.element_ty))


@triton.jit
def _mlp_fwd_paired(Q, K, T, ETA, LNW, LNB, INIT, Z, CKPT, SCR, CNT, L, H, D: tl.constexpr,
                    F: tl.constexpr, BS: tl.constexpr, CK: tl.constexpr, SAVE: tl.constexpr, PREC: tl.constexpr,
                    FAST: tl.constexpr, FC: tl.constexpr):
    """_mlp_fwd_split with one exchange a mini-batch. Barrier 0 sums MLP(k_0) at the initial state; barrier
    m + 1 sums MLP(q_m) and MLP(k_{m+1}) together, both at the state after update m (k_{m+1} masked to 0
    past the last mini-batch). Each slot of SCR[group] is [P, 2, BS, D]; barrier j uses slot j % 2, with
    _mlp_fwd_split's argument for why no slot is overwritten while a peer reads it."""
    P: tl.constexpr = F // FC
    S: tl.constexpr = 2 * D * F + F + D
    grp, c, rd, rc, rb, gamma, beta, n, n_ck, tok, cnt, w1, b1, w2, b2 = _split_start(LNW, LNB, INIT, CNT, L, H, D, F,
                                                                                     BS, CK, FC)
    xch = SCR + grp.to(tl.int64) * 4 * P * BS * D
    offs = tok + rb[:, None] * D + rd[None, :]
    k = tl.load(K + offs).to(tl.float32)
    x2c, gpc = gelu_parts(tl.dot(k, w1, input_precision=PREC) + b1[None, :], FAST)
    # A name assigned before the loop and again inside it is loop-carried in Triton and must keep its type,
    # so the unused halves here and below have names of their own.
    y, _none = _exchange_pair(tl.dot(x2c, w2, input_precision=PREC), tl.zeros([BS, D], tl.float32),
                              tl.zeros([BS, D], tl.float32) + b2[None, :], xch, c, P, cnt, rb, rd, P, BS, D)
    for m in range(n):
        if SAVE:
            _save_chunk(CKPT, grp, m, n_ck, c, w1, b1, w2, b2, rd, rc, D, F, FC, CK, S)
        offs = tok + (m * BS + rb)[:, None] * D + rd[None, :]
        tgt = tl.load(T + offs).to(tl.float32)
        e = tl.load(ETA + grp.to(tl.int64) * L + m * BS + rb).to(tl.float32) / BS
        w1, b1, w2, b2 = _update_chunk(k, x2c, gpc, y, tgt, e, w1, b1, w2, b2, gamma, beta, D, PREC, FAST)
        # MLP(q_m) and MLP(k_{m+1}) at the new state: this chunk's shares, then the group's sums at once
        q = tl.load(Q + offs).to(tl.float32)
        xq2c, _gq = gelu_parts(tl.dot(q, w1, input_precision=PREC) + b1[None, :], FAST)
        more = (rb * 0 + m + 1 < n)[:, None]
        k = tl.load(K + offs + BS * D, mask=more, other=0.0).to(tl.float32)
        x2c, gpc = gelu_parts(tl.dot(k, w1, input_precision=PREC) + b1[None, :], FAST)
        yq, y = _exchange_pair(tl.dot(xq2c, w2, input_precision=PREC), tl.dot(x2c, w2, input_precision=PREC),
                               tl.zeros([BS, D], tl.float32) + b2[None, :], xch + ((m + 1) % 2) * 2 * P * BS * D,
                               c, P * (m + 2), cnt, rb, rd, P, BS, D)
        xhq, rstdq = ln_stats(yq, D, FAST)
        if c == 0:
            tl.store(Z + offs, (q + gamma[None, :] * xhq + beta[None, :]).to(Z.dtype.element_ty))
