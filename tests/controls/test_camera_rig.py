"""CameraRig: the camera conventions of docs/controls.md and the integration at a fixed tick."""
import math

import numpy as np
import pytest

from worldsim.controls import CameraRig, ControlError, idle_actions


def act(**held):
    return idle_actions() | {k: float(v) for k, v in held.items()}


def test_level_camera_with_yaw_zero_looks_along_minus_z():
    rig = CameraRig()
    np.testing.assert_allclose(rig.c2w[:3, :3], np.diag([1.0, -1.0, -1.0]))
    assert rig.c2w[1, 3] == pytest.approx(1.7)         # walk mode stands at eye height


def test_walking_forward_moves_along_view_at_walk_speed():
    rig = CameraRig(fps=24, walk_speed=3.0)
    for _ in range(24):
        c2w = rig.step(act(move_forward=1))
    np.testing.assert_allclose(c2w[:3, 3], [0.0, 1.7, -3.0], atol=1e-9)
    for _ in range(24):
        c2w = rig.step(act(move_forward=1, sprint=1))
    assert c2w[2, 3] == pytest.approx(-3.0 - 7.5)


def test_turn_left_is_counter_clockwise_from_above_and_right_is_the_opposite():
    rig = CameraRig(fps=24, turn_rate_deg=90.0)
    for _ in range(24):
        c2w = rig.step(act(turn_left=1))
    np.testing.assert_allclose(c2w[:3, 2], [-1.0, 0.0, 0.0], atol=1e-9)   # now looking along -x
    rig.reset()
    rig.step(act(look_dx=100))                                             # mouse right: turns right
    assert rig.yaw == pytest.approx(-15.0) and rig.c2w[0, 2] > 0


def test_pitch_is_clamped_and_diagonals_are_not_faster():
    rig = CameraRig(pitch_limit_deg=80.0)
    for _ in range(200):
        rig.step(act(look_up=1))
    assert rig.pitch == 80.0
    assert rig.c2w[1, 2] == pytest.approx(math.sin(math.radians(80.0)))   # looking up: +y
    a, b = CameraRig(), CameraRig()
    a.step(act(move_forward=1, strafe_right=1))
    b.step(act(move_forward=1))
    assert np.linalg.norm(a.position - [0, 1.7, 0]) == pytest.approx(np.linalg.norm(b.position - [0, 1.7, 0]))


def test_walk_mode_follows_the_ground_and_fly_mode_flies():
    ground = lambda x, z: 0.5 * x          # noqa: E731  (numpy arrays in, heights out)
    rig = CameraRig(ground_height=ground, eye_height=1.5)
    for _ in range(48):
        c2w = rig.step(act(strafe_right=1, look_up=1))
    assert c2w[1, 3] == pytest.approx(0.5 * c2w[0, 3] + 1.5)
    fly = CameraRig(mode="fly", pitch=30.0)
    for _ in range(24):
        c2w = fly.step(act(move_forward=1, move_up=0))
    assert c2w[1, 3] == pytest.approx(3.0 * math.sin(math.radians(30.0)))


def test_c2w_is_rigid_and_intrinsics_follow_the_fov():
    rig = CameraRig(fovy_deg=90.0)
    for i in range(50):
        c2w = rig.step(act(turn_left=1, look_up=i % 2, move_forward=1, look_dx=3))
    r = c2w[:3, :3]
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(rig.intrinsics(64, 32), [[16, 0, 32], [0, 16, 16], [0, 0, 1]])


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be"):
        CameraRig(mode="swim")
    with pytest.raises(ValueError, match="position must be 3 finite"):
        CameraRig(position=(0, float("nan"), 0))


def test_non_finite_actions_or_ground_are_clear_errors_and_leave_the_rig_intact():
    rig = CameraRig()
    rig.step(act(move_forward=1))
    before = rig.c2w
    with pytest.raises(ControlError, match="CameraRig: non-finite action values look_dx=nan"):
        rig.step(act(look_dx=float("nan")))
    with pytest.raises(ControlError, match="left_stick_y=inf"):
        rig.step(act(left_stick_y=float("inf")))
    np.testing.assert_array_equal(rig.c2w, before)
    with pytest.raises(ControlError, match="ground_height"):
        CameraRig(ground_height=lambda x, z: x * np.nan)
