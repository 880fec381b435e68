"""Sequence parallelism over the GPUs of one host (Ulysses), beside the generator, not inside it.

    dist.init_process_group(...)                      # every rank holds the same weights
    sp = SequenceParallel(gen)                        # or SequenceParallel(gen, group)
    sp.setup_cache(batch, latent_hw, text_len)        # each rank: the KV cache of its H/P heads
    gen.start(first, text); latent = gen.step(controls, noise)   # as before, every rank the same
    v = gen.forward_clip(inputs, t, text)             # under torch.no_grad()
    sp.remove()                                       # gen runs alone again

With P ranks, the video tokens of each frame are split P ways after the patch embedding: rank r
runs the blocks on tokens [r*T/P, (r+1)*T/P) of every frame (all heads). In each block's attention
one all-to-all turns the sequence-sharded q/k/v (B, H, F*T/P, D) into head-sharded full-sequence
q/k/v (B, H/P, F*T, D); the block's own context (ClipContext, FullContext, FirstFrame, CachedStep)
rotates, writes its cache and attends on those H/P heads, and a second all-to-all turns the output
back into the rank's tokens. The last block's tokens are gathered, so `output` (and the latent a
step returns) is whole on every rank.

How it plugs in: `SequenceParallel` sets the generator's `run_blocks` (THE loop over the blocks)
to one that shards x, wraps every context in a `HeadParallel` and gathers x; `Block.forward`, the
contexts and the loop itself are unchanged. The text tokens (Lt, short) run replicated on every
rank, full heads; a rank slices its heads out of the text keys/values. The caches hold H/P heads
(`Generator.setup_cache(..., heads=H/P)`), so the cache memory is split P ways.

Not done: gradients (training under SP raises), `SegmentContext` (long-video training), the
compiled step, uneven token splits (T % P must be 0).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


class HeadParallel:
    """A block's attention context run on this rank's heads: all-to-all in, the inner context's
    `attend` on H/P heads of the whole sequence, all-to-all out. frames: F of the forward."""

    def __init__(self, inner, sp: "SequenceParallel", frames: int):
        self.inner, self.sp, self.frames = inner, sp, frames

    @property
    def backend(self) -> str:                    # Block.forward's text attention reads it
        return self.inner.backend

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: tuple[Tensor, Tensor] | None = None) -> Tensor:
        sp = self.sp
        q, k, v = sp.to_heads(torch.stack([q, k, v]), self.frames)
        if text_kv is not None:
            text_kv = tuple(t[:, sp.heads] for t in text_kv)
        return sp.to_tokens(self.inner.attend(q, k, v, text_kv), self.frames)


class SequenceParallel:
    """Ulysses sequence parallelism of `gen` over `group` (default: the whole world)."""

    def __init__(self, gen, group=None):
        if not dist.is_initialized():
            raise RuntimeError("sequence parallelism needs torch.distributed: call dist.init_process_group first")
        self.gen, self.group = gen, group
        self.world, self.rank = dist.get_world_size(group), dist.get_rank(group)
        heads = gen.cfg.heads
        if heads % self.world:
            raise ValueError(f"sequence parallelism splits the heads across ranks: {heads} heads do not "
                             f"divide among {self.world} ranks")
        self.local_heads = heads // self.world
        self.heads = slice(self.rank * self.local_heads, (self.rank + 1) * self.local_heads)
        gen.run_blocks = self.run_blocks         # an instance attribute: remove() deletes it

    def remove(self) -> None:
        """The generator runs alone again (its caches, if any, still hold H/P heads: set up anew)."""
        if self.gen.__dict__.get("run_blocks") == self.run_blocks:
            del self.gen.run_blocks

    def setup_cache(self, batch: int, latent_hw: tuple[int, int], text_len: int) -> None:
        """The generator's static caches, each with this rank's H/P heads."""
        self.gen.setup_cache(batch, latent_hw, text_len, heads=self.local_heads)

    # ---- the loop over the blocks, tokens sharded ----------------------------------------------
    def run_blocks(self, x: Tensor, m: Tensor, contexts, text: Tensor | None = None, call=None) -> Tensor:
        """`Generator.run_blocks` on this rank's tokens of every frame; x (B, F, T, d) whole in and out."""
        b, f, t, d = x.shape
        if t % self.world:
            raise ValueError(f"sequence parallelism splits each frame's tokens across ranks: {t} tokens "
                             f"a frame do not divide among {self.world} ranks (pick a latent size whose "
                             f"token grid does)")
        if torch.is_grad_enabled() and x.requires_grad:
            raise NotImplementedError("sequence parallelism runs inference only (no gradients through its "
                                      "all-to-alls): call it under torch.no_grad()")
        for ctx in contexts if isinstance(contexts, list) else ():
            cache = getattr(ctx, "cache", None)
            if cache is not None and cache.keys.shape[1] != self.local_heads:
                raise ValueError(f"the KV cache holds {cache.keys.shape[1]} heads, this rank runs "
                                 f"{self.local_heads}: set it up with SequenceParallel.setup_cache")
        tp = t // self.world
        local = x[:, :, self.rank * tp:(self.rank + 1) * tp]
        wrapped = (HeadParallel(ctx, self, f) for ctx in contexts)
        y = type(self.gen).run_blocks(self.gen, local, m, wrapped, text, call)
        parts = [torch.empty_like(y) for _ in range(self.world)]
        dist.all_gather(parts, y.contiguous(), group=self.group)
        return torch.cat(parts, dim=2)

    # ---- the two all-to-alls ---------------------------------------------------------------
    def _all_to_all(self, x: Tensor) -> Tensor:
        """x (P, ...) contiguous: chunk j goes to rank j; returns (P, ...), chunk i from rank i."""
        out = torch.empty_like(x)
        dist.all_to_all_single(out, x, group=self.group)
        return out

    def to_heads(self, qkv: Tensor, frames: int) -> Tensor:
        """(3, B, H, F*T/P, D) this rank's tokens, all heads -> (3, B, H/P, F*T, D) all tokens
        (frame-major, as the contexts expect), this rank's heads."""
        n, b, h, l, d = qkv.shape
        p, hp, tp = self.world, self.local_heads, l // frames
        send = qkv.view(n, b, p, hp, l, d).permute(2, 0, 1, 3, 4, 5).contiguous()
        recv = self._all_to_all(send).view(p, n, b, hp, frames, tp, d)        # [i]: rank i's tokens
        return recv.permute(1, 2, 3, 4, 0, 5, 6).reshape(n, b, hp, frames * p * tp, d)

    def to_tokens(self, o: Tensor, frames: int) -> Tensor:
        """(B, H/P, F*T, D) this rank's heads -> (B, H, F*T/P, D) this rank's tokens, all heads."""
        b, hp, l, d = o.shape
        p = self.world
        tp = l // (frames * p)
        send = o.view(b, hp, frames, p, tp, d).permute(3, 0, 1, 2, 4, 5).contiguous()
        recv = self._all_to_all(send)                                          # [i]: rank i's heads
        return recv.permute(1, 0, 2, 3, 4, 5).reshape(b, p * hp, frames * tp, d)
