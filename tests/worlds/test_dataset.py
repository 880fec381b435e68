"""Clip streams, the puppet scene, and the shard round trip."""
from __future__ import annotations

import msgpack
import pytest
import torch

from worldsim.controls.camera_rig import intrinsics
from worldsim.controls.pose_rig import PoseRig
from worldsim.worlds.dataset import PUPPET_FOVY, ClipStream, action_names
from worldsim.worlds.puppet import render_puppet
from worldsim.worlds.shards import export_clips, iter_shards, read_shard


@pytest.fixture(scope="module")
def clips():
    cam = ClipStream(seed=3, frames=6, width=16, height=16, compile=False, clips_per_world=2)
    pose = ClipStream(seed=3, frames=6, width=16, height=16, compile=False, kind="pose")
    return [cam.clip(i) for i in range(3)] + [pose.clip(0)]


def test_stream_is_deterministic_and_complete(clips):
    again = ClipStream(seed=3, frames=6, width=16, height=16, compile=False, clips_per_world=2).clip(1)
    assert torch.equal(again.frames, clips[1].frames) and again.caption == clips[1].caption
    c = clips[0]
    assert c.frames.shape == (6, 16, 16, 3) and c.frames.dtype == torch.uint8
    assert c.c2w.shape == (6, 4, 4) and c.K.shape == (6, 3, 3)
    assert c.actions.shape == (6, len(action_names())) and c.caption
    assert clips[0].seed == clips[1].seed != clips[2].seed            # 2 clips per world
    assert clips[3].keypoints.shape == (6, 17, 3)


def test_a_batch_of_clips_across_worlds_equals_the_clips_alone(clips):
    stream = ClipStream(seed=3, frames=6, width=16, height=16, compile=False, clips_per_world=2)
    batch = stream.batch(0, 3)                                         # worlds 300000 and 300001
    for alone, together in zip(clips[:3], batch):
        assert torch.equal(alone.frames, together.frames) and alone.caption == together.caption


def test_puppet_keypoints_land_on_the_body():
    """PoseRig's normalised keypoints are where the rendered puppet's joints appear."""
    W = H = 64
    rig = PoseRig(width=W, height=H, fovy_deg=PUPPET_FOVY)
    c2w = torch.eye(4)
    c2w[:3, :3], c2w[:3, 3] = torch.tensor(rig.cam_rot), torch.tensor(rig.cam_pos)
    K = torch.tensor(intrinsics(W, H, PUPPET_FOVY), dtype=torch.float32)[None]
    for actions in ({"left_stick_x": 1.0}, {"wave": 1.0}, {"left_stick_y": -1.0}):
        for _ in range(10):
            keypoints = rig.step(actions)
        joints = torch.tensor(rig.keypoints3d, dtype=torch.float32)[None]
        body = render_puppet(joints, c2w[None], K, H, W)[0]
        empty = render_puppet(joints + torch.tensor([0.0, -100.0, 0.0]), c2w[None], K, H, W)[0]
        covered = (body != empty).any(-1)
        for joint in (0, 5, 6, 9, 10, 11, 12, 15, 16):
            x, y, visible = keypoints[joint]
            if visible:
                assert covered[int(y * H), int(x * W)], f"joint {joint} not on the puppet for {actions}"


def test_export_import_round_trip_is_exact(tmp_path, clips):
    stems = export_clips(clips, tmp_path, clips_per_shard=3)
    assert [s.name for s in stems] == ["shard-00000", "shard-00001"]
    back = list(iter_shards(tmp_path))
    assert len(back) == len(clips)
    for a, b in zip(clips, back):
        assert torch.equal(a.frames, b.frames)
        assert a.c2w.dtype == b.c2w.dtype == torch.float64
        assert torch.equal(a.c2w.float().double(), b.c2w)                  # shards store poses as float32
        assert torch.equal(a.K, b.K) and torch.equal(a.actions, b.actions)
        assert (a.kind, a.seed, a.caption, a.segments) == (b.kind, b.seed, b.caption, b.segments)
        assert (a.keypoints is None) == (b.keypoints is None)
        if a.keypoints is not None:
            assert torch.equal(a.keypoints, b.keypoints)
    meta = msgpack.unpackb((tmp_path / "shard-00000.msgpack").read_bytes())
    assert meta["format"] == "worldsim-clips" and meta["version"] == 1


def test_bad_shards_are_reported(tmp_path):
    (tmp_path / "shard-00000.msgpack").write_bytes(msgpack.packb({"format": "other"}))
    with pytest.raises(ValueError, match="not a worldsim-clips"):
        read_shard(tmp_path / "shard-00000")
    with pytest.raises(FileNotFoundError):
        next(iter_shards(tmp_path / "missing"))
