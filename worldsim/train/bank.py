"""Clip banks from the reference world (docs/train.md): clips of the worlds' stochastic player,
rendered by the ray-marcher, encoded by the VAE, with the worker's own control encoding.

    worldsim train bank --world-seeds 0-63 --clips-per-seed 4 --frames 17 --size 128x128 \
        --vae runs/vae/model --camera od --out data/train.safetensors
    worldsim train bank --world-seeds 1000-1007 --camera-from data/train.safetensors ... # held-out seeds
    worldsim train bank --kind pose --world-seeds 0-63 ... --out data/pose.safetensors   # puppet scene

Clips come from worldsim.worlds.dataset: `camera_clips` (a Player of held gaits, stops and looks
driving the CameraRig over the world's ground) or `pose_clip` (the puppet driven through the
PoseRig). A clip is 1 + 4k video frames. The bank holds `video` (N, 3, 1+4k, H, W) uint8 (stage
0), `latents` (N, 1+k, 16, H/8, W/8) with `--vae`, `c2w` (N, 1+4k, 4, 4) float64 world poses (the
rig's, as a client sends them: float32 would round positions hundreds of metres from the origin
by ~6e-5 m, ~1e-3 in the translation channels), and with `--camera` (or `--kind pose`) the
`controls` (N, 1+k, K, H/8, W/8) made by ControlEncoders from packets as the client sends them:
for a walk the camera's height above the ground is constant (the reference renderer adds the
ground), so the packets keep the walk's eye height. Camera scales are measured on the bank's
walks; the encoder config lands in the bank's info and from there in every checkpoint trained on
it. Walks with implausible steps are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from .data import ClipBank, DataError


@dataclass
class BankSpec:
    width: int = 128
    height: int = 128
    frames: int = 17                  # video frames per clip, 1 + 4k
    clips_per_seed: int = 4
    camera: str = ""                  # "" (no controls) | od | plucker  (kind "camera")
    kind: str = "camera"              # camera: walks through worlds | pose: the puppet scene
    device: str = "cpu"
    batch: int = 16                   # clips rendered (and encoded) per call
    compile: bool = False             # compiled ray-marcher kernels (fast after a first compile)
    scales: list[float] | None = None # camera scales to use (validation banks: the training bank's)

    fovy_deg: float = 60.0            # the worlds' camera clips use 60 degrees
    eye_height: float = 1.7           # a walking player's packets: height above the ground

    def check(self) -> None:
        if self.frames < 1 or (self.frames - 1) % 4:
            raise DataError(f"--frames must be 1 + 4k (5, 9, 17, ...), got {self.frames}")
        if self.width % 8 or self.height % 8 or self.width < 8 or self.height < 8:
            raise DataError(f"--size must be multiples of 8, got {self.width}x{self.height}")
        if self.camera not in ("", "od", "plucker"):
            raise DataError(f"--camera must be od or plucker, got {self.camera!r}")
        if self.kind not in ("camera", "pose"):
            raise DataError(f"--kind must be camera or pose, got {self.kind!r}")
        if self.kind == "pose" and self.camera:
            raise DataError("pose clips (the puppet scene) carry pose controls, not --camera")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    from ..worlds.seeds import parse_seed_list
    try:
        return parse_seed_list(text)
    except ValueError:
        raise DataError(f"world seeds must be non-negative integers or ranges like 0-15,20 (got {text!r})") from None


@torch.no_grad()
def encode_latents(vae, video: Tensor) -> Tensor:
    """uint8 (N, 3, 1+4k, H, W) -> normalised latents (N, 1+k, C, H/8, W/8) float32."""
    dev = vae.latent_mean.device
    z = vae.encode(video.to(dev).float() / 127.5 - 1.0)                 # (N, C, 1+k, h, w)
    return z.permute(0, 2, 1, 3, 4).float().cpu()


def store_latent_stats(checkpoint: str, mean: list[float], std: list[float]) -> None:
    """Write measured latent statistics into a checkpoint's config.json (atomically): every model
    trained from it normalises, and play denormalises, with them."""
    import json
    import os
    from pathlib import Path

    from ..models.checkpoint import CONFIG, read_config

    meta = read_config(checkpoint)
    meta["latent_stats"] = {"mean": [float(m) for m in mean], "std": [float(s) for s in std]}
    path = Path(checkpoint) / CONFIG
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)


def packet_controls(packets: list[list[dict]], kind: str, spec: BankSpec, config: dict) -> Tensor:
    """Per latent frame, the worker's encoding of each clip's packets (one per video frame):
    (N, 1+k, K, H/8, W/8) float32."""
    from ..controls.encoding import ControlEncoders

    h, w = spec.height // 8, spec.width // 8
    out = []
    for clip in packets:
        enc = ControlEncoders([kind], h, w, {kind: config})
        groups = [clip[:1]] + [clip[1 + 4 * i:5 + 4 * i] for i in range((len(clip) - 1) // 4)]
        out.append(torch.stack([enc.encode(g) for g in groups]))
    return torch.stack(out)


def walk_packets(c2w: np.ndarray, eye_height: float) -> list[dict]:
    """Camera packets of a walk (T, 4, 4) as the client sends them: height above the ground."""
    poses = c2w.astype(np.float64).copy()
    poses[:, 1, 3] = eye_height
    return [{"camera": {"c2w": p.reshape(-1).tolist()}} for p in poses]


def camera_scales(poses: np.ndarray, spec: BankSpec) -> list[float]:
    """The 6 ray-channel scales measured on the bank's walks (packet poses (N, T, 4, 4)). A channel that never moves (the
    camera height of a walk) keeps the library's default scale instead of a tiny one, so a
    player who flies at play time does not feed the model huge values."""
    from ..controls.camera import DEFAULT_SCALES, measure_scales

    measured = measure_scales(list(poses), spec.camera, spec.fovy_deg, spec.height // 8, spec.width // 8)
    return [round(m if m > 1e-3 else d, 6) for m, d in zip(measured, DEFAULT_SCALES[spec.camera])]


def render_chunk(seeds_and_players: list[tuple[int, int]], spec: BankSpec, scenes: dict):
    """worldsim.worlds clips for (world seed, player seed) pairs, rendered together."""
    from ..worlds.compiled import kernels_for
    from ..worlds.dataset import camera_clips, pose_clip

    if spec.kind == "pose":
        return [pose_clip(player, spec.frames, spec.width, spec.height, spec.device) for _, player in seeds_and_players]
    cameras = 512 if torch.device(spec.device).type == "cuda" else 64       # per batched render call
    return camera_clips(seeds_and_players, spec.frames, spec.width, spec.height, spec.device,
                        kernels_for(spec.device, spec.compile), scenes, max_batch=cameras)


def build_bank(seeds: list[int], spec: BankSpec, vae=None, keep_video: bool = True, progress=None) -> ClipBank:
    """Clips (player seed = world seed * 100_003 + index) from each world seed: render, encode."""
    from ..controls.camera import implausible_steps

    spec.check()
    pairs = [(s, s * 100_003 + i) for s in seeds for i in range(spec.clips_per_seed)]
    scenes: dict = {}
    clips, videos, latents, dropped = [], [], [], 0
    for start in range(0, len(pairs), spec.batch):
        chunk = render_chunk(pairs[start:start + spec.batch], spec, scenes)
        kept = [c for c in chunk if spec.kind == "pose" or not bool(implausible_steps(c.c2w.double()).any())]
        dropped += len(chunk) - len(kept)
        if kept:
            video = torch.stack([c.frames.cpu() for c in kept]).permute(0, 4, 1, 2, 3).contiguous()   # (n, 3, T, H, W)
            if vae is not None:
                latents.append(encode_latents(vae, video))
            videos.append(video)
            clips += kept
        if progress is not None:
            progress(len(chunk))
    if not clips:
        raise DataError("every clip was dropped (implausible camera steps)")
    c2w = torch.stack([c.c2w.cpu() for c in clips])                           # (N, T, 4, 4)
    tensors = {"c2w": c2w.double()}                   # float64: the controls are encoded from these
    info: dict = {"world_seeds": seeds, "kind": spec.kind, "width": spec.width, "height": spec.height,
                  "frames": spec.frames, "dropped": dropped, "controls": {}}
    if keep_video or vae is None:
        tensors["video"] = torch.cat(videos)
    if vae is not None:
        tensors["latents"] = torch.cat(latents)
    if spec.kind == "pose":
        packets = [[{"pose": {"keypoints": k.reshape(-1).tolist()}} for k in c.keypoints] for c in clips]
        tensors["controls"] = packet_controls(packets, "pose", spec, {})
        info["controls"] = {"pose": {}}
    bank = ClipBank(tensors, [c.caption for c in clips], info)
    if spec.camera:
        add_camera_controls(bank, spec)
    return bank


def add_camera_controls(bank: ClipBank, spec: BankSpec, walk: bool = True) -> None:
    """The bank's camera `controls` from its poses (`c2w`), encoded as the worker encodes the
    client's packets; scales measured on these poses unless spec.scales gives them. `walk`: the
    reference world's walks, whose packets keep the eye height (else the poses as they are)."""
    if walk:
        packets = [walk_packets(c.numpy(), spec.eye_height) for c in bank.tensors["c2w"]]
    else:
        packets = [[{"camera": {"c2w": p.reshape(-1).tolist()}} for p in c.double().numpy()] for c in bank.tensors["c2w"]]
    poses = np.stack([[np.asarray(p["camera"]["c2w"]).reshape(4, 4) for p in clip] for clip in packets])
    scales = spec.scales if spec.scales is not None else camera_scales(poses, spec)
    config = {"kind": spec.camera, "fovy_deg": spec.fovy_deg, "scales": list(scales)}
    bank.tensors["controls"] = packet_controls(packets, "camera", spec, config)
    bank.info["controls"] = {"camera": config}


