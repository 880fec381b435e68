"""Scripted evaluation trajectories, driven through the real CameraRig (walk mode, 24 fps).

Every trajectory has 1 + 4k frames (the renderer's step 0 makes one frame, every later step 4);
frame 0 is the start pose (tick 0 is idle). With the reference world's camera-height rule the
rig's origin is each world's spawn point, so one packet list serves every seed.

  walk     forward at 3 m/s, a 45° turn (alternately right and left) for 1 s every 5 s;
           rolled out `drift_seconds` long (AR and teacher-forced figures use its first seconds)
  yaw      standing, turn left at 90°/s for the first half, right for the second (pure yaw)
  strafe   standing upright, strafe right for the first half, left for the second
  still    nothing pressed
  turn360  a full turn left in place, 96 frames at 3.75°/frame; frame 96 = frame 0's pose
  revisit  walk 5 s away, turn 180°, walk 5 s back, turn 180°: frame 336 (14 s later) = frame 0's
           pose, reached at the end of a turn (a generator lagging the controls is off there)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..controls.packets import PacketBuilder
from ..controls.script import ScriptedInput, Segment
from .config import EvalConfig

TURN = 48                     # frames of a 180° turn at 90°/s and 24 fps


@dataclass
class Trajectory:
    name: str
    packets: list[dict]                 # one control packet per video frame
    c2w: np.ndarray                     # (T, 4, 4) the rig's poses (before the renderer's height rule)
    revisit: tuple[int, int] | None = None    # (first view, revisit view) frame indices with equal poses

    @property
    def frames(self) -> int:
        return len(self.packets)

    def yaw_steps(self) -> np.ndarray:
        """(T,) yaw change from frame t-1 to t in radians (+ left) where only the yaw changed, else NaN."""
        out = np.full(self.frames, np.nan)
        for t in range(1, self.frames):
            a, b = self.c2w[t - 1], self.c2w[t]
            if np.allclose(a[:3, 3], b[:3, 3], atol=1e-9) and not np.allclose(a[:3, :3], b[:3, :3], atol=1e-12):
                rel = a[:3, :3].T @ b[:3, :3]                   # rotation about the camera's y axis
                if abs(rel[1, 1] - 1.0) < 1e-9:                 # no pitch or roll: a pure yaw
                    out[t] = -math.atan2(rel[0, 2], rel[0, 0])
        return out

    def moving(self) -> np.ndarray:
        """(T,) bool: the pose of frame t differs from frame t-1 (frame 0: False)."""
        d = np.abs(np.diff(self.c2w, axis=0)).reshape(self.frames - 1, -1).max(axis=1)
        return np.concatenate([[False], d > 1e-9])


def frame_count(seconds: float, fps: float) -> int:
    """1 + 4k frames covering at least `seconds`."""
    return 1 + 4 * math.ceil(seconds * fps / 4)


def drive(name: str, segments: list[Segment], frames: int, kinds: list[str], fps: float,
          revisit: tuple[int, int] | None = None) -> Trajectory:
    """Run a script through a PacketBuilder (the real CameraRig) for `frames` ticks."""
    script = ScriptedInput(segments, length=frames)
    builder = PacketBuilder(kinds, fps=fps)
    packets = [builder.tick(script.sample()) for _ in range(frames)]
    c2w = np.stack([np.asarray(p["camera"]["c2w"], dtype=np.float64).reshape(4, 4) for p in packets])
    return Trajectory(name, packets, c2w, revisit)


def build_trajectories(cfg: EvalConfig, fps: float = 24.0, kinds: list[str] | None = None) -> list[Trajectory]:
    kinds = sorted(set(kinds or []) | {"camera"})
    n = frame_count(cfg.seconds, fps)
    half = 1 + (n - 1) // 2
    walk_n = frame_count(cfg.drift_seconds, fps)
    period = round(5 * fps)
    walk = [Segment(1, walk_n, ("move_forward",))]
    walk += [Segment(t, t + round(fps), (), {"right_stick_x": 0.5 if i % 2 == 0 else -0.5})
             for i, t in enumerate(range(period, walk_n, period))]
    away = round(5 * fps)                                       # frames of each 5 s walk
    legs = [(1, 1 + away, ("move_forward",)), (1 + away, 1 + away + TURN, ("turn_left",)),
            (1 + away + TURN, 1 + 2 * away + TURN, ("move_forward",)),
            (1 + 2 * away + TURN, 1 + 2 * away + 2 * TURN, ("turn_left",))]
    back = 2 * away + 2 * TURN                                  # frame index of the revisit (336 at 24 fps)
    return [
        drive("walk", walk, walk_n, kinds, fps),
        drive("yaw", [Segment(1, half, ("turn_left",)), Segment(half, n, ("turn_right",))], n, kinds, fps),
        drive("strafe", [Segment(1, half, ("strafe_right",)), Segment(half, n, ("strafe_left",))], n, kinds, fps),
        drive("still", [], n, kinds, fps),
        drive("turn360", [Segment(1, 1 + 2 * TURN, ("turn_left",))], 1 + 2 * TURN, kinds, fps, revisit=(0, 2 * TURN)),
        drive("revisit", [Segment(a, b, hold) for a, b, hold in legs], back + 1, kinds, fps, revisit=(0, back)),
    ]
