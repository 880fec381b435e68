"""The built-in controls: camera, pose, actions (entry points of `worldsim.controls`).

Rigs here adapt CameraRig / PoseRig / held actions to packet parts (client side). Encoders are
imported lazily inside their factories, so a game process that only builds packets never
imports torch.
"""
from __future__ import annotations

from typing import Any

from .actions import held_buttons
from .camera_rig import CameraRig
from .control import Control
from .packets import PACKET_SCHEMAS, check_camera, check_pose
from .pose_rig import PoseRig

BUILTIN_REFS = {"camera": "worldsim.controls.builtin:CAMERA", "pose": "worldsim.controls.builtin:POSE",
                "actions": "worldsim.controls.builtin:ACTIONS"}


class CameraPackets(CameraRig):
    """CameraRig whose tick returns the packet part {"c2w": 16 floats}."""

    def tick(self, actions: dict[str, float]) -> dict:
        return {"c2w": self.step(actions).reshape(-1).tolist()}


class PosePackets(PoseRig):
    """PoseRig whose tick returns the packet part {"keypoints": 51 floats}."""

    def tick(self, actions: dict[str, float]) -> dict:
        return {"keypoints": self.step(actions).reshape(-1).tolist()}


class ActionPackets:
    """Held buttons and mouse deltas of the frame: {"keys": [...], "mouse": [dx, dy]}."""

    def tick(self, actions: dict[str, float]) -> dict:
        return {"keys": held_buttons(actions),
                "mouse": [float(actions.get("look_dx", 0.0)), float(actions.get("look_dy", 0.0))]}

    def reset(self) -> None:
        pass


def _camera_encoder(height: int, width: int, **config: Any):
    from .camera import CameraEncoder
    return CameraEncoder(height, width, **config)


def _pose_encoder(height: int, width: int, **config: Any):
    from .pose import PoseEncoder
    return PoseEncoder(height, width, **config)


def _action_encoder(height: int, width: int, **config: Any):
    from .action_encoding import ActionEncoder
    return ActionEncoder(height, width, **config)


CAMERA = Control("camera", PACKET_SCHEMAS["camera"], CameraPackets, _camera_encoder, check_camera,
                 doc="keyboard/mouse/stick -> camera pose -> ray encoding (od or plucker), 25 channels")
POSE = Control("pose", PACKET_SCHEMAS["pose"], PosePackets, _pose_encoder, check_pose,
               doc="joystick -> COCO-17 character -> Gaussian heatmaps, 68 channels")
ACTIONS = Control("actions", PACKET_SCHEMAS["actions"], ActionPackets, _action_encoder,
                  doc="held keys (multi-hot) + mouse deltas per frame, 64 constant channels")
