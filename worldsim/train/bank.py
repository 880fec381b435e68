"""Clip banks from the reference world (DESIGN §8): a stochastic player walks each world, the
ray-marcher renders what its camera sees, and the VAE encodes the clips.

    worldsim train bank --world-seeds 0-63 --clips-per-seed 4 --frames 17 --size 128x128 \\
        --vae runs/vae/model --camera od --out data/train.safetensors
    worldsim train bank --world-seeds 1000-1007 ... --out data/val.safetensors   # held-out seeds

A clip is 1 + 4k video frames. The player is `wander_script` (held gaits, stops, bursts of mouse
look) driving the camera rig through `PacketBuilder`, so the poses are exactly the packets a
person at the keyboard would send. The bank holds `video` (N, 3, 1+4k, H, W) uint8 (stage 0),
`latents` (N, 1+k, 16, H/8, W/8) with `--vae` (stages base..adversarial), `c2w` (N, 1+4k, 4, 4)
and with `--camera` the `controls` (N, 1+k, 25, H/8, W/8) made by the worker's own encoder
(worldsim.controls ControlEncoders), with per-channel scales measured on the bank's trajectories.
The encoder config lands in the bank's info and from there in every checkpoint trained on it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

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
    fps: float = 24.0
    fovy_deg: float = 60.0
    camera: str = ""                  # "" (no controls) | od | plucker
    device: str = "cpu"
    batch: int = 16                   # clips rendered (and encoded) per call
    compile: bool = False             # torch.compile the ray-marcher (fast after a long first compile)
    scales: list[float] | None = None # camera scales to use (validation banks: the training bank's)

    def check(self) -> None:
        if self.frames < 1 or (self.frames - 1) % 4:
            raise DataError(f"--frames must be 1 + 4k (5, 9, 17, ...), got {self.frames}")
        if self.width % 8 or self.height % 8 or self.width < 8 or self.height < 8:
            raise DataError(f"--size must be multiples of 8, got {self.width}x{self.height}")
        if self.camera not in ("", "od", "plucker"):
            raise DataError(f"--camera must be od or plucker, got {self.camera!r}")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise DataError(f"world seeds must look like 0-15,20 (got {text!r})") from None
    if not seeds or min(seeds) < 0:
        raise DataError(f"world seeds must be non-negative integers, got {text!r}")
    return seeds


def player_walk(seed: int, index: int, spec: BankSpec) -> tuple[np.ndarray, str]:
    """The camera packets' poses (frames, 4, 4) of one seeded player walk in world `seed`, with
    eye height above the ground (as the client sends them), and a caption."""
    from ..controls.camera import implausible_steps
    from ..controls.packets import PacketBuilder
    from ..controls.script import wander_script
    from ..worlds.world import build_world

    world = build_world(seed)
    for attempt in range(8):                          # reject walks with implausible steps
        x, z = world.spawn_point(index + 1000 * attempt)
        yaw = random.Random(seed * 7919 + index).uniform(-180.0, 180.0)
        builder = PacketBuilder(["camera"], fps=spec.fps, fovy_deg=spec.fovy_deg, mode="walk",
                                position=(x, 0.0, z), yaw=yaw)
        script = wander_script(seed * 100_003 + index + 1000 * attempt, spec.frames, spec.fps)
        poses = np.stack([np.asarray(builder.tick(script.sample())["camera"]["c2w"]).reshape(4, 4)
                          for _ in range(spec.frames)])
        if not bool(implausible_steps(poses).any()):
            return poses, f"walks {world.describe(x, z)}"
    raise DataError(f"world {seed}: no plausible walk for clip {index} in 8 attempts")


def render_clips(renderer, seeds: list[int], poses: np.ndarray) -> Tensor:
    """Render clips (one world seed and pose sequence (1+4k, 4, 4) each) -> uint8 (N, 3, 1+4k, H, W)."""
    sessions = [renderer.open(s) for s in seeds]
    frames = [[] for _ in seeds]
    steps = 1 + (poses.shape[1] - 1) // 4
    for step in range(steps):
        lo, hi = (0, 1) if step == 0 else (1 + 4 * (step - 1), 1 + 4 * step)
        packets = [[{"camera": {"c2w": p.reshape(-1).tolist()}} for p in clip[lo:hi]] for clip in poses]
        for out, rendered in zip(frames, renderer.step(sessions, packets)):
            out.append(rendered)                                        # (n, H, W, 3) uint8
    for s in sessions:
        renderer.close(s)
    video = np.stack([np.concatenate(f) for f in frames])               # (N, 1+4k, H, W, 3)
    return torch.from_numpy(video).permute(0, 4, 1, 2, 3).contiguous()


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


def camera_controls(poses: np.ndarray, spec: BankSpec, config: dict) -> Tensor:
    """Per latent frame, the worker's camera encoding: (N, 1+k, 25, H/8, W/8) float32."""
    from ..controls.encoding import ControlEncoders

    h, w = spec.height // 8, spec.width // 8
    out = []
    for clip in poses:
        enc = ControlEncoders(["camera"], h, w, {"camera": config})
        groups = [clip[:1]] + [clip[1 + 4 * i:5 + 4 * i] for i in range((len(clip) - 1) // 4)]
        out.append(torch.stack([enc.encode([{"camera": {"c2w": p.reshape(-1).tolist()}} for p in g])
                                for g in groups]))
    return torch.stack(out)


def camera_scales(poses: np.ndarray, spec: BankSpec) -> list[float]:
    """The 6 ray-channel scales measured on the bank's walks. A channel that never moves (the
    camera height of a walk) keeps the library's default scale instead of a tiny one, so a
    player who flies at play time does not feed the model huge values."""
    from ..controls.camera import DEFAULT_SCALES, measure_scales

    measured = measure_scales(list(poses), spec.camera, spec.fovy_deg, spec.height // 8, spec.width // 8)
    return [round(m if m > 1e-3 else d, 6) for m, d in zip(measured, DEFAULT_SCALES[spec.camera])]


def build_bank(seeds: list[int], spec: BankSpec, vae=None, keep_video: bool = True, progress=None) -> ClipBank:
    """Walk, render, encode: clips_per_seed clips from each world seed."""
    from ..worlds.renderer import ReferenceRenderer

    spec.check()
    renderer = ReferenceRenderer(spec.width, spec.height, spec.fps, spec.device, spec.fovy_deg, compile=spec.compile)
    clips = [(s, i) for s in seeds for i in range(spec.clips_per_seed)]
    walks, videos, latents = [], [], []
    for start in range(0, len(clips), spec.batch):      # walk and render a chunk while its worlds are cached
        chunk = [(s, i, *player_walk(s, i, spec)) for s, i in clips[start:start + spec.batch]]
        walks += chunk
        video = render_clips(renderer, [w[0] for w in chunk], np.stack([w[2] for w in chunk]))
        if vae is not None:
            latents.append(encode_latents(vae, video))
        videos.append(video)
        if progress is not None:
            progress(len(chunk))
    poses = np.stack([w[2] for w in walks])
    tensors = {"c2w": torch.from_numpy(poses).float()}
    info: dict = {"world_seeds": seeds, "width": spec.width, "height": spec.height, "fps": spec.fps,
                  "frames": spec.frames, "controls": {}}
    if keep_video or vae is None:
        tensors["video"] = torch.cat(videos)
    if vae is not None:
        tensors["latents"] = torch.cat(latents)
    if spec.camera:
        scales = spec.scales if spec.scales is not None else camera_scales(poses, spec)
        config = {"kind": spec.camera, "fovy_deg": spec.fovy_deg, "scales": list(scales)}
        tensors["controls"] = camera_controls(poses, spec, config)
        info["controls"] = {"camera": config}
    return ClipBank(tensors, [w[3] for w in walks], info)


def describe(bank: ClipBank) -> str:
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in bank.tensors.items())
    return f"{len(bank)} clips: {shapes}; controls {bank.info.get('controls') or 'none'}"

