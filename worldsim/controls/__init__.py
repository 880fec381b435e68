"""worldsim.controls: input mapping, rigs, control packets, encodings, control plugins.

Client side (game process):
    InputMapper / ScriptedInput  -> named actions per tick (worldsim.controls.actions)
    PacketBuilder(kinds)         -> one control packet per video frame (CameraRig, PoseRig, actions)
Worker side (reads packets only):
    validate_packet(packet, kinds), get_control(kind).make_encoder(h, w) -> encoder.encode(parts)
    worldsim.controls.camera.ray_embedding(c2w_prev, c2w, K, height, width, kind="od"|"plucker")
Plugins: Control, register_control, check_control, entry-point group `worldsim.controls`.

pygame is imported only when InputMapper or Bindings is used, torch only by the encoders,
so the worker never imports pygame and a packet-building client never imports torch.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from .actions import ACTIONS, AXES, BUTTONS, TRIGGERS, idle_actions
from .camera_rig import CameraRig, intrinsics
from .control import Control, check_control
from .packets import PACKET_SCHEMAS, PacketBuilder, validate_packet
from .pose_rig import COCO17, PoseRig
from .registry import available_controls, get_control, register_control, unregister_control
from .schema import ControlError
from .script import ScriptedInput, ScriptError, ScriptRecorder

_LAZY = {"InputMapper": ".input", "Bindings": ".bindings", "BindingsError": ".bindings"}

__all__ = ["ACTIONS", "AXES", "BUTTONS", "COCO17", "PACKET_SCHEMAS", "TRIGGERS", "Bindings", "BindingsError",
           "CameraRig", "Control", "ControlError", "InputMapper", "PacketBuilder", "PoseRig", "ScriptError",
           "ScriptedInput", "ScriptRecorder", "available_controls", "check_control", "get_control", "idle_actions", "intrinsics",
           "register_control", "unregister_control", "validate_packet"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
