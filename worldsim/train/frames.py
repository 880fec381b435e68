"""Clip banks from your own engine's frames and camera poses (docs/train.md, "Your own data").

    bank = ClipBank.from_frames(videos, c2w, fovy_deg=70.0, camera="od")    # worldsim.train.data
    bank.save("clips.safetensors")
    worldsim train bank --from-dir recordings/ --frames 17 --fovy 70 --camera od --out clips.safetensors

`videos`: uint8 (N, T, H, W, 3) RGB, numpy or torch, or a list of N (T, H, W, 3) arrays;
`c2w`: (N, T, 4, 4) OpenCV camera-to-world poses (x right, y down, z forward) of those frames;
T = 1 + 4k, H and W multiples of 8. The camera `controls` are what the worker computes from packets
carrying these poses (the same encoder as `worldsim train bank`), with scales measured on them.

A folder for `--from-dir` holds recordings side by side, each cut into clips of `--frames` frames:
    NAME.mp4  or  NAME/*.png (sorted)   the frames
    NAME.npy                            (T, 4, 4) float camera-to-world pose of every frame
    NAME.txt                            optional caption
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .bank import BankSpec, add_camera_controls
from .data import ClipBank, DataError


def _stack_videos(videos) -> torch.Tensor:
    if isinstance(videos, (list, tuple)):
        if not videos:
            raise DataError("from_frames: no videos given")
        arrays = [np.asarray(v) for v in videos]
        for i, a in enumerate(arrays):
            if a.shape != arrays[0].shape:
                raise DataError(f"videos[{i}] is {a.shape}, videos[0] {arrays[0].shape}: every clip needs the same shape")
        videos = np.stack(arrays)
    video = torch.as_tensor(np.asarray(videos) if not isinstance(videos, torch.Tensor) else videos)
    if video.dim() != 5 or video.shape[-1] != 3:
        raise DataError(f"videos must be (N, T, H, W, 3) RGB, got {tuple(video.shape)}")
    if video.dtype != torch.uint8:
        raise DataError(f"videos must be uint8 (0..255), got {video.dtype}")
    n, t, h, w, _ = video.shape
    if t < 1 or (t - 1) % 4:
        raise DataError(f"clips must have 1 + 4k frames (5, 9, 17, ...), got {t}")
    if h % 8 or w % 8:
        raise DataError(f"frames must be multiples of 8 a side, got {w}x{h}")
    return video


def check_poses(c2w, frames: tuple[int, int]) -> torch.Tensor:
    """(N, T, 4, 4) rigid camera-to-world poses, float64; one line on what is wrong."""
    poses = torch.as_tensor(np.asarray(c2w, dtype=np.float64))
    if tuple(poses.shape) != (*frames, 4, 4):
        raise DataError(f"c2w must be (N, T, 4, 4) = {(*frames, 4, 4)} for these videos, got {tuple(poses.shape)}")
    if not torch.isfinite(poses).all():
        raise DataError("c2w holds NaN or infinite values")
    r = poses[..., :3, :3]
    eye = torch.eye(3, dtype=poses.dtype)
    bad = ((r.transpose(-1, -2) @ r - eye).abs().amax((-1, -2)) > 1e-3) | (torch.linalg.det(r) < 0) | \
        ((poses[..., 3, :] - torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=poses.dtype)).abs().amax(-1) > 1e-6)
    if bad.any():
        i, t = (int(v) for v in bad.nonzero()[0])
        raise DataError(f"c2w[{i}, {t}] is not a rigid camera-to-world pose (rotation not orthonormal, "
                        "or last row not 0 0 0 1)")
    return poses


def bank_from_frames(videos, c2w, fovy_deg: float = 60.0, camera: str | None = "od",
                     prompts: list[str] | None = None, scales: list[float] | None = None) -> ClipBank:
    """A pixel clip bank (`video`, `c2w`, camera `controls`) from frames and poses; encode it with
    `worldsim train encode`. `scales`: reuse another bank's camera scales (validation banks)."""
    video = _stack_videos(videos)
    n, t, h, w, _ = video.shape
    poses = check_poses(c2w, (n, t))
    if not 1.0 <= float(fovy_deg) <= 179.0:
        raise DataError(f"fovy_deg must be the vertical field of view in degrees (1..179), got {fovy_deg}")
    if camera not in (None, "", "od", "plucker"):
        raise DataError(f"camera must be 'od', 'plucker' or None, got {camera!r}")
    if prompts is not None and len(prompts) != n:
        raise DataError(f"{n} clips but {len(prompts)} prompts")
    tensors = {"video": video.permute(0, 4, 1, 2, 3).contiguous(), "c2w": poses}            # float64, as given
    info = {"kind": "frames", "width": w, "height": h, "frames": t, "fovy_deg": float(fovy_deg), "controls": {}}
    bank = ClipBank(tensors, list(prompts) if prompts is not None else None, info)
    if camera:
        spec = BankSpec(width=w, height=h, frames=t, camera=camera, fovy_deg=float(fovy_deg), scales=scales)
        add_camera_controls(bank, spec, walk=False)
    return bank


def _read_frames(path: Path) -> np.ndarray:
    if path.is_dir():
        from PIL import Image
        pngs = sorted(path.glob("*.png"))
        if not pngs:
            raise DataError(f"{path}/ holds no *.png frames")
        return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in pngs])
    from ..render.video import read_video
    try:
        return read_video(path)
    except ValueError as err:
        raise DataError(str(err)) from None


def read_dir(folder: str | Path, frames: int, fovy_deg: float = 60.0, camera: str | None = "od",
             scales: list[float] | None = None) -> ClipBank:
    """`bank_from_frames` over a folder of recordings (module docstring), each cut into clips of
    `frames` consecutive frames; frames that do not fill a last clip are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--from-dir {folder}: no such folder")
    names = sorted(p.stem for p in folder.glob("*.npy"))
    if not names:
        raise DataError(f"{folder} holds no NAME.npy pose files (see `worldsim train bank --help`)")
    clips, poses, prompts = [], [], []
    for name in names:
        source = next((p for p in (folder / f"{name}.mp4", folder / name) if p.exists()), None)
        if source is None:
            raise DataError(f"{folder / name}.npy has no frames beside it ({name}.mp4 or a {name}/ folder of PNGs)")
        video, c2w = _read_frames(source), np.load(folder / f"{name}.npy")
        if c2w.shape != (len(video), 4, 4):
            raise DataError(f"{name}.npy is {c2w.shape}, but {source.name} has {len(video)} frames: "
                            f"it needs ({len(video)}, 4, 4)")
        if len(video) < frames:
            raise DataError(f"{source.name} has {len(video)} frames, fewer than one clip (--frames {frames})")
        text = folder / f"{name}.txt"
        caption = text.read_text().strip() if text.is_file() else ""
        for start in range(0, len(video) - frames + 1, frames):
            clips.append(video[start:start + frames])
            poses.append(c2w[start:start + frames])
            prompts.append(caption)
    return bank_from_frames(clips, np.stack(poses), fovy_deg, camera, prompts, scales)
