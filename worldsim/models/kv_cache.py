"""Static KV cache of one generator layer: sinks (text + frame 0) and a ring of N frames.

    keys/values  (B, H, S, D)  with S = Lt + T + N*T
                 [ text (Lt) | frame 0 (T) | ring slot 0 (T) | ... | ring slot N-1 (T) ]

Allocated once at full size; every write is an in-place index_put at positions held in tensors,
so a step has static shapes, never syncs with the host and never reallocates: memory and time
per step are the same at frame 10 and frame 10 million. Frame j >= 1 lives in ring slot (j-1) % N.

Frame 0's keys are kept unrotated (`first_keys`) and re-rotated into the sink slot every step at
the position just before the window (see generator.py, "positions").

`slots` picks the sessions (batch rows) an operation touches: None (all), or a list of rows.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

Slots = Sequence[int] | None


def slot_index(slots: Slots, device, slices: bool = True) -> slice | Tensor:
    """A contiguous run of rows becomes a slice (a view, no copy); anything else an index tensor.
    slices=False: an index tensor for any list of rows (a compiled step: a slice's bounds are
    constants of the graph, so every new run of rows would compile anew; a tensor is an input)."""
    if slots is None:
        return slice(None)
    slots = list(slots)
    if slices and slots and slots == list(range(slots[0], slots[0] + len(slots))):
        return slice(slots[0], slots[0] + len(slots))
    return torch.tensor(slots, device=device, dtype=torch.long)


class KVCache(torch.nn.Module):
    def __init__(self, batch: int, heads: int, head_dim: int, text_len: int, frame_tokens: int,
                 window: int, device=None, dtype=torch.float32):
        super().__init__()
        self.text_len, self.frame_tokens, self.window = text_len, frame_tokens, window
        size = text_len + frame_tokens * (1 + window)
        shape = (batch, heads, size, head_dim)
        self.register_buffer("keys", torch.zeros(shape, device=device, dtype=dtype), persistent=False)
        self.register_buffer("values", torch.zeros(shape, device=device, dtype=dtype), persistent=False)
        self.register_buffer("first_keys", torch.zeros(batch, heads, frame_tokens, head_dim, device=device,
                                                       dtype=dtype), persistent=False)

    @property
    def sink_len(self) -> int:
        return self.text_len + self.frame_tokens

    def write_sinks(self, rows, text_k: Tensor, text_v: Tensor, first_k: Tensor, first_v: Tensor) -> None:
        """Text k/v (b, H, Lt, D) and frame 0's unrotated keys / values (b, H, T, D)."""
        lt, sl, dt = self.text_len, self.sink_len, self.keys.dtype
        self.keys[rows, :, :lt] = text_k.to(dt)
        self.values[rows, :, :lt] = text_v.to(dt)
        self.first_keys[rows] = first_k.to(dt)
        self.values[rows, :, lt:sl] = first_v.to(dt)

    def write_sink_keys(self, rows, rotated_first_k: Tensor) -> None:
        self.keys[rows, :, self.text_len:self.sink_len] = rotated_first_k.to(self.keys.dtype)

    def write_step(self, rows, ring_slot: Tensor, k: Tensor, v: Tensor, sink_k: Tensor) -> None:
        """One step's writes: the new frame's k, v (b, H, T, D) into ring slot `ring_slot` (b,) and
        frame 0's keys re-rotated for this step (b, H, T, D) into the sink. One index_put per buffer,
        on the buffer itself, not on views of it: compiled, Inductor then writes the cache in place;
        two writes through views (write_frame + write_sink_keys) made it copy the whole key cache
        of every layer on every step."""
        b, t = k.shape[0], self.frame_tokens
        if isinstance(rows, slice):
            rows = torch.arange(self.keys.shape[0], device=k.device)[rows]
        token = torch.arange(t, device=k.device)
        ring = self.sink_len + ring_slot[:, None] * t + token                 # (b, T) positions
        both = torch.cat([(self.text_len + token).expand(b, t), ring], dim=1)  # (b, 2T): sink, frame
        r = rows[:, None]
        # advanced indices around a slice put their dims first: values are (b, positions, H, D)
        self.keys[r, :, both] = torch.cat([sink_k, k], dim=2).transpose(1, 2).to(self.keys.dtype)
        self.values[r, :, ring] = v.transpose(1, 2).to(self.values.dtype)

    def read(self, rows) -> tuple[Tensor, Tensor]:
        return self.keys[rows], self.values[rows]

    def valid(self, frames_written: Tensor) -> Tensor:
        """(b, S) bool: the sinks, and the ring slots that hold a frame once `frames_written` (b,)
        frames after frame 0 are in."""
        ring = torch.arange(self.window, device=frames_written.device) < frames_written[:, None]
        ring = ring.repeat_interleave(self.frame_tokens, dim=1)
        sinks = torch.ones_like(ring[:, :1]).expand(-1, self.sink_len)
        return torch.cat([sinks, ring], dim=1)
