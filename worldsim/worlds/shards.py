"""Dataset shards on disk: lossless video + msgpack metadata, and back.

A directory holds shards `shard-00000.mp4` + `shard-00000.msgpack`, ... Format (version 1):
- `.mp4`: the frames of all the shard's clips, one after another, H.264 in RGB (`libx264rgb`,
  crf 0: lossless, so decoding gives back the exact uint8 pixels), at the clips' fps.
- `.msgpack`: a map {"format": "worldsim-clips", "version": 1, "width", "height", "fps",
  "action_names": [...], "clips": [clip, ...]} where each clip is a map {"kind", "seed",
  "first_frame" (index into the video), "frames", "caption", "segments" (list of {start, end,
  move, text}), "c2w" (bytes: float32 little-endian (T, 4, 4)), "K" (bytes: float32 (T, 3, 3)),
  "actions" (bytes: float32 (T, A)), "keypoints" (bytes: float32 (T, 17, 3), or nil)}.
Poses are stored as float32 (the Clip's float64 `c2w` rounded); reading gives them back as float64.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import msgpack
import numpy as np
import torch

from .dataset import Clip, action_names

FORMAT, VERSION = "worldsim-clips", 1


def _f32(t: torch.Tensor | None) -> bytes | None:
    return None if t is None else t.detach().cpu().numpy().astype("<f4").tobytes()


def _tensor(b: bytes | None, shape) -> torch.Tensor | None:
    return None if b is None else torch.from_numpy(np.frombuffer(b, dtype="<f4").reshape(shape).copy())


def write_video(path: Path, frames: np.ndarray, fps: float, lossless: bool = True) -> None:
    """H.264 .mp4 of frames uint8 (T, H, W, 3): lossless RGB (datasets), or the widely playable
    yuv420p at crf 18 (previews; even sizes)."""
    import av
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264rgb" if lossless else "libx264", rate=round(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb24" if lossless else "yuv420p"
        stream.options = {"crf": "0" if lossless else "18", "preset": "veryfast"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        out.mux(stream.encode())


def read_video(path: Path) -> np.ndarray:
    """uint8 (T, H, W, 3)."""
    import av
    with av.open(str(path)) as inp:
        return np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(video=0)])


def write_shard(path_stem: Path, clips: list[Clip], fps: float = 24.0) -> None:
    """Write `clips` (same size) as <stem>.mp4 + <stem>.msgpack."""
    h, w = clips[0].frames.shape[1:3]
    if any(c.frames.shape[1:3] != (h, w) for c in clips):
        raise ValueError("all clips of a shard must have the same frame size")
    records, first = [], 0
    for c in clips:
        records.append({"kind": c.kind, "seed": c.seed, "first_frame": first, "frames": len(c),
                        "caption": c.caption, "segments": c.segments, "c2w": _f32(c.c2w), "K": _f32(c.K),
                        "actions": _f32(c.actions), "keypoints": _f32(c.keypoints)})
        first += len(c)
    write_video(path_stem.with_suffix(".mp4"), torch.cat([c.frames.cpu() for c in clips]).numpy(), fps)
    meta = {"format": FORMAT, "version": VERSION, "width": int(w), "height": int(h), "fps": fps,
            "action_names": list(action_names()), "clips": records}
    path_stem.with_suffix(".msgpack").write_bytes(msgpack.packb(meta, use_bin_type=True))


def read_shard(path_stem: Path) -> list[Clip]:
    """The clips of one shard (<stem>.mp4 + <stem>.msgpack)."""
    path_stem = Path(path_stem)
    meta_path = path_stem.with_suffix(".msgpack")
    try:
        meta = msgpack.unpackb(meta_path.read_bytes(), raw=False)
    except (OSError, ValueError, msgpack.ExtraData) as err:
        raise ValueError(f"{meta_path}: not a readable shard ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{meta_path}: not a {FORMAT} v{VERSION} shard")
    if tuple(meta["action_names"]) != action_names():
        raise ValueError(f"{meta_path}: action columns differ from this worldsim's ({meta['action_names']})")
    video = torch.from_numpy(read_video(path_stem.with_suffix(".mp4")))
    clips = []
    for r in meta["clips"]:
        t, s = r["frames"], r["first_frame"]
        if s + t > video.shape[0]:
            raise ValueError(f"{path_stem}.mp4 has {video.shape[0]} frames, metadata needs {s + t}")
        clips.append(Clip(r["kind"], r["seed"], video[s:s + t], _tensor(r["c2w"], (t, 4, 4)).double(),
                          _tensor(r["K"], (t, 3, 3)),
                          _tensor(r["actions"], (t, -1)), r["caption"], r["segments"],
                          _tensor(r["keypoints"], (t, 17, 3))))
    return clips


def export_clips(clips: Iterable[Clip], out_dir: Path, clips_per_shard: int = 16, fps: float = 24.0) -> list[Path]:
    """Write clips into shards under out_dir. -> the shard stems written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems, pending = [], []
    for clip in clips:
        pending.append(clip)
        if len(pending) == clips_per_shard:
            stems.append(out_dir / f"shard-{len(stems):05d}")
            write_shard(stems[-1], pending, fps)
            pending = []
    if pending:
        stems.append(out_dir / f"shard-{len(stems):05d}")
        write_shard(stems[-1], pending, fps)
    return stems


def iter_shards(directory: Path) -> Iterator[Clip]:
    """Every clip of every shard in `directory`, in shard order."""
    stems = sorted(p.with_suffix("") for p in Path(directory).glob("shard-*.msgpack"))
    if not stems:
        raise FileNotFoundError(f"no shard-*.msgpack files in {directory}")
    for stem in stems:
        yield from read_shard(stem)
