"""Recorder writes mp4 + control log; ControlLog reads it back and names damage precisely."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest

from worldsim.render.recorder import ControlLog, ControlLogError, Recorder, control_log_path, frame_digest
from worldsim.render.video import read_video

META = {"renderer": "testpattern", "seed": 7, "prompt": "a field", "spec": {"width": 24, "height": 16},
        "bindings": {"w": "move_forward"}}


def record_session(path, ticks: int = 8, frames_per_step: int = 4) -> np.ndarray:
    """Record `ticks` ticks, one step of frames every `frames_per_step` ticks; returns the frames."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (ticks, 16, 24, 3), dtype=np.uint8)  # (F, H, W, 3)
    with Recorder(path, fps=24, meta=META) as recorder:
        for tick in range(ticks):
            recorder.log_tick({"tick": tick, "actions": {"move_forward": tick % 2 == 0}, "packet": {"dx": 0.5}})
            if tick % frames_per_step == frames_per_step - 1:
                recorder.add_frames(frames[tick - frames_per_step + 1:tick + 1])
    return frames


def test_record_and_read_back(tmp_path):
    frames = record_session(tmp_path / "run.mp4")
    log_path = control_log_path(tmp_path / "run.mp4")
    assert log_path == tmp_path / "run.ctl.msgpack"
    log = ControlLog.read(log_path)
    assert log.complete and log.meta == META and log.fps == 24.0
    assert log.video_path == tmp_path / "run.mp4"
    assert [t["tick"] for t in log.ticks] == list(range(8))
    assert log.ticks[3] == {"tick": 3, "actions": {"move_forward": False}, "packet": {"dx": 0.5}}
    assert log.frame_hashes == [frame_digest(frame) for frame in frames]
    assert read_video(log.video_path).shape == (8, 16, 24, 3)


def test_records_are_on_disk_before_close(tmp_path):
    recorder = Recorder(tmp_path / "live.mp4", fps=24, meta=META)
    recorder.log_tick({"tick": 0})
    log = ControlLog.read(tmp_path / "live.ctl.msgpack", allow_truncated=True)  # as after a crash
    assert log.ticks == [{"tick": 0}] and not log.complete and "not closed" in log.problem
    recorder.close()


def test_truncated_log_names_file_and_record(tmp_path):
    record_session(tmp_path / "run.mp4")
    data = (tmp_path / "run.ctl.msgpack").read_bytes()
    cut = tmp_path / "cut.ctl.msgpack"
    cut.write_bytes(data[:-5])  # inside the end record (record 17: header + 8 ticks + 8 frames before it)
    with pytest.raises(ControlLogError, match=r"cut\.ctl\.msgpack: record 17 is cut off"):
        ControlLog.read(cut)
    log = ControlLog.read(cut, allow_truncated=True)
    assert not log.complete and len(log.ticks) == 8 and len(log.frame_hashes) == 8


def test_corrupt_record_is_reported(tmp_path):
    packer = msgpack.Packer()
    header = packer.pack({"kind": "header", "format": "worldsim-ctl", "version": 1, "fps": 24.0,
                          "video": "x.mp4", "meta": {}})
    tick = packer.pack({"kind": "tick", "data": {"tick": 0}})
    path = tmp_path / "bad.ctl.msgpack"
    path.write_bytes(header + tick + b"\xc1" + tick)  # 0xc1 is never valid msgpack
    with pytest.raises(ControlLogError, match=r"bad\.ctl\.msgpack: record 2 is corrupt"):
        ControlLog.read(path)
    assert ControlLog.read(path, allow_truncated=True).ticks == [{"tick": 0}]
    path.write_bytes(header + packer.pack({"kind": "frame", "index": 5, "sha256": "00"}))
    with pytest.raises(ControlLogError, match="record 1 is malformed"):
        ControlLog.read(path)


def test_not_a_control_log(tmp_path):
    path = tmp_path / "other.ctl.msgpack"
    path.write_bytes(msgpack.packb({"hello": 1}))
    with pytest.raises(ControlLogError, match="not a worldsim control log"):
        ControlLog.read(path, allow_truncated=True)


def test_unserialisable_records_are_refused_clearly(tmp_path):
    with Recorder(tmp_path / "run.mp4", fps=24, meta=META) as recorder:
        with pytest.raises(TypeError, match="tick record is not msgpack-able"):
            recorder.log_tick({"tick": 0, "packet": np.zeros(3)})
        recorder.log_tick({"tick": 0})
    assert ControlLog.read(tmp_path / "run.ctl.msgpack").ticks == [{"tick": 0}]
    with pytest.raises(ValueError, match=r"\.mp4"):
        Recorder(tmp_path / "run.avi", fps=24, meta=META)


def test_meta_must_be_msgpack_able(tmp_path):
    with pytest.raises(TypeError, match="header record is not msgpack-able"):
        Recorder(tmp_path / "run.mp4", fps=24, meta={"seed": np.int64(3)})
