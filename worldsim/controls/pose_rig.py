"""PoseRig: joystick (or keys) -> a procedural COCO-17 character, one skeleton per video frame.

The character stands on the ground of a small set, seen by a fixed camera at the origin
(OpenCV convention, looking along world -z, slightly down). Per tick (dt = 1/fps):

- left stick (or move_*/strafe_* keys): root velocity on the ground; stick x is screen right,
  stick y (pushed forward) walks away from the camera. The body turns toward its velocity and a
  walk-cycle phase advances with the distance walked (legs and arms swing, knees flex).
- right stick: y raises both arms (reach), x turns the head.
- buttons: wave (held: right arm waves), jump (press: a ballistic hop), crouch (held).

`step(actions)` returns keypoints (17, 3): x, y in image coordinates normalised to [0, 1]
(x right, y down) and visibility (0 outside the image, or for the face seen from behind).
`keypoints3d` holds the world positions (17, 3) the reference world's puppet is built from.
"""
from __future__ import annotations

import math

import numpy as np

from .actions import check_finite
from .camera_rig import look_rotation

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
          "left_knee", "right_knee", "left_ankle", "right_ankle")
THIGH, SHIN, UPPER_ARM, FOREARM = 0.45, 0.45, 0.30, 0.28       # metres
HIP_HALF, SHOULDER_HALF, TORSO, ANKLE_Y = 0.10, 0.20, 0.50, 0.08
GRAVITY, JUMP_SPEED = 9.8, 3.2


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross costs ~30 µs of axis handling per call)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate the 3-vector v about the unit `axis` by `angle` (Rodrigues)."""
    c, s = math.cos(angle), math.sin(angle)
    return v * c + _cross(axis, v) * s + axis * (float(v @ axis) * (1 - c))


class PoseRig:
    def __init__(self, fps: float = 24.0, width: int = 256, height: int = 256, walk_speed: float = 1.4,
                 sprint_multiplier: float = 2.0, start=(0.0, -5.0), bounds=((-3.0, 3.0), (-9.0, -3.0)),
                 camera_height: float = 1.3, camera_pitch_deg: float = -8.0, fovy_deg: float = 50.0):
        if not fps > 0 or width <= 0 or height <= 0:
            raise ValueError(f"PoseRig needs fps > 0 and a positive image size, got {fps}, {width}x{height}")
        self.fps, self.width, self.height = float(fps), int(width), int(height)
        self.walk_speed, self.sprint_multiplier = float(walk_speed), float(sprint_multiplier)
        self.start, self.bounds = (float(start[0]), float(start[1])), bounds
        self.cam_rot = look_rotation(0.0, camera_pitch_deg)                 # (3, 3) c2w rotation
        self.cam_pos = np.array([0.0, camera_height, 0.0])
        self.fovy_deg = float(fovy_deg)
        self.focal = 0.5 / math.tan(math.radians(fovy_deg) / 2.0)           # in units of image height
        self.reset()

    @property
    def camera_c2w(self) -> np.ndarray:
        """(4, 4) OpenCV camera-to-world of the fixed set camera (with `fovy_deg`): a renderer that
        draws the character from `keypoints3d` uses it to match the keypoints."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.cam_rot, self.cam_pos
        return m

    def reset(self) -> None:
        self.root = np.array([self.start[0], 0.0, self.start[1]])          # on the ground
        self.heading = 0.0            # radians; 0 faces the camera (+z), positive turns to its left
        self.phase = 0.0              # walk cycle, radians
        self.stride = 0.0             # 0..1 swing amplitude, follows speed
        self.crouch = 0.0             # 0..1, eases toward the crouch button
        self.height_above = 0.0       # jump height; vertical speed below
        self.vy = 0.0
        self.wave_t = 0.0
        self._jump_held = False
        self.keypoints3d = self._skeleton(0.0, 0.0, 0.0)
        self.keypoints = self._project(self.keypoints3d)

    def step(self, actions: dict[str, float]) -> np.ndarray:
        """Integrate one tick of `actions`; return keypoints (17, 3). NaN/inf actions: ControlError."""
        check_finite(actions, "PoseRig")
        a = actions.get
        dt = 1.0 / self.fps
        side = a("strafe_right", 0.0) - a("strafe_left", 0.0) + a("left_stick_x", 0.0)
        ahead = a("move_forward", 0.0) - a("move_backward", 0.0) + a("left_stick_y", 0.0)
        mag = math.hypot(side, ahead)
        if mag > 1.0:
            side, ahead, mag = side / mag, ahead / mag, 1.0
        speed = self.walk_speed * (self.sprint_multiplier if a("sprint", 0.0) > 0.5 else 1.0)
        vel = speed * np.array([side, 0.0, -ahead])                        # stick forward = away (-z)
        self.root[0] = min(max(self.root[0] + vel[0] * dt, self.bounds[0][0]), self.bounds[0][1])
        self.root[2] = min(max(self.root[2] + vel[2] * dt, self.bounds[1][0]), self.bounds[1][1])
        if mag > 0.05:                                                     # turn toward the velocity
            target = math.atan2(vel[0], vel[2])
            diff = (target - self.heading + math.pi) % (2 * math.pi) - math.pi
            self.heading += max(-2 * math.pi * dt, min(2 * math.pi * dt, diff))
        self.phase = (self.phase + 2 * math.pi * speed * mag * dt / (2 * THIGH * 1.6)) % (2 * math.pi)
        self.stride += (min(1.0, mag * speed / self.walk_speed) - self.stride) * min(1.0, 8 * dt)
        self.crouch += ((1.0 if a("crouch", 0.0) > 0.5 else 0.0) - self.crouch) * min(1.0, 10 * dt)
        jump = a("jump", 0.0) > 0.5
        if jump and not self._jump_held and self.height_above == 0.0:
            self.vy = JUMP_SPEED
        self._jump_held = jump
        if self.vy != 0.0 or self.height_above > 0.0:
            self.vy -= GRAVITY * dt
            self.height_above = max(0.0, self.height_above + self.vy * dt)
            if self.height_above == 0.0:
                self.vy = 0.0
        self.wave_t = self.wave_t + dt if a("wave", 0.0) > 0.5 else 0.0
        self.keypoints3d = self._skeleton(a("right_stick_x", 0.0), a("right_stick_y", 0.0), self.wave_t)
        self.keypoints = self._project(self.keypoints3d)
        return self.keypoints

    # ---- the body -----------------------------------------------------------------------------
    def _skeleton(self, head_turn: float, reach: float, wave_t: float) -> np.ndarray:
        """World positions (17, 3) of the COCO-17 keypoints."""
        f = np.array([math.sin(self.heading), 0.0, math.cos(self.heading)])   # facing
        up = np.array([0.0, 1.0, 0.0])
        r = _cross(f, up)                                                      # the body's right
        swing = 0.45 * self.stride * math.sin(self.phase)
        tuck = 1.2 * self.crouch + (0.5 if self.height_above > 0 else 0.0)     # thigh forward, shin back
        kp = np.zeros((17, 3))
        hip_y = 1.0                                                            # re-grounded below
        for side, i_hip, leg_swing, flex_phase in ((-1, 11, swing, self.phase), (1, 12, -swing, self.phase + math.pi)):
            hip = hip_y * up + side * HIP_HALF * r
            flex = 0.6 * self.stride * max(0.0, math.sin(flex_phase + math.pi / 2))
            thigh_a = leg_swing + tuck
            shin_a = thigh_a - flex - 2 * tuck
            knee = hip + THIGH * (math.sin(thigh_a) * f - math.cos(thigh_a) * up)
            ankle = knee + SHIN * (math.sin(shin_a) * f - math.cos(shin_a) * up)
            kp[i_hip], kp[i_hip + 2], kp[i_hip + 4] = hip, knee, ankle
        lean = 0.25 * self.crouch
        neck = hip_y * up + TORSO * (math.cos(lean) * up + math.sin(lean) * f)
        for side, i_sh, arm_swing in ((-1, 5, -swing), (1, 6, swing)):
            shoulder = neck + side * SHOULDER_HALF * r
            # rotating -up about r turns the arm forward (r × -up = f): the walk swings it against
            # the leg of its side; the reach lifts it forward and outward (rotating about -side·f
            # turns it toward side·r), up to 150°
            reach_axis = 0.8 * r - 0.6 * side * f
            upper = _rotate(_rotate(-up, r, 0.8 * arm_swing), reach_axis, 2.6 * max(0.0, reach))
            fore = _rotate(_rotate(-up, r, 0.8 * arm_swing + 0.3 * self.stride), reach_axis, 2.6 * max(0.0, reach))
            elbow = shoulder + UPPER_ARM * upper
            wrist = elbow + FOREARM * fore
            if side == 1 and wave_t > 0.0:                                     # right arm waves overhead
                elbow = shoulder + UPPER_ARM * (0.45 * side * r + 0.89 * up)
                sway = 0.6 * math.sin(2 * math.pi * 2.0 * wave_t)
                wrist = elbow + FOREARM * (math.sin(sway) * side * r + math.cos(sway) * up)
            kp[i_sh], kp[i_sh + 2], kp[i_sh + 4] = shoulder, elbow, wrist
        look = _rotate(f, up, -0.9 * head_turn)                                # stick right turns right
        head = neck + 0.2 * up
        head_r = _cross(look, up)
        kp[0] = head + 0.10 * look
        kp[1], kp[2] = head + 0.08 * look + 0.035 * up - 0.035 * head_r, head + 0.08 * look + 0.035 * up + 0.035 * head_r
        kp[3], kp[4] = head - 0.08 * head_r, head + 0.08 * head_r
        kp[:, 1] += ANKLE_Y + self.height_above - min(kp[15, 1], kp[16, 1])  # lowest ankle on the ground
        kp[:, 0] += self.root[0]
        kp[:, 2] += self.root[2]
        self._look = look
        return kp

    def _project(self, kp3d: np.ndarray) -> np.ndarray:
        """(17, 3) world points -> (17, 3) [x, y, visibility] in normalised image coordinates."""
        cam = (kp3d - self.cam_pos) @ self.cam_rot                            # world -> OpenCV camera
        z = np.maximum(cam[:, 2], 1e-6)
        x = 0.5 + self.focal * (self.height / self.width) * cam[:, 0] / z
        y = 0.5 + self.focal * cam[:, 1] / z
        vis = ((cam[:, 2] > 1e-3) & (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)).astype(np.float64)
        to_camera = self.cam_pos - kp3d[0]
        if float(self._look @ to_camera) < -0.2 * float(np.linalg.norm(to_camera)):  # face turned away
            vis[:3] = 0.0
        return np.stack([x, y, vis], axis=1)
