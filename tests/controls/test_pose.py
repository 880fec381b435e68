"""PoseRig (joystick -> COCO-17 character) and the Gaussian heatmap encoding."""
import numpy as np
import pytest
import torch

from worldsim.controls import COCO17, ControlError, PoseRig, idle_actions
from worldsim.controls.pose import PoseEncoder, pose_heatmaps

IDLE = idle_actions()
I = {name: i for i, name in enumerate(COCO17)}


def test_standing_character_is_upright_in_the_image_and_faces_the_camera():
    kp = PoseRig().keypoints
    assert kp.shape == (17, 3) and np.all(kp[:, 2] == 1.0)
    assert kp[I["nose"], 1] < kp[I["left_shoulder"], 1] < kp[I["left_hip"], 1] < kp[I["left_ankle"], 1]
    assert kp[I["left_shoulder"], 0] > kp[I["right_shoulder"], 0]       # facing us: its left is our right
    assert np.all((kp[:, :2] > 0) & (kp[:, :2] < 1))


def test_left_stick_walks_with_a_leg_cycle_and_turns_the_body():
    rig = PoseRig(walk_speed=1.4)
    ankle_gap, swings = [], []
    for _ in range(48):
        rig.step(IDLE | {"left_stick_x": 1.0})
        k = rig.keypoints3d
        ankle_gap.append(k[I["left_ankle"], 1] - k[I["right_ankle"], 1])
        facing = np.array([np.sin(rig.heading), 0.0, np.cos(rig.heading)])
        swings.append(((k[I["left_knee"]] - k[I["left_hip"]]) @ facing,
                       (k[I["left_elbow"]] - k[I["left_shoulder"]]) @ facing))
    assert all(leg * arm < 0 for leg, arm in swings[12:] if abs(leg) > 0.05)   # arms swing against the thighs
    assert rig.root[0] == pytest.approx(2.8)                            # 2 s at 1.4 m/s to the right
    assert rig.heading == pytest.approx(np.pi / 2)                      # turned to face +x
    assert max(ankle_gap) > 0.05 and min(ankle_gap) < -0.05             # feet take turns
    far = PoseRig()
    for _ in range(48):
        far.step(IDLE | {"left_stick_y": 1.0})                          # pushed forward: walks away
    assert far.root[2] < -6.0
    height = lambda kp: kp[I["left_ankle"], 1] - kp[I["nose"], 1]        # noqa: E731
    assert height(far.keypoints) < height(PoseRig().keypoints)          # smaller in the image
    assert far.keypoints[I["nose"], 2] == 0.0                           # face turned away


def test_right_stick_and_buttons_drive_arms_jump_and_crouch():
    reach = PoseRig()
    reach.step(IDLE | {"right_stick_y": 1.0})
    assert np.all(reach.keypoints3d[[I["left_wrist"], I["right_wrist"]], 1] > reach.keypoints3d[I["nose"], 1])
    wave = PoseRig()
    wrist_x = [wave.step(IDLE | {"wave": 1.0})[I["right_wrist"], 0] for _ in range(24)]
    assert wave.keypoints3d[I["right_wrist"], 1] > wave.keypoints3d[I["nose"], 1]
    assert wave.keypoints3d[I["left_wrist"], 1] < wave.keypoints3d[I["left_hip"], 1]
    assert np.ptp(wrist_x) > 0.01                                       # the hand sways
    jump = PoseRig()
    feet = [jump.step(IDLE | {"jump": 1.0})[I["left_ankle"], 1] for _ in range(36)]   # held: one hop only
    assert min(feet) < feet[-1] - 0.05 and feet[-1] == pytest.approx(PoseRig().keypoints[I["left_ankle"], 1])
    crouch = PoseRig()
    for _ in range(12):
        crouch.step(IDLE | {"crouch": 1.0})
    assert crouch.keypoints3d[I["left_hip"], 1] < 0.7 * PoseRig().keypoints3d[I["left_hip"], 1]
    assert crouch.keypoints3d[I["left_ankle"], 1] == pytest.approx(0.08)   # feet stay on the ground


def test_heatmaps_peak_at_the_keypoints_and_vanish_when_invisible():
    kp = np.tile([0.5, 0.5, 1.0], (17, 1))
    kp[3] = [0.125, 0.875, 1.0]                                         # the corner between 4 pixel centres
    kp[4] = [0.9, 0.1, 0.0]                                             # invisible
    hm = pose_heatmaps(kp, 8, 8, sigma=1.0)
    assert hm.shape == (17, 8, 8)
    torch.testing.assert_close(hm[3, 6:8, 0:2], hm[3].max().expand(2, 2))
    assert float(hm[3].max()) == pytest.approx(np.exp(-0.25), rel=1e-5)  # 0.5 px from 4 pixel centres
    assert torch.all(hm[4] == 0)
    centred = pose_heatmaps(np.tile([0.5625, 0.4375, 1.0], (17, 1)), 8, 8)   # exactly on pixel (3, 4)
    assert float(centred[0, 3, 4]) == pytest.approx(1.0) and float(centred[0, 3, 5]) == pytest.approx(np.exp(-0.5))


def test_pose_encoder_stacks_four_frames_into_68_channels():
    rig, enc = PoseRig(), PoseEncoder(6, 6)
    parts = [{"keypoints": rig.step(IDLE | {"left_stick_x": 1.0}).reshape(-1).tolist()} for _ in range(4)]
    x = enc.encode(parts)
    assert x.shape == (68, 6, 6) and x.dtype == torch.float32
    torch.testing.assert_close(x[17:34], pose_heatmaps(np.reshape(parts[1]["keypoints"], (17, 3)), 6, 6))
    first = enc.encode(parts[:1])
    torch.testing.assert_close(first[51:], first[:17])                  # one frame fills all slots
    with pytest.raises(ControlError, match="1..4 packets"):
        enc.encode(parts * 2)


def test_non_finite_actions_are_a_clear_error():
    rig = PoseRig()
    with pytest.raises(ControlError, match="PoseRig: non-finite action values right_stick_x=nan"):
        rig.step(IDLE | {"right_stick_x": float("nan")})
    assert np.isfinite(rig.step(IDLE)).all()


def test_keypoints_are_the_projection_of_keypoints3d_through_the_set_camera():
    from worldsim.controls import intrinsics
    rig = PoseRig(width=320, height=200)
    for _ in range(10):
        kp = rig.step(IDLE | {"left_stick_x": 0.5, "right_stick_y": 0.5})
    w2c = np.linalg.inv(rig.camera_c2w)
    cam = (w2c[:3, :3] @ rig.keypoints3d.T).T + w2c[:3, 3]
    uv = (intrinsics(320, 200, rig.fovy_deg) @ cam.T).T
    np.testing.assert_allclose(kp[:, 0], uv[:, 0] / uv[:, 2] / 320, atol=1e-12)
    np.testing.assert_allclose(kp[:, 1], uv[:, 1] / uv[:, 2] / 200, atol=1e-12)
