"""worldsim-orbit: an example control plugin: a camera that orbits a target point.

Client side, `OrbitRig` turns named actions into a compact packet part
{"azimuth_deg", "elevation_deg", "radius"}: the camera circles on its own at `speed_deg` per
second; turn_left/turn_right (or the left stick x) speed the orbit up, stop or reverse it;
look_up/look_down change the elevation; move_forward/move_backward zoom in and out.
Worker side, `OrbitEncoder` expands each part into the camera pose looking at the target
(`orbit_c2w`) and encodes it exactly like the built-in camera control (25 ray channels), so a
model trained on camera poses can be driven by an orbit without new weights.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from worldsim.controls import Control

TARGET = (0.0, 1.0, -6.0)
SCHEMA = {
    "doc": "orbit camera around a target: angles in degrees, radius in world units",
    "fields": {"azimuth_deg": {"type": "float", "shape": [], "doc": "0: camera on the +z side of the target"},
               "elevation_deg": {"type": "float", "shape": [], "doc": "above the horizontal, -80..80"},
               "radius": {"type": "float", "shape": [], "doc": "distance to the target, > 0"}},
}


def orbit_c2w(azimuth_deg: float, elevation_deg: float, radius: float, target=TARGET) -> np.ndarray:
    """(4, 4) OpenCV camera-to-world on the orbit, looking at `target` with the horizon level."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    offset = radius * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    eye = np.asarray(target, dtype=np.float64) + offset
    forward = -offset / np.linalg.norm(offset)                    # camera +z
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)                                # camera +x
    down = np.cross(forward, right)                               # camera +y (OpenCV: down)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, eye
    return c2w


class OrbitRig:
    def __init__(self, fps: float = 24.0, speed_deg: float = 15.0, radius: float = 6.0,
                 elevation_deg: float = 15.0, azimuth_deg: float = 0.0):
        if not fps > 0 or not radius > 0:
            raise ValueError(f"OrbitRig needs fps > 0 and radius > 0, got {fps}, {radius}")
        self.fps, self.speed_deg = float(fps), float(speed_deg)
        self._start = (float(azimuth_deg), float(elevation_deg), float(radius))
        self.reset()

    def reset(self) -> None:
        self.azimuth, self.elevation, self.radius = self._start

    def tick(self, actions: dict[str, float]) -> dict:
        a, dt = actions.get, 1.0 / self.fps
        spin = 1.0 + 2.0 * (a("turn_left", 0.0) - a("turn_right", 0.0) - a("left_stick_x", 0.0))
        self.azimuth = (self.azimuth + spin * self.speed_deg * dt) % 360.0
        self.elevation = min(80.0, max(-80.0, self.elevation + 45.0 * dt * (a("look_up", 0.0) - a("look_down", 0.0))))
        zoom = a("move_backward", 0.0) - a("move_forward", 0.0) - a("left_stick_y", 0.0)
        self.radius = min(50.0, max(1.0, self.radius * math.exp(0.7 * dt * zoom)))
        return {"azimuth_deg": self.azimuth, "elevation_deg": self.elevation, "radius": self.radius}


def check_orbit(part: dict) -> None:
    from worldsim.controls import ControlError
    if not part["radius"] > 0 or not -90.0 < part["elevation_deg"] < 90.0:
        raise ControlError(f"packet['orbit']: needs radius > 0 and -90 < elevation_deg < 90, got {part}")


class OrbitEncoder:
    """Orbit parts -> camera poses -> the built-in camera ray encoding (25, h, w)."""

    def __init__(self, height: int, width: int, target=TARGET, **camera_config):
        from worldsim.controls.camera import CameraEncoder
        self.target = target
        self.camera = CameraEncoder(height, width, **camera_config)
        self.channels = self.camera.channels

    def reset(self) -> None:
        self.camera.reset()

    def encode(self, parts: Sequence[dict]):
        poses = [orbit_c2w(p["azimuth_deg"], p["elevation_deg"], p["radius"], self.target) for p in parts]
        return self.camera.encode([{"c2w": m.reshape(-1).tolist()} for m in poses])


ORBIT = Control("orbit", SCHEMA, OrbitRig, OrbitEncoder, check_orbit,
                doc="a camera orbiting a target; encoded as camera rays")
