"""Attention behind one function, three backends with the same results.

    out = attention(q, k, v, mask, backend="sdpa" | "flex" | "flash")   # q (B, H, Lq, D), k/v (B, H, Lk, D)
    out = attention(q, k, v, None, "sdpa", kv_splits=2)                # the keys in 2 chunks, merged (below)

`mask` is one of
- None: every query sees every key (text self-attention, the first frame);
- a bool tensor (B, Lk): which cache slots hold keys yet (the cached step; valid keys form a prefix);
- a `ClipLayout`: the block-causal windowed mask of a whole-clip forward (training), see below.

Backends: `sdpa` (torch's scaled_dot_product_attention; for a whole clip a loop of unmasked calls,
one per query frame, as AAPT ran FA3), `flex` (FlexAttention with a block mask: masked blocks are
skipped, one kernel for the whole clip when compiled), `flash` (flash-attn, if installed).

`kv_splits` > 1 (sdpa, unmasked only; the cached step once every ring is full): the keys are cut into
that many contiguous chunks, each attended on its own with its log-sum-exp, and the outputs merged by
them (flash-decoding). One frame's queries against a long cache make few thread blocks: at 1.3b
(12 heads, 1,560 queries, 34,384 keys) one call makes 156 blocks of 128 queries, 1.2 waves of an
H200's 132 SMs, so much of the last wave idles (`bench model --profile`: the attention is 76 % of
the step, at 372 TFLOP/s).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

BACKENDS = ("sdpa", "flex", "flash")


@dataclass(frozen=True)
class ClipLayout:
    """Queries and keys of a whole-clip forward of `frames` latent frames.

    queries: video tokens of frames 0..F-1, frame-major            (F*T)
    keys:    [text (Lt) | frame 0 rotated at sink positions 0..S-1 (S*T) | frames 1..F-1 ((F-1)*T)]
    Query frame i sees: all text; frame 0 at sink position max(0, i - N) (just before its window);
    frames max(1, i - N + 1)..i. S = max(1, F - N) sink copies cover every query frame.
    """
    text_len: int
    frame_tokens: int
    frames: int
    window: int

    @property
    def n_sinks(self) -> int:
        return max(1, self.frames - self.window)

    @property
    def query_len(self) -> int:
        return self.frames * self.frame_tokens

    @property
    def key_len(self) -> int:
        return self.text_len + (self.n_sinks + self.frames - 1) * self.frame_tokens

    def sink_position(self, i: int) -> int:
        return max(0, i - self.window)

    def key_ranges(self, i: int) -> list[tuple[int, int]]:
        """Key index ranges [start, end) that query frame i attends to."""
        T, lt = self.frame_tokens, self.text_len
        sink = lt + self.sink_position(i) * T
        frames0 = lt + self.n_sinks * T                           # key index of frame 1
        first = max(1, i - self.window + 1)
        ranges = [(0, lt), (sink, sink + T)]
        if i >= 1:
            ranges.append((frames0 + (first - 1) * T, frames0 + i * T))
        return [r for r in ranges if r[1] > r[0]]

    def mask_mod(self, b, h, q, k):
        T, lt, N = self.frame_tokens, self.text_len, self.window
        qi = q // T
        ks = k - lt
        sink_end = self.n_sinks * T
        sink_ok = (ks >= 0) & (ks < sink_end) & (ks // T == torch.where(qi > N, qi - N, 0))
        kf = (ks - sink_end) // T + 1
        frame_ok = (ks >= sink_end) & (kf <= qi) & (kf > qi - N)
        return (k < lt) | sink_ok | frame_ok

    def dense(self, device=None) -> Tensor:
        """The mask as a bool (Lq, Lk) tensor (reference and tests)."""
        q = torch.arange(self.query_len, device=device)[:, None]
        k = torch.arange(self.key_len, device=device)[None, :]
        return self.mask_mod(None, None, q, k)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | ClipLayout | None = None,
              backend: str = "sdpa", kv_splits: int = 1) -> Tensor:
    if kv_splits > 1 and mask is None and backend == "sdpa":
        return split_kv_attention(q, k, v, kv_splits)
    if backend == "sdpa":
        return _sdpa(q, k, v, mask)
    if backend == "flex":
        return _flex(q, k, v, mask)
    if backend == "flash":
        return _flash(q, k, v, mask)
    raise ValueError(f"unknown attention backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def _attention_with_lse(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Unmasked attention and its log-sum-exp (B, H, Lq) in float32: on CUDA cuDNN's kernel (the one
    scaled_dot_product_attention picks on Hopper) in half precision, the memory-efficient one in float32
    (its log-sum-exp is padded along the queries); the flash kernel on the CPU."""
    aten = torch.ops.aten
    if not q.is_cuda:
        out, lse = aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)[:2]
    elif q.dtype in (torch.float16, torch.bfloat16):
        out, lse = aten._scaled_dot_product_cudnn_attention(q, k, v, None, True)[:2]
    else:
        out, lse = aten._scaled_dot_product_efficient_attention(q, k, v, None, True)[:2]
    lse = lse.reshape(*lse.shape[:3], -1)[..., 0] if lse.dim() > 3 else lse
    return out, lse[..., :q.shape[2]].float()


