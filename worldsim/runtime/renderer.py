"""The Renderer protocol: anything that turns (start state, control packets) into frames.

A renderer is built once per worker (it may hold a model on the GPU) and serves many sessions.
The worker batches the pending steps of all sessions into one `step` call.

    spec  = renderer.spec                       # RendererSpec: size, fps, frames per step, controls
    state = renderer.open(seed, prompt, first_frame, controls)
    frames = renderer.step([state, ...], [[packet, ...], ...])   # list of uint8 [F, H, W, 3]
    renderer.close(state)

A control packet is a small msgpack-able dict for one video frame, keyed by control kind:
``{"camera": {"c2w": [16 floats, row-major OpenCV camera-to-world]}, "actions": {...}}``.
A step receives exactly as many packets per session as frames it will return for that session
(`RendererSpec.frames_for_step(index)`): `first_step_frames` for step 0, `frames_per_step` after.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class RendererSpec:
    name: str
    width: int
    height: int
    fps: float = 24.0
    frames_per_step: int = 4          # video frames per step (AAPT: one latent frame = 4 frames)
    first_step_frames: int = 1        # step 0 returns the first frame alone (AAPT: latent 0 = 1 frame)
    control_kinds: dict[str, dict] = field(default_factory=dict)   # kind -> packet schema
    info: dict[str, Any] = field(default_factory=dict)             # preset, latent size, ...

    def frames_for_step(self, index: int) -> int:
        return self.first_step_frames if index == 0 else self.frames_per_step

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RendererSpec":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@runtime_checkable
class Renderer(Protocol):
    spec: RendererSpec

    def open(self, seed: int, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> Any: ...

    def step(self, states: Sequence[Any], packets: Sequence[Sequence[dict]]) -> Sequence[np.ndarray]: ...

    def close(self, state: Any) -> None: ...


class RendererError(RuntimeError):
    """Raised by a renderer for a bad request of one session (bad packet, bad first frame).

    The worker turns it into an ERROR `bad_request` for that session only. In a batched `step`,
    set `index` to the position of the offending session so the others still get their frames.
    A renderer validates every session's input before it mutates any state, so a failed
    step leaves all sessions as they were."""

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index
