"""`testpattern`: a cheap, deterministic renderer for pipeline tests and benchmarks.

The picture is a window onto a seeded panorama: turning the camera slides the window sideways
(right turn -> the picture moves left), pitching slides it vertically, walking scrolls the
ground stripes. So input is visible, frames depend only on (seed, packets), and a frame costs
one slice copy — the worker path, not the renderer, dominates what `worldsim bench runtime` measures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..rendering import RendererError, RendererSpec

CAMERA_SCHEMA = {"c2w": "16 floats, row-major OpenCV camera-to-world"}


@dataclass
class _Session:
    seed: int
    panorama: np.ndarray      # (2H, W + pan_w, 3) uint8, horizontally periodic
    steps: int = 0


class TestPatternRenderer:
    """Renderer protocol implementation; see worldsim.rendering."""

    __test__ = False   # not a pytest test class despite the name

    def __init__(self, width: int = 736, height: int = 416, fps: float = 24.0, fovy_deg: float = 60.0):
        if width < 8 or height < 8 or width > 4096 or height > 4096:
            raise ValueError(f"testpattern size {width}x{height} out of range 8..4096")
        self.spec = RendererSpec(name="testpattern", width=width, height=height, fps=fps,
                                 frames_per_step=4, first_step_frames=1,
                                 control_kinds={"camera": CAMERA_SCHEMA},
                                 info={"fovy_deg": fovy_deg})
        # pixels per radian of yaw/pitch: the focal length, so a turn moves the picture like a camera would
        self.focal = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
        self.pan_w = int(round(2 * math.pi * self.focal))   # one full turn = one panorama period
        tint = np.array([0.5, 1.0, 0.35])
        # two full ground rows (dark, light stripe), copied per frame with one np.take
        self._ground_rows = np.stack([np.tile((shade * tint).astype(np.uint8), (width, 1)) for shade in (70, 120)])

    def open(self, seed: int, prompt: str = "", first_frame=None, controls: Sequence[str] = ()) -> _Session:
        unknown = set(controls) - set(self.spec.control_kinds)
        if unknown:
            raise RendererError(f"testpattern accepts controls {sorted(self.spec.control_kinds)}, got {sorted(unknown)}")
        return _Session(seed=int(seed), panorama=self._panorama(int(seed)))

    def close(self, state: _Session) -> None:
        state.panorama = None

    def _panorama(self, seed: int) -> np.ndarray:
        W, H, P = self.spec.width, self.spec.height, self.pan_w
        rng = np.random.default_rng(seed)
        # (2H, P) world: sky gradient above the horizon, ground below, random coloured pillars
        ys = np.arange(2 * H)[:, None]
        xs = np.arange(P)[None, :]
        sky = np.stack([60 + 0 * ys, 110 + 60 * ys / (2 * H), 200 - 40 * ys / (2 * H)], -1)
        img = np.broadcast_to(sky, (2 * H, P, 3)).astype(np.float32).copy()
        n_pillars = 24
        for _ in range(n_pillars):
            x0 = int(rng.integers(0, P)); w = int(rng.integers(P // 200 + 4, P // 30 + 8))
            top = int(rng.integers(H // 4, H)); color = rng.integers(40, 255, 3)
            cols = (xs[0] - x0) % P < w
            img[top:H, cols] = color
        # marker column at yaw 0 so absolute heading is visible
        img[:, (xs[0] % P) < 3] = (255, 255, 255)
        img[H:] = 0  # ground is drawn per frame (it scrolls with position)
        pano = np.concatenate([img, img[:, :W]], axis=1)   # wrap so any window is one slice
        return np.ascontiguousarray(pano.clip(0, 255).astype(np.uint8))

    def step(self, states: Sequence[_Session], packets: Sequence[Sequence[dict]]) -> list[np.ndarray]:
        if len(states) != len(packets):
            raise ValueError(f"{len(states)} sessions but {len(packets)} packet lists")
        cameras = []   # validate every session before touching any state
        for index, (state, session_packets) in enumerate(zip(states, packets)):
            expected = self.spec.frames_for_step(state.steps)
            if len(session_packets) != expected:
                raise RendererError(f"step {state.steps} takes {expected} packets, got {len(session_packets)}", index)
            cameras.append([_camera(packet, index) for packet in session_packets])
        out = []
        for state, session_cameras in zip(states, cameras):
            frames = np.empty((len(session_cameras), self.spec.height, self.spec.width, 3), np.uint8)
            for i, c2w in enumerate(session_cameras):
                self._draw(state, c2w, frames[i])
            state.steps += 1
            out.append(frames)
        return out

    def _draw(self, state: _Session, c2w: np.ndarray, out: np.ndarray) -> None:
        W, H, P = self.spec.width, self.spec.height, self.pan_w
        fwd = c2w[:3, 2]                                  # camera +z (forward) in world
        yaw = math.atan2(-fwd[0], -fwd[2])                # + = turned left (yaw 0 looks along -z)
        pitch = math.asin(max(-1.0, min(1.0, -fwd[1])))   # + = looking up (world +y is camera -y)
        x0 = int(round(-yaw * self.focal)) % P
        y0 = int(round(H / 2 - pitch * self.focal))
        y0 = max(0, min(H, y0))
        out[:] = state.panorama[y0:y0 + H, x0:x0 + W]
        horizon = H - y0                                  # first ground row in the frame
        if horizon < H:
            # ground stripes scroll with the distance walked along the current heading
            pos = c2w[:3, 3]
            along = -(pos[0] * math.sin(yaw) + pos[2] * math.cos(yaw))
            rows = np.arange(max(horizon, 0), H)
            depth = (rows - horizon + 1.0)
            phase = ((self.focal / depth + along * 8.0) // 8).astype(np.int64) & 1
            np.take(self._ground_rows, phase, axis=0, out=out[rows[0]:])


def _camera(packet: dict, index: int) -> np.ndarray:
    try:
        c2w = np.asarray(packet["camera"]["c2w"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise RendererError(f"testpattern needs packets {{'camera': {{'c2w': [16 floats]}}}}: {err!r}", index) from None
    if c2w.shape != (16,) or not np.isfinite(c2w).all():
        raise RendererError(f"camera c2w must be 16 finite floats, got shape {c2w.shape}", index)
    return c2w.reshape(4, 4)
