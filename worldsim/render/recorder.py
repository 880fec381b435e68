"""Recording a play session: the frames as mp4 and a control log `<name>.ctl.msgpack` beside it.

The control log is a stream of msgpack maps, each with a "kind" (format: docs/display.md):

    {"kind": "header", "format": "worldsim-ctl", "version": 1, "fps": 24.0, "video": "run.mp4", "meta": {...}}
    {"kind": "tick", "data": {...}}                       # one per tick, as given to log_tick
    {"kind": "frame", "index": 0, "sha256": "ab12..."}    # one per frame, in display order
    {"kind": "end", "ticks": 512, "frames": 512}          # written by close()

Every record is flushed when written, so a crash loses at most the record being written; the
missing end record tells a reader the recording was cut short.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import numpy as np

from worldsim.render.video import BackgroundVideoWriter

LOG_FORMAT = "worldsim-ctl"
LOG_VERSION = 1
LOG_SUFFIX = ".ctl.msgpack"


class ControlLogError(ValueError):
    """A control log that cannot be read: names the file and the record index. For a log cut short,
    `records_before` is how many records `allow_truncated=True` would keep (None otherwise) and
    `damage` what cut it short, without the advice."""

    def __init__(self, message: str, records_before: int | None = None, damage: str | None = None):
        super().__init__(message)
        self.records_before, self.damage = records_before, damage


def control_log_path(video_path: str | Path) -> Path:
    """`run.mp4` -> `run.ctl.msgpack`, in the same folder."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + LOG_SUFFIX)


def frame_digest(frame: np.ndarray) -> str:
    """sha256 hex digest of one frame's raw bytes (uint8 [H, W, 3], C order)."""
    return hashlib.sha256(np.ascontiguousarray(frame).data).hexdigest()


