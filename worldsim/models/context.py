"""What the video queries of a block see: one small object per kind of forward (the attention context).

    x, text = block(x, m, ctx, text)     # Block.forward; ctx.attend(q, k, v, text_kv) -> o (B, H, F*T, D)

q, k, v come RMS-normalised and unrotated from the block's video stream; `text_kv` is the block's
text keys/values (B, H, Lt, D) when the text tokens run through the block in the same forward,
else None (the cached step, whose text is in the cache). A context rotates, writes the cache
where it has one, and attends with the generator's backend:

- `ClipContext`:  a whole clip, block-causal over a window with frame 0 as a sink (training);
- `FullContext`:  a whole clip, every frame sees every frame (the bidirectional base model);
- `FirstFrame`:   frame 0 of a session into its layer's cache sinks (`Generator.start`);
- `CachedStep`:   one frame of each session against its layer's cache (`Generator.step`);
- `SegmentContext` (segment.py): frames of a long rollout against a detached cache snapshot.

The per-layer ones hold their layer's cache; the generator makes one per block and runs ONE loop
over the blocks for every kind of forward. Contexts hold tensors and constants only, never host
state that changes per step, so a compiled step (torch.compile, fullgraph) traces them once.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .attention import ClipLayout, attention
from .kv_cache import KVCache
from .rope import apply_rope

Rotation = tuple[Tensor, Tensor]


class ClipContext:
    """Teacher-forced clip: rot (F*T, D/2) per token, rot_sink (S, T, D/2) per sink position."""

    def __init__(self, layout: ClipLayout, rot: Rotation, rot_sink: Rotation, backend: str):
        self.layout, self.rot, self.rot_sink, self.backend = layout, rot, rot_sink, backend

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: tuple[Tensor, Tensor]) -> Tensor:
        tk, tv = text_kv
        tokens, n_sinks = self.layout.frame_tokens, self.layout.n_sinks
        sinks = apply_rope(k[:, :, None, :tokens], self.rot_sink).flatten(2, 3)    # (B, H, S*T, D)
        keys = torch.cat([tk, sinks, apply_rope(k[:, :, tokens:], [r[tokens:] for r in self.rot])], dim=2)
        vals = torch.cat([tv, v[:, :, :tokens].repeat(1, 1, n_sinks, 1), v[:, :, tokens:]], dim=2)
        return attention(apply_rope(q, self.rot), keys, vals, self.layout, self.backend)


class FullContext:
    """Bidirectional clip: full attention over [text | all frames]; rot (F*T, D/2)."""

    def __init__(self, rot: Rotation, backend: str):
        self.rot, self.backend = rot, backend

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: tuple[Tensor, Tensor]) -> Tensor:
        tk, tv = text_kv
        keys = torch.cat([tk, apply_rope(k, self.rot)], dim=2)
        return attention(apply_rope(q, self.rot), keys, torch.cat([tv, v], dim=2), None, self.backend)


class FirstFrame:
    """Frame 0 of sessions `rows`: text and frame 0 into the sinks of `cache`; rot (1, T, D/2)."""

    def __init__(self, cache: KVCache, rows, rot: Rotation, backend: str):
        self.cache, self.rows, self.rot, self.backend = cache, rows, rot, backend

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: tuple[Tensor, Tensor]) -> Tensor:
        tk, tv = text_kv
        k_rot = apply_rope(k, self.rot)
        self.cache.write_sinks(self.rows, tk, tv, k, v)
        self.cache.write_sink_keys(self.rows, k_rot)
        return attention(apply_rope(q, self.rot), torch.cat([tk, k_rot], 2), torch.cat([tv, v], 2), None,
                         self.backend)


class CachedStep:
    """The next frame of sessions `rows` against `cache`: writes its rotated keys and values into
    ring slot `ring_slot` (b,), re-rotates frame 0 into the sink at `rot_sink`, attends over the
    whole cache row; `valid` (b, S) masks ring slots not written yet (None once every ring is full);
    `kv_splits` > 1 attends an unmasked row in that many key chunks (attention.py)."""

    def __init__(self, cache: KVCache, rows, ring_slot: Tensor, rot: Rotation, rot_sink: Rotation,
                 valid: Tensor | None, backend: str, kv_splits: int = 1):
        self.cache, self.rows, self.ring_slot = cache, rows, ring_slot
        self.rot, self.rot_sink, self.valid, self.backend = rot, rot_sink, valid, backend
        self.kv_splits = kv_splits

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: None = None) -> Tensor:
        cache, rows = self.cache, self.rows
        cache.write_step(rows, self.ring_slot, apply_rope(k, self.rot), v,
                         apply_rope(cache.first_keys[rows], self.rot_sink))
        keys, vals = cache.read(rows)
        return attention(apply_rope(q, self.rot), keys, vals, self.valid, self.backend, self.kv_splits)
