"""`checkerboard`: an endless checkerboard floor under a sky gradient, seen through the camera.

A small but complete worldsim renderer (the Renderer protocol of worldsim.rendering): every pixel
casts a ray from the camera packet's pose (`{"camera": {"c2w": 16 floats}}`, OpenCV axes, world
+y up) onto the ground plane y = 0, so turning, looking and walking move the floor exactly as
a camera would; tiles fade into the horizon colour with distance. The seed picks the colours.
numpy only: no torch, no GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from worldsim.rendering import RendererError, RendererSpec

__version__ = "0.1.0"
CAMERA_SCHEMA = {"c2w": "16 floats, row-major OpenCV camera-to-world"}


@dataclass
class Session:
    seed: int
    tiles: np.ndarray          # (2, 3) float32: the two tile colours
    sky: np.ndarray            # (2, 3) float32: zenith, horizon
    steps: int = 0


class CheckerboardRenderer:
    """Renderer protocol implementation; see worldsim.rendering."""

    def __init__(self, width: int = 320, height: int = 180, fps: float = 24.0, fovy_deg: float = 60.0,
                 tile: float = 1.0, fog: float = 40.0):
        if not (8 <= width <= 4096 and 8 <= height <= 4096):
            raise ValueError(f"checkerboard size {width}x{height} out of range 8..4096")
        if not (1.0 <= fovy_deg <= 170.0) or tile <= 0 or fog <= 0:
            raise ValueError("checkerboard needs 1 <= fovy_deg <= 170, tile > 0 and fog > 0")
        self.spec = RendererSpec(name="checkerboard", width=width, height=height, fps=fps,
                                 frames_per_step=4, first_step_frames=1,
                                 control_kinds={"camera": CAMERA_SCHEMA},
                                 info={"fovy_deg": fovy_deg, "tile": tile, "fog": fog})
        self.tile, self.fog = float(tile), float(fog)
        f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)          # as worldsim.controls.intrinsics
        u = (np.arange(width) + 0.5 - width / 2) / f
        v = (np.arange(height) + 0.5 - height / 2) / f
        self._rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), -1)   # (H, W, 3) camera

    def open(self, seed: int, prompt: str = "", first_frame=None, controls: Sequence[str] = ()) -> Session:
        unknown = set(controls) - set(self.spec.control_kinds)
        if unknown:
            raise RendererError(f"checkerboard accepts controls {sorted(self.spec.control_kinds)}, got {sorted(unknown)}")
        rng = np.random.default_rng(int(seed))
        base = rng.uniform(40, 215, 3)
        tiles = np.stack([base, 255 - base * 0.8]).astype(np.float32)
        sky = np.array([[70, 120, 220], [200, 215, 235]], np.float32) + rng.uniform(-20, 20, (2, 3)).astype(np.float32)
        return Session(int(seed), tiles, sky.clip(0, 255))

    def close(self, state: Session) -> None:
        state.steps = -1

    def step(self, states: Sequence[Session], packets: Sequence[Sequence[dict]]) -> list[np.ndarray]:
        if len(states) != len(packets):
            raise ValueError(f"{len(states)} sessions but {len(packets)} packet lists")
        poses = []                                   # validate every session before any state changes
        for index, (state, session_packets) in enumerate(zip(states, packets)):
            want = self.spec.frames_for_step(state.steps)
            if len(session_packets) != want:
                raise RendererError(f"step {state.steps} takes {want} packets, got {len(session_packets)}", index)
            poses.append([camera_pose(p, index) for p in session_packets])
        out = []
        for state, session_poses in zip(states, poses):
            out.append(np.stack([self.draw(state, c2w) for c2w in session_poses]))
            state.steps += 1
        return out

    def draw(self, state: Session, c2w: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8 frame from camera-to-world `c2w` (4, 4)."""
        d = self._rays @ c2w[:3, :3].T               # world ray directions (not normalised)
        norm = np.linalg.norm(d, axis=-1)
        up = d[..., 1] / norm                        # sine of the ray's elevation
        eye = c2w[:3, 3]
        sky = state.sky[1] + (state.sky[0] - state.sky[1]) * np.clip(up, 0, 1)[..., None]
        ground = (up < 0) & (eye[1] > 0)
        t = np.where(ground, eye[1] / np.where(ground, -d[..., 1], 1.0), 0.0)     # ray length to y = 0
        x, z = eye[0] + t * d[..., 0], eye[2] + t * d[..., 2]
        parity = (np.floor(x / self.tile).astype(np.int64) + np.floor(z / self.tile).astype(np.int64)) & 1
        haze = np.exp(-(t * norm) / self.fog)[..., None]                          # distance fog
        floor = state.tiles[parity] * haze + state.sky[1] * (1 - haze)
        return np.where(ground[..., None], floor, sky).round().clip(0, 255).astype(np.uint8)


def camera_pose(packet: dict, index: int = 0) -> np.ndarray:
    """The (4, 4) c2w of a control packet; RendererError (for session `index`) when it has none."""
    try:
        c2w = np.asarray(packet["camera"]["c2w"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise RendererError(f"checkerboard needs packets {{'camera': {{'c2w': [16 floats]}}}}: {err!r}", index) from None
    if c2w.shape != (16,) or not np.isfinite(c2w).all():
        raise RendererError(f"camera c2w must be 16 finite floats, got shape {c2w.shape}", index)
    return c2w.reshape(4, 4)
