"""The orbit control plugin: contract, registration without installing, geometry, encoding."""
import math

import numpy as np
import pytest
import torch
from worldsim_orbit import ORBIT, TARGET, OrbitRig, orbit_c2w

from worldsim.controls import ControlError, PacketBuilder, check_control, idle_actions, validate_packet
from worldsim.controls.camera import CameraEncoder
from worldsim.controls.encoding import ControlEncoders
from worldsim.controls.testing import control_registry  # noqa: F401  (fixture)


def test_orbit_passes_the_contract_checker():
    check_control(ORBIT)


def test_orbit_camera_always_looks_at_the_target_and_is_rigid():
    rig = OrbitRig(speed_deg=30.0)
    for i in range(100):
        p = rig.tick(idle_actions() | {"look_up": float(i % 3 == 0), "move_forward": float(i % 5 == 0)})
        c2w = orbit_c2w(p["azimuth_deg"], p["elevation_deg"], p["radius"])
        to_target = np.asarray(TARGET) - c2w[:3, 3]
        np.testing.assert_allclose(c2w[:3, 2], to_target / np.linalg.norm(to_target), atol=1e-12)
        np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-12)
        assert np.linalg.det(c2w[:3, :3]) == pytest.approx(1.0)
        assert c2w[1, 0] == pytest.approx(0.0, abs=1e-12)           # horizon stays level
    assert rig.azimuth == pytest.approx(100 * 30.0 / 24.0)


def test_orbit_speed_follows_the_stick_and_reverses():
    rig = OrbitRig(speed_deg=24.0)
    assert rig.tick(idle_actions())["azimuth_deg"] == pytest.approx(1.0)
    assert rig.tick(idle_actions() | {"left_stick_x": 1.0})["azimuth_deg"] == pytest.approx(0.0)   # 1 - 2 = -1


def test_registered_orbit_builds_validates_and_encodes_like_a_camera(control_registry):
    control_registry(ORBIT)
    builder = PacketBuilder(["orbit", "actions"], fps=24.0)
    packets = [builder.tick(idle_actions()) for _ in range(5)]
    for p in packets:
        validate_packet(p, ["orbit", "actions"])
    with pytest.raises(ControlError, match="radius > 0"):
        validate_packet({"orbit": {"azimuth_deg": 0.0, "elevation_deg": 0.0, "radius": -1.0}}, ["orbit"])
    enc = ControlEncoders(["orbit"], 4, 6)
    cam = CameraEncoder(4, 6)
    for group in (packets[:1], packets[1:5]):
        poses = [{"c2w": orbit_c2w(**{k: p["orbit"][k] for k in ("azimuth_deg", "elevation_deg", "radius")})
                  .reshape(-1).tolist()} for p in group]
        torch.testing.assert_close(enc.encode(group), cam.encode(poses))


def test_orbit_rejects_bad_options():
    with pytest.raises(ValueError, match="radius > 0"):
        OrbitRig(radius=0.0)
    assert math.isfinite(OrbitRig().tick(idle_actions())["radius"])