class Recorder:
    """Writes frames to `mp4_path` and the control log beside it, streamed as the session plays."""

    def __init__(self, mp4_path: str | Path, fps: float, meta: dict):
        self.video_path = Path(mp4_path)
        if self.video_path.suffix.lower() != ".mp4":
            raise ValueError(f"recording path must end in .mp4, got {str(self.video_path)!r}")
        self.log_path = control_log_path(self.video_path)
        self.fps = float(fps)
        self.ticks_logged = 0
        self.frames_logged = 0
        self._writer: BackgroundVideoWriter | None = None  # opened at the first frames, when their size is known
        self.video_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.log_path, "wb")
        self._packer = msgpack.Packer()
        try:
            self._append({"kind": "header", "format": LOG_FORMAT, "version": LOG_VERSION, "fps": self.fps,
                          "video": self.video_path.name, "meta": meta})
        except TypeError:
            self._file.close()
            raise

    def log_tick(self, record: dict) -> None:
        """Append one tick's record (msgpack-able: tick, actions, packet...)."""
        if not isinstance(record, dict):
            raise TypeError(f"tick record must be a dict, got {type(record).__name__}")
        self._append({"kind": "tick", "data": record})
        self.ticks_logged += 1

    def add_frames(self, frames: np.ndarray) -> None:
        """Queue frames, uint8 [F, H, W, 3] (or one [H, W, 3]), for the mp4 encoder thread and log
        each one's sha256."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4:
            raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {list(frames.shape)}")
        if self._writer is None:
            self._writer = BackgroundVideoWriter(self.video_path, self.fps, frames.shape[2], frames.shape[1])
        self._writer.write(frames)
        for frame in frames:
            self._append({"kind": "frame", "index": self.frames_logged, "sha256": frame_digest(frame)})
            self.frames_logged += 1

    def close(self) -> None:
        """Write the end record and finish both files (safe to call twice)."""
        if self._file.closed:
            return
        self._append({"kind": "end", "ticks": self.ticks_logged, "frames": self.frames_logged})
        self._file.close()
        if self._writer is not None:
            self._writer.close()

    def _append(self, record: dict) -> None:
        if self._file.closed:
            raise ValueError(f"{self.log_path}: recorder is closed")
        try:
            data = self._packer.pack(record)
        except (TypeError, ValueError, OverflowError) as error:
            raise TypeError(f"{self.log_path}: {record['kind']} record is not msgpack-able ({error}); "
                            "use dicts, lists, str, int, float, bool, None and bytes") from error
        self._file.write(data)
        self._file.flush()  # a crash of this process now loses nothing already logged

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class ControlLog:
    """A control log read back: header meta, tick records and frame digests, in order."""

    path: Path
    fps: float
    video_path: Path
    meta: dict
    ticks: list[dict] = field(default_factory=list)
    frame_hashes: list[str] = field(default_factory=list)
    complete: bool = False  # False when the end record is missing (crash) or a record was unreadable
    problem: str | None = None  # what cut a truncated log short

    @classmethod
    def read(cls, path: str | Path, allow_truncated: bool = False) -> ControlLog:
        """Read a control log; a cut or corrupt log raises ControlLogError naming file and record
        index, unless allow_truncated, which returns the records before the damage."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no control log at {path}")
        data = path.read_bytes()
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(data)
        records = iter(unpacker)
        header = _next_record(records, path, 0)
        if not isinstance(header, dict) or header.get("kind") != "header" or header.get("format") != LOG_FORMAT:
            raise ControlLogError(f"{path}: record 0 is not a {LOG_FORMAT} header; not a worldsim control log")
        missing = [key for key in ("version", "fps", "video", "meta") if key not in header]
        if missing:
            raise ControlLogError(f"{path}: record 0 (header) lacks {', '.join(missing)}")
        if not isinstance(header["meta"], dict):
            raise ControlLogError(f"{path}: record 0 (header): meta is not a map")
        if not isinstance(header["version"], int) or header["version"] > LOG_VERSION:
            raise ControlLogError(f"{path}: control log version {header.get('version')!r} is newer than this "
                                  f"worldsim reads ({LOG_VERSION}); upgrade worldsim")
        log = cls(path=path, fps=float(header["fps"]), video_path=path.with_name(header["video"]),
                  meta=header["meta"])
        index, end_of_record = 1, unpacker.tell()
        try:
            while True:
                record = _next_record(records, path, index)
                if record is None:
                    if end_of_record < len(data):
                        raise ControlLogError(f"{path}: record {index} is cut off: the last "
                                              f"{len(data) - end_of_record} bytes are not a whole record "
                                              "(the recording was interrupted)")
                    raise ControlLogError(f"{path}: ends after record {index - 1} without an end record "
                                          "(the recording was not closed)")
                if log._add(record, path, index):
                    if unpacker.tell() < len(data):
                        raise ControlLogError(f"{path}: {len(data) - unpacker.tell()} bytes follow the end "
                                              f"record {index}")
                    break
                index, end_of_record = index + 1, unpacker.tell()
        except ControlLogError as error:
            if not allow_truncated:
                raise ControlLogError(f"{error}; read it with allow_truncated=True to keep the "
                                      f"{index - 1} records before it", records_before=index - 1,
                                      damage=str(error)) from None
            log.problem = str(error)
            return log
        log.complete = True
        return log

    def _add(self, record, path: Path, index: int) -> bool:
        """File one record; True at the end record."""
        kind = record.get("kind") if isinstance(record, dict) else None
        if kind == "tick" and isinstance(record.get("data"), dict):
            self.ticks.append(record["data"])
        elif kind == "frame" and record.get("index") == len(self.frame_hashes) and isinstance(record.get("sha256"), str):
            self.frame_hashes.append(record["sha256"])
        elif kind == "end":
            if (record.get("ticks"), record.get("frames")) != (len(self.ticks), len(self.frame_hashes)):
                raise ControlLogError(f"{path}: record {index}: end record counts {record.get('ticks')} ticks, "
                                      f"{record.get('frames')} frames but the log holds {len(self.ticks)}, "
                                      f"{len(self.frame_hashes)}")
            return True
        else:
            raise ControlLogError(f"{path}: record {index} is malformed: {str(record)[:200]}")
        return False


def _next_record(records, path: Path, index: int):
    """The next decoded record, None at the end of the data; decoding errors name the record."""
    try:
        return next(records)
    except StopIteration:
        return None
    except (msgpack.UnpackException, ValueError) as error:
        raise ControlLogError(f"{path}: record {index} is corrupt ({error})") from error
