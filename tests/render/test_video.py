"""mp4 round trip through PyAV: shape, frame count, small pixel error, odd sizes."""
from __future__ import annotations

import av
import numpy as np
import pytest

from worldsim.render.video import BackgroundVideoWriter, VideoWriter, pick_codec, read_video


def moving_gradient(count: int, height: int, width: int) -> np.ndarray:
    """uint8 [F, H, W, 3]: smooth content (what a codec is built for) that changes every frame."""
    ys, xs = np.mgrid[0:height, 0:width]
    frames = [np.stack([(xs * 4 + 9 * i) % 256, (ys * 3 + 5 * i) % 256, np.full_like(xs, 17 * i % 256)], -1)
              for i in range(count)]
    return np.stack(frames).astype(np.uint8)


@pytest.mark.parametrize("height, width", [(48, 64), (37, 51)])
def test_mp4_round_trip(tmp_path, height, width):
    frames = moving_gradient(9, height, width)
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=24, width=width, height=height) as writer:
        writer.write(frames[:4])  # batches of frames
        writer.write(frames[4])  # and single frames
        writer.write(frames[5:])
    assert writer.frames_written == 9
    video = read_video(path)
    assert video.shape == (9, height, width, 3) and video.dtype == np.uint8
    error = np.abs(video.astype(np.int16) - frames.astype(np.int16))
    assert error.mean() < 3.0  # yuv420p + crf 18 on smooth content
    assert not np.array_equal(video[0], video[1])  # frames stay in order, none duplicated


def test_h264_when_available(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=30, width=32, height=32) as writer:
        writer.write(moving_gradient(2, 32, 32))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == ("h264" if pick_codec() == "libx264" else "mpeg4")
        assert stream.average_rate == 30


def test_wrong_frames_and_missing_files_are_reported(tmp_path):
    with VideoWriter(tmp_path / "clip.mp4", fps=24, width=16, height=16) as writer:
        with pytest.raises(ValueError, match=r"uint8 \[F, 16, 16, 3\]"):
            writer.write(np.zeros((1, 16, 8, 3), dtype=np.uint8))
        writer.write(np.zeros((1, 16, 16, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="closed"):
        writer.write(np.zeros((1, 16, 16, 3), dtype=np.uint8))
    with pytest.raises(FileNotFoundError):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="junk.mp4"):
        read_video(tmp_path / "junk.mp4")


def test_background_writer_copies_frames_so_buffers_can_be_reused(tmp_path):
    frames = moving_gradient(6, 32, 48)
    buffer = np.empty((2, 32, 48, 3), dtype=np.uint8)  # the caller's reused buffer
    with BackgroundVideoWriter(tmp_path / "clip.mp4", fps=24, width=48, height=32) as writer:
        for start in range(0, 6, 2):
            buffer[:] = frames[start:start + 2]
            writer.write(buffer)
        buffer[:] = 0
        with pytest.raises(ValueError, match=r"uint8 \[F, 32, 48, 3\]"):
            writer.write(np.zeros((32, 47, 3), dtype=np.uint8))  # reported in the caller's thread
    with pytest.raises(ValueError, match="closed"):
        writer.write(frames)
    video = read_video(tmp_path / "clip.mp4")
    assert video.shape == (6, 32, 48, 3)
    assert np.abs(video.astype(np.int16) - frames).mean() < 3.0
