"""Control packets: built per video frame, msgpack-able, validated cheaply with clear errors."""
import math

import msgpack
import pytest

from worldsim.controls import ControlError, PacketBuilder, idle_actions, validate_packet

KINDS = ["camera", "pose", "actions"]


def test_builder_makes_one_msgpackable_packet_per_frame():
    b = PacketBuilder(KINDS, fps=24, mode="fly")
    p = b.tick(idle_actions() | {"move_forward": 1.0, "jump": 1.0, "look_dx": 2.5})
    assert set(p) == set(KINDS)
    assert len(p["camera"]["c2w"]) == 16 and len(p["pose"]["keypoints"]) == 51
    assert p["actions"] == {"keys": ["move_forward", "jump"], "mouse": [2.5, 0.0]}
    assert msgpack.unpackb(msgpack.packb(p)) == p
    validate_packet(p, KINDS)
    assert b.rigs["camera"].mode == "fly"
    b.reset()
    assert b.tick(idle_actions())["camera"]["c2w"][11] == 0.0


def test_builder_rejects_unknown_kinds_and_options():
    with pytest.raises(ControlError, match="unknown control 'smell'"):
        PacketBuilder(["smell"])
    with pytest.raises(ControlError, match=r"accepts the options \['warp'\]"):
        PacketBuilder(["camera"], warp=9)


def _camera(**changes):
    c2w = [1.0, 0, 0, 0, 0, -1.0, 0, 0, 0, 0, -1.0, 0, 0, 0, 0, 1.0]
    for i, v in changes.items():
        c2w[int(i[1:])] = v
    return {"camera": {"c2w": c2w}}


@pytest.mark.parametrize("packet, kinds, message", [
    ([1, 2], ["camera"], "must be a dict keyed by control kind"),
    (_camera(), ["camera", "pose"], "expected"),
    ({"smell": {}}, ["smell"], "unknown control 'smell'"),
    ({"camera": {"c2w": [0.0] * 15}}, ["camera"], "expected 16 values, got 15"),
    ({"camera": {"c2w": "eye"}}, ["camera"], "expected a list"),
    ({"camera": {"c2w": [1.0] * 15 + ["x"]}}, ["camera"], "expected float, got str"),
    ({"camera": {"c2w": [1.0] * 16, "fov": 3}}, ["camera"], r"unknown fields \['fov'\]"),
    (_camera(i3=math.nan), ["camera"], "nan is not finite"),
    (_camera(i7=math.inf), ["camera"], "inf is not finite"),
    (_camera(i0=2.0), ["camera"], "not orthonormal"),
    (_camera(i0=-1.0), ["camera"], "reflection"),
    (_camera(i14=1.0), ["camera"], "bottom row"),
    ({"pose": {"keypoints": [0.5] * 50 + [2.0]}}, ["pose"], "visibility of keypoint 16"),
    ({"actions": {"keys": ["moonwalk"], "mouse": [0.0, 0.0]}}, ["actions"], "is not one of"),
    ({"actions": {"keys": [], "mouse": [0.0, True]}}, ["actions"], "expected float, got bool"),
])
def test_malformed_packets_are_clear_errors(packet, kinds, message):
    with pytest.raises(ControlError, match=message):
        validate_packet(packet, kinds)
