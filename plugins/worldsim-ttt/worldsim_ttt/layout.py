"""Token order of a storyboard sequence, and its reversal for the backward TTT pass.

Scan order: [text_1, video_1, text_2, video_2, ...]; each video segment frame by frame, row-major
inside a frame. The reverse order reads the segments last first; each text chunk keeps its own
token order and still precedes its video; video tokens are fully reversed (last frame, last row,
last column first). RoPE positions (frame, row, col) travel with the tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Segment:
    text_tokens: int
    frames: int
    rows: int
    cols: int

    @property
    def video_tokens(self) -> int:
        return self.frames * self.rows * self.cols


class SequenceLayout:
    """Index tensors for one sequence of segments: video_mask [L], positions [L, 3], reverse_order [L]."""

    def __init__(self, segments: list[Segment]):
        if not segments:
            raise ValueError("a sequence needs at least one segment")
        for s in segments:
            if min(s.text_tokens, s.frames, s.rows, s.cols) < 0 or s.video_tokens + s.text_tokens == 0:
                raise ValueError(f"segment sizes must be >= 0 and not all empty, got {s}")
        self.segments = list(segments)
        mask, pos, spans, start, frame0 = [], [], [], 0, 0
        for s in segments:
            f, r, c = torch.meshgrid(torch.arange(s.frames) + frame0, torch.arange(s.rows), torch.arange(s.cols),
                                     indexing="ij")
            mask += [False] * s.text_tokens + [True] * s.video_tokens
            pos += [torch.zeros(s.text_tokens, 3, dtype=torch.long), torch.stack([f, r, c], -1).reshape(-1, 3)]
            spans.append((start, start + s.text_tokens, start + s.text_tokens + s.video_tokens))
            start, frame0 = spans[-1][2], frame0 + s.frames
        self.length = start
        self.video_mask = torch.tensor(mask, dtype=torch.bool)      # [L]
        self.positions = torch.cat(pos)                              # [L, 3] (frame, row, col); 0 for text
        order = [torch.cat([torch.arange(t0, v0), torch.arange(v1 - 1, v0 - 1, -1)]) for t0, v0, v1 in reversed(spans)]
        self.reverse_order = torch.cat(order)                        # rev(x) = x[:, reverse_order]
        self.restore_order = torch.argsort(self.reverse_order)       # rev^-1(y) = y[:, restore_order]

    @classmethod
    def uniform(cls, n_segments: int, text_tokens: int, frames: int, rows: int, cols: int) -> "SequenceLayout":
        return cls([Segment(text_tokens, frames, rows, cols)] * n_segments)
