"""Camera encodings: relative poses, od / plucker ray embeddings, scales, outliers."""
import math

import numpy as np
import pytest
import torch

from worldsim.controls import CameraRig, ControlError, PacketBuilder, ScriptedInput, idle_actions, intrinsics
from worldsim.controls.camera import (CameraEncoder, camera_rays, compose_poses, implausible_steps,
                                      measure_scales, ray_embedding, reject_outliers, relative_poses)
from worldsim.controls.camera_rig import look_rotation

WANDER = """
[[segment]]
ticks = [0, 400]
hold = ["move_forward"]
axes = { look_dx = 3.0 }
[[segment]]
ticks = [100, 300]
hold = ["sprint", "strafe_left"]
[[segment]]
ticks = [150, 250]
hold = ["look_up"]
axes = { look_dy = 2.0 }
"""


def pose(yaw=0.0, pitch=0.0, t=(0.0, 0.0, 0.0)):
    m = np.eye(4)
    m[:3, :3] = look_rotation(yaw, pitch)
    m[:3, 3] = t
    return m


def walk(script=WANDER, **rig):
    s, cam = ScriptedInput.loads(script), CameraRig(**rig)
    return np.stack([cam.c2w] + [cam.step(s.sample()) for _ in range(s.length)])


def test_relative_poses_compose_back_to_absolute():
    c2ws = walk()[:97]
    rel = relative_poses(c2ws)                                     # (96, 4, 4)
    again = compose_poses(c2ws[0], rel)
    np.testing.assert_allclose(again.numpy(), c2ws, atol=1e-9)


def test_principal_point_ray_is_plus_z_in_camera_space():
    K = intrinsics(5, 7, 60.0)
    d = camera_rays(K, 7, 5)                                       # (3, 7, 5)
    np.testing.assert_allclose(d[:, 3, 2].numpy(), [0.0, 0.0, 1.0], atol=1e-12)
    emb = ray_embedding(pose(30.0, 10.0, (1, 2, 3)), pose(30.0, 10.0, (1, 2, 3)), K, 7, 5)
    np.testing.assert_allclose(emb[3:, 3, 2].numpy(), [0.0, 0.0, 1.0], atol=1e-6)
    assert emb[1, 0, 0] == 0 and emb[4, 0, 2] < 0                  # top rows look up: camera y < 0


