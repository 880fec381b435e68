"""Control packets: one small msgpack-able dict per video frame, keyed by control kind.

    builder = PacketBuilder(["camera", "actions"], fps=24, mode="walk")
    packet = builder.tick(actions)        # {"camera": {"c2w": [16 floats]}, "actions": {...}}
    validate_packet(packet, ["camera", "actions"])       # the worker does this on every packet

Built-in kinds (PACKET_SCHEMAS has the schemas that go into RendererSpec.control_kinds):
  camera   {"c2w": 16 floats, row-major OpenCV camera-to-world (rigid; bottom row 0 0 0 1)}
  pose     {"keypoints": 51 floats, COCO-17 x, y (image coordinates in [0, 1]) and visibility}
  actions  {"keys": [held button names], "mouse": [dx, dy] pixels since the last frame}
Other kinds come from control plugins (worldsim.controls.registry).
"""
from __future__ import annotations

import inspect
from typing import Any, Sequence

from .actions import BUTTONS
from ..errors import WorldsimUserError
from .registry import get_control
from .schema import ControlError, validate_part

PACKET_SCHEMAS: dict[str, dict] = {
    "camera": {"doc": "camera pose of the video frame",
               "fields": {"c2w": {"type": "float", "shape": [16],
                                  "doc": "row-major 4x4 OpenCV camera-to-world (x right, y down, z forward)"}}},
    "pose": {"doc": "COCO-17 skeleton of the character in the video frame",
             "fields": {"keypoints": {"type": "float", "shape": [51],
                                      "doc": "17 x (x, y, visibility); x, y normalised image coordinates"}}},
    "actions": {"doc": "discrete actions of the video frame (keyboard + mouse)",
                "fields": {"keys": {"type": "str", "shape": [-1], "max_len": len(BUTTONS), "enum": list(BUTTONS),
                                    "doc": "names of the held buttons"},
                           "mouse": {"type": "float", "shape": [2], "doc": "mouse dx, dy in pixels since the last frame"}}},
}


def check_camera(part: dict) -> None:
    """c2w must be rigid: orthonormal rotation with determinant +1, bottom row 0 0 0 1."""
    m = part["c2w"]
    if m[12] != 0 or m[13] != 0 or m[14] != 0 or m[15] != 1:
        raise ControlError(f"packet['camera']['c2w']: bottom row must be 0 0 0 1, got {m[12:]}")
    r0, r1, r2 = m[0:3], m[4:7], m[8:11]
    for a, b, want in ((r0, r0, 1), (r1, r1, 1), (r2, r2, 1), (r0, r1, 0), (r0, r2, 0), (r1, r2, 0)):
        if abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] - want) > 1e-3:
            raise ControlError("packet['camera']['c2w']: rotation is not orthonormal (not a rigid camera pose)")
    det = (r0[0] * (r1[1] * r2[2] - r1[2] * r2[1]) - r0[1] * (r1[0] * r2[2] - r1[2] * r2[0])
           + r0[2] * (r1[0] * r2[1] - r1[1] * r2[0]))
    if det < 0:
        raise ControlError("packet['camera']['c2w']: rotation is a reflection (determinant -1)")


def check_pose(part: dict) -> None:
    kp = part["keypoints"]
    for i in range(2, 51, 3):
        if not 0.0 <= kp[i] <= 1.0:
            raise ControlError(f"packet['pose']['keypoints']: visibility of keypoint {i // 3} must be in [0, 1], got {kp[i]}")


_BUILTIN_CHECKS = {"camera": check_camera, "pose": check_pose, "actions": None}


def validate_packet(packet: object, kinds: Sequence[str]) -> None:
    """Raise ControlError unless `packet` holds exactly `kinds`, each well-formed and finite."""
    if type(packet) is not dict:
        raise ControlError(f"a control packet must be a dict keyed by control kind, got {type(packet).__name__}")
    if len(packet) != len(kinds) or any(k not in packet for k in kinds):
        raise ControlError(f"control packet has kinds {sorted(map(str, packet))}, expected {sorted(kinds)}")
    for kind in kinds:
        if kind in PACKET_SCHEMAS:
            validate_part(kind, packet[kind], PACKET_SCHEMAS[kind])
            check = _BUILTIN_CHECKS[kind]
            if check is not None:
                check(packet[kind])
        else:
            try:
                control = get_control(kind)
            except (KeyError, WorldsimUserError) as e:   # unknown, or its plugin does not import
                raise ControlError(str(e.args[0])) from None
            control.validate(packet[kind])


def _accepts(factory: Any) -> set[str] | None:
    """Keyword names a rig factory accepts (None: it takes **kwargs)."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class PacketBuilder:
    """Runs one rig per control kind; `tick(actions)` returns the packet of one video frame.

    `rig_options` go to every rig that accepts them (e.g. fps to all, mode to the camera);
    an option no rig accepts is an error. `rigs[kind]` is each kind's rig. No kinds (a renderer
    whose spec has no control_kinds, e.g. one that replays a film): no rigs, every packet is {}
    and the options are unused."""

    def __init__(self, kinds: Sequence[str], **rig_options: Any):
        self.kinds = list(kinds)
        self.rigs: dict[str, Any] = {}
        used: set[str] = set()
        for kind in self.kinds:
            try:
                factory = get_control(kind).make_rig
            except (KeyError, WorldsimUserError) as e:   # unknown, or its plugin does not import
                raise ControlError(str(e.args[0])) from None
            names = _accepts(factory)
            opts = {k: v for k, v in rig_options.items() if names is None or k in names}
            used |= opts.keys()
            self.rigs[kind] = factory(**opts)
        unknown = set(rig_options) - used
        if unknown and self.kinds:
            raise ControlError(f"no rig of {self.kinds} accepts the options {sorted(unknown)}")

    def tick(self, actions: dict[str, float]) -> dict:
        return {kind: rig.tick(actions) for kind, rig in self.rigs.items()}

    def reset(self) -> None:
        for rig in self.rigs.values():
            rig.reset()
