"""Discrete-action encoding (worker side): multi-hot held buttons + mouse deltas per video frame.

Per video frame: 14 button channels (BUTTONS order, 1 if held) and 2 mouse channels
(dx, dy divided by `mouse_scale` pixels and clipped to ±`mouse_clip`); the 4 frames of a latent
frame stacked give a 64-vector (Matrix-Game / DIAMOND-style action space). The vector is
broadcast to constant channels (64, h, w): concatenated before a patch embedding this is the
same as embedding the vector and adding it to every token of the latent frame. The first latent
frame carries no actions (zeros).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .actions import BUTTONS
from .schema import ControlError

_INDEX = {b: i for i, b in enumerate(BUTTONS)}
PER_FRAME = len(BUTTONS) + 2


def action_vector(parts: Sequence[dict], frames: int = 4, mouse_scale: float = 20.0,
                  mouse_clip: float = 5.0) -> torch.Tensor:
    """Action parts of up to `frames` video frames -> (frames · 16,) float32 (missing frames are zeros)."""
    v = torch.zeros(frames, PER_FRAME)
    for f, part in enumerate(parts[:frames]):
        for key in part["keys"]:
            v[f, _INDEX[key]] = 1.0
        v[f, -2:] = torch.tensor(part["mouse"], dtype=torch.float32).div(mouse_scale).clamp(-mouse_clip, mouse_clip)
    return v.reshape(-1)


class ActionEncoder:
    """One session's action encoder: packet parts of a latent frame -> (64, h, w) constant channels."""

    def __init__(self, height: int, width: int, mouse_scale: float = 20.0, mouse_clip: float = 5.0,
                 frames_per_latent: int = 4):
        if not mouse_scale > 0 or not mouse_clip > 0:
            raise ControlError(f"mouse_scale and mouse_clip must be > 0, got {mouse_scale}, {mouse_clip}")
        self.height, self.width, self.fpl = height, width, frames_per_latent
        self.mouse_scale, self.mouse_clip = float(mouse_scale), float(mouse_clip)
        self.channels = PER_FRAME * frames_per_latent
        self.first = True

    def reset(self) -> None:
        self.first = True

    def vector(self, parts: Sequence[dict]) -> torch.Tensor:
        """(64,) for the latent frame; zeros for the first latent frame of the session."""
        if not 1 <= len(parts) <= self.fpl:
            raise ControlError(f"action encoder takes 1..{self.fpl} packets per latent frame, got {len(parts)}")
        first, self.first = self.first, False
        if first:
            return torch.zeros(self.channels)
        return action_vector(parts, self.fpl, self.mouse_scale, self.mouse_clip)

    def encode(self, parts: Sequence[dict]) -> torch.Tensor:
        return self.vector(parts)[:, None, None].expand(self.channels, self.height, self.width).contiguous()