@pytest.mark.parametrize("delta", [5.0, -20.0, 45.0])
def test_pure_yaw_rotates_the_d_channels_by_delta(delta):
    K = intrinsics(8, 7, 70.0)
    still = ray_embedding(pose(17.0), pose(17.0), K, 7, 8, dtype=torch.float64)[3:]
    turned = ray_embedding(pose(17.0), pose(17.0 + delta), K, 7, 8, dtype=torch.float64)
    c, s = math.cos(math.radians(delta)), math.sin(math.radians(delta))
    about_camera_y = torch.tensor([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=torch.float64)  # yaw left
    np.testing.assert_allclose(turned[3:].numpy(), torch.einsum("ij,jhw->ihw", about_camera_y, still).numpy(), atol=1e-12)
    cos_angle = (turned[3:] * still).sum(0)                        # angle between rays of each pixel
    horizon = cos_angle[3]                                         # the row through the principal point
    np.testing.assert_allclose(torch.rad2deg(torch.arccos(horizon.clamp(-1, 1))).numpy(), abs(delta), atol=1e-5)
    assert torch.all(turned[:3] == 0)                              # no translation: o = 0


def test_plucker_moments_vanish_for_rays_through_the_origin():
    K = intrinsics(5, 5, 60.0)
    rotated = ray_embedding(pose(0.0), pose(25.0, -10.0), K, 5, 5, kind="plucker")
    assert torch.all(rotated[:3].abs() < 1e-7)                     # every ray passes through o = 0
    ahead = ray_embedding(pose(0.0), pose(0.0, 0.0, (0, 0, -2.0)), K, 5, 5, kind="plucker", dtype=torch.float64)
    np.testing.assert_allclose(ahead[:3, 2, 2].numpy(), 0.0, atol=1e-12)   # the central ray hits the old origin
    assert ahead[:3].abs().amax() > 0.1                            # the others miss it
    np.testing.assert_allclose((ahead[:3] * ahead[3:]).sum(0).numpy(), 0.0, atol=1e-12)   # m ⟂ d


def test_ray_embedding_is_batched_over_leading_dimensions():
    c2ws = torch.as_tensor(walk()[1:13]).reshape(3, 4, 4, 4)
    prev = c2ws[:, :1].expand(3, 4, 4, 4)
    K = intrinsics(6, 4, 60.0)
    emb = ray_embedding(prev, c2ws, K, 4, 6, kind="plucker")
    assert emb.shape == (3, 4, 6, 4, 6) and emb.dtype == torch.float32
    torch.testing.assert_close(emb[2, 3], ray_embedding(prev[2, 3], c2ws[2, 3], K, 4, 6, kind="plucker"))
    with pytest.raises(ValueError, match="kind must be one of"):
        ray_embedding(prev, c2ws, K, 4, 6, kind="euler")


@pytest.mark.parametrize("kind", ["od", "plucker"])
def test_encodings_of_a_long_walk_stay_bounded(kind):
    long = "[[segment]]\nticks = [0, 2000]\nhold = [\"move_forward\", \"sprint\"]\naxes = { look_dx = 1.0 }\n"
    builder, enc = PacketBuilder(["camera"]), CameraEncoder(4, 4, kind=kind)
    script = ScriptedInput.loads(long)
    enc.encode([builder.tick(idle_actions())["camera"]])
    peaks = []
    while not script.done:
        parts = [builder.tick(script.sample())["camera"] for _ in range(4)]
        peaks.append(float(enc.encode(parts).abs().max()))
    c2w = builder.rigs["camera"].c2w
    assert len(peaks) == 500 and np.linalg.norm(c2w[:3, 3]) > 100.0   # far from the start...
    # a sprint moves 4 x 0.3125 m per latent frame; scaled by the default constants that stays < 7
    assert max(peaks) < 7.0 and max(peaks[-50:]) <= max(peaks[:50]) + 1e-4   # ...values do not grow


def test_encoder_stacks_four_frames_and_flags_the_first_latent_frame():
    c2ws = walk()
    enc = CameraEncoder(4, 6, kind="od", scales=[1.0] * 6)
    first = enc.encode([{"c2w": c2ws[0].reshape(-1).tolist()}])
    assert first.shape == (25, 4, 6) and torch.all(first[:24] == 0) and torch.all(first[24] == 1)
    x = enc.encode([{"c2w": m.reshape(-1).tolist()} for m in c2ws[1:5]])
    K = intrinsics(6, 4, 60.0)
    for f in range(4):
        torch.testing.assert_close(x[6 * f: 6 * f + 6], ray_embedding(c2ws[0], c2ws[1 + f], K, 4, 6))
    assert torch.all(x[24] == 0)
    enc.reset()
    assert torch.all(enc.encode([{"c2w": c2ws[9].reshape(-1).tolist()}])[24] == 1)
    with pytest.raises(ControlError, match="scales must be 6 positive"):
        CameraEncoder(4, 4, scales=[1.0, 0.0, 1.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("kind", ["od", "plucker"])
def test_measured_scales_give_unit_spread(kind):
    trajs = [walk(), walk(yaw=90.0, walk_speed=1.0)]
    scales = measure_scales(trajs, kind=kind)
    assert len(scales) == 6 and min(scales) > 0
    again = measure_scales(trajs, kind=kind)
    assert scales == again
    enc = CameraEncoder(16, 16, kind=kind, scales=scales)
    sq, n = torch.zeros(6), 0
    for traj in trajs:
        enc.reset()
        enc.encode([{"c2w": traj[0].reshape(-1).tolist()}])
        for k in range((len(traj) - 1) // 4):
            x = enc.encode([{"c2w": m.reshape(-1).tolist()} for m in traj[1 + 4 * k: 5 + 4 * k]])[:24]
            sq += x.reshape(4, 6, -1).pow(2).sum(dim=(0, 2))
            n += 4 * 256
    np.testing.assert_allclose((sq / n).sqrt().numpy(), 1.0, rtol=1e-3)


def test_outlier_steps_are_rejected():
    good = walk()
    teleport = good.copy()
    teleport[50:, 0, 3] += 20.0
    spin = good.copy()
    spin[60:, :3, :3] = spin[60:, :3, :3] @ look_rotation(90.0, 0.0) @ np.diag([1.0, -1.0, -1.0])
    broken = good.copy()
    broken[70, 1, 3] = np.nan
    assert not implausible_steps(good).any()
    assert implausible_steps(teleport).nonzero().flatten().tolist() == [49]
    assert implausible_steps(spin).nonzero().flatten().tolist() == [59]
    assert implausible_steps(broken).nonzero().flatten().tolist() == [69, 70]
    kept, rejected = reject_outliers([good, teleport, spin, broken])
    assert len(kept) == 1 and kept[0] is good and rejected == [1, 2, 3]
