"""CameraRig: named actions -> one camera pose (c2w) per video frame, at a fixed tick.

Conventions: world right-handed, +y up, ground in the x-z plane. OpenCV camera
(x right, y down, z forward). A level camera with yaw 0 looks along world -z: its c2w rotation is
diag(1, -1, -1). +yaw turns left (counter-clockwise seen from above); +pitch looks up.

    R = Ry(yaw) · Rx(pitch) · diag(1, -1, -1)          c2w = [[R, position], [0, 0, 0, 1]]

Inputs per tick (dt = 1/fps): move_* / strafe_* and the left stick translate (walk: on the
ground at eye height; fly: along the view direction, move_up/move_down along world y), turn_* /
look_* and the right stick rotate at turn_rate_deg per second, mouse deltas rotate by
mouse_sensitivity_deg per pixel; sprint multiplies the speed. Pitch is clamped to
±pitch_limit_deg.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .actions import check_finite
from .schema import ControlError

CV_FROM_LEVEL = np.diag([1.0, -1.0, -1.0])     # OpenCV axes of a level camera looking along -z


def intrinsics(width: int, height: int, fovy_deg: float) -> np.ndarray:
    """Pinhole K (3, 3) from a vertical field of view: fy = (H/2)/tan(fovy/2), fx = fy, centre W/2, H/2."""
    fy = (height / 2.0) / math.tan(math.radians(fovy_deg) / 2.0)
    return np.array([[fy, 0.0, width / 2.0], [0.0, fy, height / 2.0], [0.0, 0.0, 1.0]])


def look_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """(3, 3) OpenCV camera-to-world rotation for a yaw (left positive) and pitch (up positive)."""
    cy, sy = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    cp, sp = math.cos(math.radians(pitch_deg)), math.sin(math.radians(pitch_deg))
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    return ry @ rx @ CV_FROM_LEVEL


class CameraRig:
    def __init__(self, fps: float = 24.0, fovy_deg: float = 60.0, mode: str = "walk",
                 eye_height: float = 1.7, ground_height: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 position=(0.0, 0.0, 0.0), yaw: float = 0.0, pitch: float = 0.0, walk_speed: float = 3.0,
                 sprint_multiplier: float = 2.5, turn_rate_deg: float = 90.0,
                 mouse_sensitivity_deg: float = 0.15, pitch_limit_deg: float = 80.0):
        if mode not in ("walk", "fly"):
            raise ValueError(f"CameraRig mode must be 'walk' or 'fly', got {mode!r}")
        if not fps > 0 or not 0 < fovy_deg < 180 or not 0 <= pitch_limit_deg < 90:
            raise ValueError(f"CameraRig needs fps > 0, 0 < fovy_deg < 180, 0 <= pitch_limit_deg < 90 "
                             f"(got {fps}, {fovy_deg}, {pitch_limit_deg})")
        position = np.asarray(position, dtype=np.float64)
        if position.shape != (3,) or not np.isfinite(position).all():
            raise ValueError(f"CameraRig position must be 3 finite numbers, got {position!r}")
        self.fps, self.fovy_deg, self.mode = float(fps), float(fovy_deg), mode
        self.eye_height, self.ground_height = float(eye_height), ground_height
        self.walk_speed, self.sprint_multiplier = float(walk_speed), float(sprint_multiplier)
        self.turn_rate_deg, self.mouse_sensitivity_deg = float(turn_rate_deg), float(mouse_sensitivity_deg)
        self.pitch_limit_deg = float(pitch_limit_deg)
        self._start = (position.copy(), float(yaw), float(pitch))
        self.reset()

    def reset(self) -> None:
        """Back to the start pose."""
        position, self.yaw, self.pitch = self._start
        self.position = position.copy()
        self.pitch = float(np.clip(self.pitch, -self.pitch_limit_deg, self.pitch_limit_deg))
        self._stick_to_ground()

    def _stick_to_ground(self) -> None:
        if self.mode == "walk":
            ground = 0.0 if self.ground_height is None else float(
                np.asarray(self.ground_height(self.position[[0]], self.position[[2]])).reshape(-1)[0])
            if not math.isfinite(ground):
                raise ControlError(f"CameraRig: ground_height({self.position[0]}, {self.position[2]}) = {ground}")
            self.position[1] = ground + self.eye_height

    @property
    def c2w(self) -> np.ndarray:
        """(4, 4) float64 OpenCV camera-to-world of the current pose."""
        m = np.eye(4)
        m[:3, :3] = look_rotation(self.yaw, self.pitch)
        m[:3, 3] = self.position
        return m

    def intrinsics(self, width: int, height: int) -> np.ndarray:
        return intrinsics(width, height, self.fovy_deg)

    def step(self, actions: dict[str, float]) -> np.ndarray:
        """Integrate one tick of `actions`; return the new c2w (4, 4). NaN/inf actions: ControlError."""
        check_finite(actions, "CameraRig")
        a = actions.get
        dt = 1.0 / self.fps
        rate = self.turn_rate_deg * dt
        self.yaw += (a("turn_left", 0.0) - a("turn_right", 0.0) - a("right_stick_x", 0.0)) * rate \
            - a("look_dx", 0.0) * self.mouse_sensitivity_deg
        self.yaw = (self.yaw + 180.0) % 360.0 - 180.0
        self.pitch += (a("look_up", 0.0) - a("look_down", 0.0) + a("right_stick_y", 0.0)) * rate \
            - a("look_dy", 0.0) * self.mouse_sensitivity_deg
        self.pitch = min(self.pitch_limit_deg, max(-self.pitch_limit_deg, self.pitch))

        forward = a("move_forward", 0.0) - a("move_backward", 0.0) + a("left_stick_y", 0.0)
        right = a("strafe_right", 0.0) - a("strafe_left", 0.0) + a("left_stick_x", 0.0)
        up = a("move_up", 0.0) - a("move_down", 0.0) if self.mode == "fly" else 0.0
        norm = math.sqrt(forward * forward + right * right + up * up)
        if norm > 1.0:                                      # diagonals are not faster
            forward, right, up = forward / norm, right / norm, up / norm
        speed = self.walk_speed * (self.sprint_multiplier if a("sprint", 0.0) > 0.5 else 1.0) * dt
        yaw = math.radians(self.yaw)
        if self.mode == "fly":
            view = look_rotation(self.yaw, self.pitch)[:, 2]    # camera +z in world
        else:
            view = np.array([-math.sin(yaw), 0.0, -math.cos(yaw)])
        side = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
        self.position = self.position + speed * (forward * view + right * side + up * np.array([0.0, 1.0, 0.0]))
        self._stick_to_ground()
        return self.c2w
