"""mp4 files through PyAV (its wheels bundle FFmpeg): H.264 (libx264) or MPEG-4 Part 2, yuv420p.

yuv420p needs even sizes: an odd width or height is padded by repeating the last column/row,
and the true size is stored in the container's `comment` tag so `read_video` crops it back.
"""
from __future__ import annotations

import queue
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_SIZE_TAG = "worldsim-size="


def pick_codec() -> str:
    """libx264 when PyAV's FFmpeg has it, otherwise mpeg4 (always built in)."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


class VideoWriter:
    """Writes uint8 RGB frames [H, W, 3] of one size to an mp4 file."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, quality: int = 18):
        if width <= 0 or height <= 0:
            raise ValueError(f"video size must be positive, got {width}x{height}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = int(width), int(height)
        self.frames_written = 0
        self.codec = pick_codec()
        self._container = av.open(str(self.path), mode="w", format="mp4")
        self._container.metadata["comment"] = f"{_SIZE_TAG}{self.width}x{self.height}"
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(self.codec, rate=rate)
        self._stream.width = self.width + self.width % 2
        self._stream.height = self.height + self.height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = 1 / rate
        if self.codec == "libx264":
            # crf: visually lossless at 18; one thread-safe preset fast enough for live recording
            self._stream.options = {"crf": str(quality), "preset": "veryfast"}
        else:
            self._stream.bit_rate = 8_000_000

    def check(self, frames: np.ndarray) -> np.ndarray:
        """Frames as uint8 [F, H, W, 3] of this video's size, or a ValueError saying what is wrong."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"{self.path}: frames must be uint8 [F, {self.height}, {self.width}, 3], "
                             f"got {frames.dtype} {list(frames.shape)}")
        return frames

    def write(self, frames: np.ndarray) -> None:
        """Append frames, uint8 [F, H, W, 3] (or a single [H, W, 3])."""
        if self._container is None:
            raise ValueError(f"{self.path}: writer is closed")
        frames = self.check(frames)
        pad = ((0, 0), (0, self.height % 2), (0, self.width % 2), (0, 0))
        if any(after for _, after in pad):
            frames = np.pad(frames, pad, mode="edge")
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = self.frames_written
            self._container.mux(self._stream.encode(video_frame))
            self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (safe to call twice)."""
        if self._container is None:
            return
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BackgroundVideoWriter:
    """A `VideoWriter` fed through a bounded queue by one encoder thread, so that encoding does not
    stall the caller (PyAV releases the GIL while it converts and encodes). Frames are copied on
    `write`, so the caller may reuse its buffers. An encoder error surfaces on the next call."""

    def __init__(self, path: str | Path, fps: float, width: int, height: int, max_pending: int = 64):
        self._writer = VideoWriter(path, fps, width, height)
        self.path = self._writer.path
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode, name=f"encode {self.path.name}", daemon=True)
        self._thread.start()

    def write(self, frames: np.ndarray) -> None:
        """Queue frames, uint8 [F, H, W, 3] (or one [H, W, 3]); blocks only when max_pending are queued."""
        self._raise_error()
        if not self._thread.is_alive():
            raise ValueError(f"{self.path}: writer is closed")
        frames = np.array(frames, copy=True)
        self._writer.check(frames)  # bad frames fail here, in the caller, not in the thread
        self._queue.put(frames)

    def close(self) -> None:
        """Encode what is queued, finish the file, and re-raise an encoder error (safe to call twice)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._writer.close()
        self._raise_error()

    def _encode(self) -> None:
        while (frames := self._queue.get()) is not None:
            if self._error is None:  # after an error, drain the queue so write() never blocks
                try:
                    self._writer.write(frames)
                except BaseException as error:  # handed to the caller's thread
                    self._error = error

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"{self.path}: encoding failed: {error}") from error

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_video(path: str | Path) -> np.ndarray:
    """All frames of a video as uint8 [N, H, W, 3] (RGB), cropped to the size it was written at."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}")
    try:
        with av.open(str(path)) as container:
            comment = container.metadata.get("comment", "")
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except av.FFmpegError as error:
        raise ValueError(f"{path}: cannot decode video: {error}") from error
    if not frames:
        raise ValueError(f"{path}: the video has no frames")
    video = np.stack(frames)  # (N, H, W, 3)
    if comment.startswith(_SIZE_TAG):
        width, height = (int(v) for v in comment[len(_SIZE_TAG):].split("x"))
        video = video[:, :height, :width]
    return np.ascontiguousarray(video)
