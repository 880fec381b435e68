"""ControlEncoders: the worker-side encoders of one session, concatenated on channels.

    enc = ControlEncoders(["camera", "pose"], height=h, width=w, config={"camera": {"kind": "plucker"}})
    enc.channels                       # 25 + 68
    x = enc.encode(packets)            # packets of one latent frame (1, then 4) -> (93, h, w) float32
    enc.slices["pose"]                 # slice(25, 93): where each kind's channels are

`config` holds each kind's encoder options (e.g. the camera kind, fovy and scale constants stored
with a checkpoint). Packets must have been checked with validate_packet (the worker does).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..errors import WorldsimUserError
from .registry import get_control
from .schema import ControlError


class ControlEncoders:
    def __init__(self, kinds: Sequence[str], height: int, width: int,
                 config: dict[str, dict[str, Any]] | None = None):
        config = config or {}
        unknown = set(config) - set(kinds)
        if unknown:
            raise ControlError(f"encoder config for kinds {sorted(unknown)} that are not in {list(kinds)}")
        self.kinds, self.height, self.width = list(kinds), height, width
        self.encoders: dict[str, Any] = {}
        self.slices: dict[str, slice] = {}
        start = 0
        for kind in self.kinds:
            try:
                control = get_control(kind)
            except (KeyError, WorldsimUserError) as e:   # unknown, or its plugin does not import
                raise ControlError(str(e.args[0])) from None
            enc = control.make_encoder(height, width, **config.get(kind, {}))
            self.encoders[kind] = enc
            self.slices[kind] = slice(start, start + enc.channels)
            start += enc.channels
        self.channels = start

    def encode(self, packets: Sequence[dict]) -> torch.Tensor:
        """Packets of the video frames of one latent frame -> (channels, height, width) float32."""
        out = [enc.encode([p[kind] for p in packets]) for kind, enc in self.encoders.items()]
        return torch.cat(out, dim=0).float() if out else torch.zeros(0, self.height, self.width)

    def reset(self) -> None:
        for enc in self.encoders.values():
            enc.reset()


def control_channels(kinds: Sequence[str], config: dict[str, dict[str, Any]] | None = None) -> int:
    """Channels the encoders of `kinds` produce per latent frame (for sizing a model's input)."""
    return ControlEncoders(kinds, 1, 1, config).channels
