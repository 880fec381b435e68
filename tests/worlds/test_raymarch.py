"""The ray-marcher's camera convention and the world's determinism."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldsim.controls.camera_rig import intrinsics, look_rotation
from worldsim.worlds.culling import bounding_spheres
from worldsim.worlds.raymarch import Scene, _padded, render
from worldsim.worlds.world import build_world

RED = (0.9, 0.05, 0.05)


def _scene_with_ball(centre, radius=1.5):
    """World 0 with its objects replaced by one red ball (so nothing else can cover it)."""
    scene = Scene.from_world(build_world(0))
    ball = torch.tensor([[*centre, radius, radius, radius, *RED]], dtype=torch.float32)
    for kind in scene.tables:
        table = ball if kind == "ellipsoids" else scene.tables[kind][:0]
        scene.tables[kind] = _padded(kind, table)
        scene.bounds[kind] = bounding_spheres(kind, scene.tables[kind])
    return scene


def _camera(position, yaw=0.0, pitch=0.0):
    c2w = np.eye(4)
    c2w[:3, :3] = look_rotation(yaw, pitch)
    c2w[:3, 3] = position
    return torch.tensor(c2w, dtype=torch.float32)[None]


@pytest.mark.parametrize("yaw", [0.0, 90.0, -135.0])
def test_known_object_lands_at_projected_pixel(yaw):
    W, H = 64, 48
    K = torch.tensor(intrinsics(W, H, 60.0), dtype=torch.float32)[None]
    eye = np.array([100.0, build_world(0).terrain.height.max().item() + 40.0, 200.0])
    c2w = _camera(eye, yaw=yaw)
    offset_cam = np.array([4.0, 2.0, 25.0])                        # right, down, ahead (OpenCV)
    centre = eye + c2w[0, :3, :3].numpy().astype(np.float64) @ offset_cam
    with_ball = render(_scene_with_ball(centre), c2w, K, H, W)[0].numpy().astype(int)
    without = render(_scene_with_ball(centre + np.array([0.0, -1e4, 0.0])), c2w, K, H, W)[0].numpy().astype(int)
    ball = np.abs(with_ball - without).sum(-1) > 0                 # pixels the ball covers
    u = W / 2 + K[0, 0, 0].item() * offset_cam[0] / offset_cam[2]
    v = H / 2 + K[0, 1, 1].item() * offset_cam[1] / offset_cam[2]
    assert ball[int(v), int(u)], f"pixel ({int(u)}, {int(v)}) should show the ball"
    ys, xs = np.nonzero(ball)
    assert abs(xs.mean() + 0.5 - u) < 0.75 and abs(ys.mean() + 0.5 - v) < 0.75
    # a disc of radius f * r / z pixels (the ball's silhouette is near-circular this close to the axis)
    expected = math.pi * (K[0, 0, 0].item() * 1.5 / 25.0) ** 2
    assert 0.7 * expected < ball.sum() < 1.4 * expected
    r, g, b = with_ball[int(v), int(u)]
    assert r > g and r > b                                         # and it is the red ball


def test_same_seed_same_world_and_pixels():
    a, b = build_world.__wrapped__(3), build_world.__wrapped__(3)
    assert torch.equal(a.terrain.height, b.terrain.height)
    assert torch.equal(a.objects.frustums, b.objects.frustums) and a.sky == b.sky
    c = build_world.__wrapped__(4)
    assert not torch.equal(a.terrain.height, c.terrain.height)
    K = torch.tensor(intrinsics(32, 32, 60.0), dtype=torch.float32)[None]
    x, z = a.spawn_point()
    cam = _camera((x, a.terrain.ground_height(x, z) + 1.7, z), yaw=30.0)
    f1 = render(Scene.from_world(a), cam, K, 32, 32)
    f2 = render(Scene.from_world(b), cam, K, 32, 32)
    assert torch.equal(f1, f2)


def test_world_has_biomes_objects_and_sky():
    w = build_world(2)
    present = set(torch.unique(w.terrain.biome.long()).tolist())
    assert {0, 2, 4} <= present                       # water, grass, rock at least
    assert w.objects.counts["pines"] + w.objects.counts["broadleaf"] > 500
    assert w.objects.counts["houses"] > 0 and w.objects.counts["towers"] > 0
    assert w.sky.time_of_day in ("dawn", "morning", "noon", "afternoon", "dusk")
    with pytest.raises(ValueError, match="non-negative"):
        build_world(-1)


def test_batch_of_cameras_equals_cameras_alone():
    scene = Scene.from_world(build_world(1))
    K = torch.tensor(intrinsics(16, 16, 60.0), dtype=torch.float32)[None].expand(3, 3, 3)
    w = build_world(1)
    x, z = w.spawn_point()
    cams = torch.cat([_camera((x + 3 * k, w.terrain.ground_height(x, z) + 2.0, z), yaw=40.0 * k) for k in range(3)])
    together = render(scene, cams, K, 16, 16)
    for k in range(3):
        assert torch.equal(render(scene, cams[k:k + 1], K[:1], 16, 16)[0], together[k])
