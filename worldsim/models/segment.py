"""A segment of frames against a detached KV cache: long-video training (docs/train.md, stage adversarial).

    context = cache_snapshot(gen)                  # after rolling out frames 0..start-1
    v = forward_segment(gen, inputs, t, text, context, start)   # frames start..start+S-1, with grad

The generator rolls a long video out frame by frame under no_grad; before each segment it takes
a snapshot of its caches (detached: no gradient crosses into earlier segments). `forward_segment`
then recomputes the segment's frames in one block-causal forward with gradients: frame i sees the
text, frame 0 at its sink position max(0, i - N), the cached frames max(1, i-N+1)..start-1 and the
segment's own frames up to i, exactly what `step` saw, so its outputs equal the rollout's
(tests/train/test_long_video.py), and gradients flow through the segment frames' keys/values.
Text keys/values are recomputed from `text` so the text encoder still learns.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .attention import attention
from .rope import apply_rope

Snapshot = list[tuple[Tensor, Tensor, Tensor]]       # per layer: keys, values, first_keys (detached)


@torch.no_grad()
def cache_snapshot(gen) -> Snapshot:
    """Detached copies of every layer's cache (all rows)."""
    if gen.caches is None:
        raise RuntimeError("call setup_cache and start before taking a cache snapshot")
    return [(c.keys.clone(), c.values.clone(), c.first_keys.clone()) for c in gen.caches]


def forward_segment(gen, inputs: Tensor, t: Tensor, text: Tensor, context: Snapshot, start: int) -> Tensor:
    """Velocity (B, S, C, h, w) of frames start..start+S-1 (start >= 1).

    inputs (B, S, Cin, h, w) from `frame_inputs`; t (B, S) or (B,); text (B, Lt, text_dim);
    context: `cache_snapshot` taken when frames 0..start-1 were in the cache."""
    cfg, b, s, _, h, w = gen.cfg, *inputs.shape
    if start < 1:
        raise ValueError(f"a segment starts at frame >= 1 (frame 0 is the given first frame), got {start}")
    if t.dim() == 1:
        t = t[:, None].expand(b, s)
    hp, wp = h // cfg.patch, w // cfg.patch
    dev = inputs.device
    x = gen.patch_embed(gen.patchify(inputs))                                 # (B, S, T, d)
    c = gen.time_embed(t)
    rot = [r.flatten(0, 1) for r in gen.rope(torch.arange(start, start + s, device=dev), hp, wp)]  # (S*T, D/2)
    frames = range(start, start + s)
    sink_rot = {p: gen.rope(torch.tensor([p], device=dev), hp, wp) for p in {max(0, i - cfg.window) for i in frames}}
    contexts = [SegmentContext(layer, frames, cfg.window, hp * wp, rot, sink_rot, gen.backend) for layer in context]
    x = gen.run_blocks(x, gen.time_mod(F.silu(c)), contexts, text)
    return gen.output(x, c, h, w)


class SegmentContext:
    """One layer's attention for the segment `frames` against that layer's snapshot (keys, values,
    first_keys): frame i sees the text, frame 0 at its sink position, the cached frames
    max(1, i-N+1)..start-1 and the segment's frames up to i (one attention call per frame)."""

    def __init__(self, layer, frames: range, window: int, tokens: int, rot, sink_rot: dict, backend: str):
        self.layer, self.frames, self.window, self.tokens = layer, frames, window, tokens
        self.rot, self.sink_rot, self.backend = rot, sink_rot, backend

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: tuple[Tensor, Tensor]) -> Tensor:
        (tk, tv), (ck, cv, first_k) = text_kv, self.layer
        n, tokens, start, b, lt = self.window, self.tokens, self.frames.start, q.shape[0], tk.shape[2]
        q, k = apply_rope(q, self.rot), apply_rope(k, self.rot)
        ring_k = ck[:b, :, lt + tokens:].unflatten(2, (n, tokens))             # (B, H, N, T, D), rotated
        ring_v = cv[:b, :, lt + tokens:].unflatten(2, (n, tokens))
        first_v = cv[:b, :, lt:lt + tokens]
        outs = []
        for j, i in enumerate(self.frames):
            cached = range(max(1, i - n + 1), start)                          # frames held by the ring
            slots = [(f - 1) % n for f in cached]
            lo = max(0, i - n + 1 - start)                                    # segment frames in i's window
            keys = [tk, apply_rope(first_k[:b, :, None], self.sink_rot[max(0, i - n)]).flatten(2, 3),
                    *(ring_k[:, :, sl] for sl in slots), k[:, :, lo * tokens:(j + 1) * tokens]]
            vals = [tv, first_v, *(ring_v[:, :, sl] for sl in slots), v[:, :, lo * tokens:(j + 1) * tokens]]
            qi = q[:, :, j * tokens:(j + 1) * tokens]
            outs.append(attention(qi, torch.cat(keys, 2), torch.cat(vals, 2), None, self.backend))
        return torch.cat(outs, dim=2)