def _render_part(job: tuple[list[int], BankSpec, str]) -> str:
    """In a worker process: one part of a bank (pixels, poses; pose controls), saved to `path`."""
    seeds, spec, path = job
    torch.set_num_threads(1)
    build_bank(seeds, replace(spec, camera=""), None, keep_video=True).save(path)
    return path


def build_bank_parallel(seeds: list[int], spec: BankSpec, workers: int, scratch: str, progress=None) -> ClipBank:
    """build_bank (without a VAE) split over `workers` processes, each rendering its share of the
    world seeds (on spec.device; with several GPUs, round robin over "cuda:0", "cuda:1", ...). The
    camera encoding is measured on the whole bank afterwards, as one process would."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    spec.check()
    gpus = torch.cuda.device_count() if torch.device(spec.device).type == "cuda" else 0
    chunks = [list(c) for c in np.array_split(np.asarray(seeds), min(len(seeds), workers * 4)) if len(c)]
    Path(scratch).mkdir(parents=True, exist_ok=True)
    jobs = [(list(map(int, c)), replace(spec, device=f"cuda:{i % gpus}") if gpus > 1 else spec,
             str(Path(scratch) / f"part_{i:04d}.safetensors")) for i, c in enumerate(chunks)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        paths = []
        for (chunk, _, _), path in zip(jobs, pool.map(_render_part, jobs)):
            paths.append(path)
            if progress is not None:
                progress(len(chunk) * spec.clips_per_seed)
    parts = [ClipBank.load(p) for p in paths]
    tensors = {k: torch.cat([p.tensors[k] for p in parts]) for k in parts[0].tensors}
    info = {**parts[0].info, "world_seeds": seeds, "dropped": sum(p.info["dropped"] for p in parts)}
    bank = ClipBank(tensors, [t for p in parts for t in p.prompts], info)
    for p in paths:
        Path(p).unlink()
    if spec.camera:
        add_camera_controls(bank, spec)
    return bank


def describe(bank: ClipBank) -> str:
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in bank.tensors.items())
    return f"{len(bank)} clips: {shapes}; controls {bank.info.get('controls') or 'none'}"