def split_kv_attention(q: Tensor, k: Tensor, v: Tensor, splits: int) -> Tensor:
    """Unmasked attention over the keys cut into `splits` contiguous chunks (at most; bounds on multiples
    of 128 keys once chunks are that long), merged by the chunks' log-sum-exps; equal to one call up to
    rounding."""
    n = k.shape[2]
    step = -(-n // splits)
    step = -(-step // 128) * 128 if step >= 128 else step
    outs, lses = zip(*(_attention_with_lse(q, k[:, :, a:a + step], v[:, :, a:a + step]) for a in range(0, n, step)))
    lse = torch.stack(lses).logsumexp(0)
    out = sum(o.float() * (part - lse).exp()[..., None] for o, part in zip(outs, lses))
    return out.to(q.dtype)


def _per_frame(q, k, v, layout: ClipLayout, attend) -> Tensor:
    """One unmasked call per query frame over that frame's key ranges (contiguous slices)."""
    T = layout.frame_tokens
    outs = []
    for i in range(layout.frames):
        ranges = layout.key_ranges(i)
        ki = torch.cat([k[:, :, a:b] for a, b in ranges], dim=2)
        vi = torch.cat([v[:, :, a:b] for a, b in ranges], dim=2)
        outs.append(attend(q[:, :, i * T:(i + 1) * T], ki, vi))
    return torch.cat(outs, dim=2)


def _sdpa(q, k, v, mask):
    if isinstance(mask, ClipLayout):
        return _per_frame(q, k, v, mask, F.scaled_dot_product_attention)
    if mask is not None:
        mask = mask[:, None, None, :]                      # (B, 1, 1, Lk)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@lru_cache(maxsize=16)
def _clip_block_mask(layout: ClipLayout, device: str):
    from torch.nn.attention.flex_attention import create_block_mask
    def mask_mod(b, h, q, k):                                # a plain function, as flex requires
        return layout.mask_mod(b, h, q, k)
    return create_block_mask(mask_mod, None, None, layout.query_len, layout.key_len, device=device)


@lru_cache(maxsize=1)
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention, dynamic=False)


def _flex(q, k, v, mask):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    # Eager flex materialises the scores; the compiled kernel wants a tensor-core head size
    # (the `tiny` preset's 12 is left eager: a GPU test failed once the kernel took it, 2026-11-30).
    if q.is_cuda and q.shape[-1] in (16, 32, 64, 128, 256) and not torch.compiler.is_compiling():
        flex_attention = _compiled_flex()
    if mask is None:
        return flex_attention(q, k, v)
    if isinstance(mask, ClipLayout):
        return flex_attention(q, k, v, block_mask=_clip_block_mask(mask, str(q.device)))
    valid = mask
    block_mask = create_block_mask(lambda b, h, qi, ki: valid[b, ki], q.shape[0], None,
                                   q.shape[2], k.shape[2], device=str(q.device))
    return flex_attention(q, k, v, block_mask=block_mask)


def _flash(q, k, v, mask):
    try:
        from flash_attn import flash_attn_func, flash_attn_with_kvcache
    except ImportError:
        raise RuntimeError("attention backend 'flash' needs flash-attn: pip install 'worldsim[flash]'") from None

    def call(qq, kk, vv):                                   # flash-attn wants (B, L, H, D)
        return flash_attn_func(qq.transpose(1, 2), kk.transpose(1, 2), vv.transpose(1, 2)).transpose(1, 2)

    if mask is None:
        return call(q, k, v)
    if isinstance(mask, ClipLayout):
        return _per_frame(q, k, v, mask, call)
    lengths = mask.sum(-1, dtype=torch.int32)               # valid keys form a prefix of the cache
    out = flash_attn_with_kvcache(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                  cache_seqlens=lengths)
    return out.transpose(1, 2)
