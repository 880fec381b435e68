"""Clips from the reference world: an endless on-the-fly stream, for training on any device.

    stream = ClipStream(seed=0, frames=48, width=128, height=128, device="cuda")
    for clip in stream:          # endless; deterministic for (seed, index); or stream.batches(16)
        clip.frames              # uint8 (T, H, W, 3) on the device
        clip.c2w, clip.K         # (T, 4, 4) float64 world camera-to-world (OpenCV), (T, 3, 3) intrinsics
        clip.actions             # (T, A) float32, columns ACTION_NAMES: the named actions per frame
        clip.caption, clip.segments
        clip.keypoints           # (T, 17, 3) normalised COCO-17 x, y, visibility (pose clips)

Clip i of a stream uses world seed `seed * 100_000 + i // clips_per_world` (worlds are reused
for a few clips: building one costs more than rendering a clip) and its own player and spawn point.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from .captions import caption, storyboard
from .player import POSE_MOVES, Player, walk_cameras
from .raymarch import EAGER, Scene, SceneStack, cpu_threads, render
from .world import build_world

PUPPET_FOVY = 50.0


def action_names() -> tuple[str, ...]:
    from ..controls.actions import AXES, BUTTONS
    return BUTTONS + AXES


@dataclass
class Clip:
    kind: str                     # "camera" (a walk through a world) | "pose" (the puppet scene)
    seed: int                     # world seed (camera) or look seed (pose)
    frames: torch.Tensor          # (T, H, W, 3) uint8
    c2w: torch.Tensor             # (T, 4, 4) float64, world camera-to-world, OpenCV: the rig's poses
                                  # as a client sends them (the ray-marcher renders them as float32)
    K: torch.Tensor               # (T, 3, 3) float32
    actions: torch.Tensor         # (T, A) float32, columns action_names()
    caption: str
    segments: list[dict] = field(default_factory=list)     # start, end, move, text
    keypoints: torch.Tensor | None = None                  # (T, 17, 3) pose clips

    def __len__(self) -> int:
        return self.frames.shape[0]


def _action_matrix(actions: list[dict[str, float]]) -> torch.Tensor:
    names = action_names()
    return torch.tensor([[a.get(n, 0.0) for n in names] for a in actions], dtype=torch.float32)


def _intrinsics(width: int, height: int, fovy_deg: float, frames: int) -> torch.Tensor:
    from ..controls.camera_rig import intrinsics
    return torch.tensor(intrinsics(width, height, fovy_deg), dtype=torch.float32).expand(frames, 3, 3).clone()


def camera_clips(walks: list[tuple[int, int]], frames: int = 48, width: int = 128, height: int = 128,
                 device="cpu", kernels=EAGER, scenes: dict[int, Scene] | None = None,
                 max_batch: int = 64) -> list[Clip]:
    """Walks of `frames` video frames, one per (world seed, player seed), each driven by a
    stochastic player through the CameraRig; all their frames render in batched calls of up to
    `max_batch` cameras, across worlds."""
    scenes = {} if scenes is None else scenes
    seeds = sorted({w for w, _ in walks})
    for w in seeds:
        if w not in scenes:
            scenes[w] = Scene.from_world(build_world(w), device)
    stack = SceneStack([scenes[w] for w in seeds])
    plans, cams = [], []
    for world_seed, player_seed in walks:
        world = build_world(world_seed)
        plan = Player(player_seed).plan(frames)
        actions = plan.actions()
        c2w = walk_cameras(world, actions, start=world.spawn_point(player_seed), yaw=float(player_seed * 47 % 360))
        plans.append((world, plan, actions, c2w))
        cams.append(torch.from_numpy(c2w))
    cams = torch.cat(cams)                                                    # (N*T, 4, 4) float64
    view = cams.float()                                                       # what the ray-marcher takes
    world_index = torch.tensor([seeds.index(w) for w, _ in walks]).repeat_interleave(frames)
    K = _intrinsics(width, height, 60.0, cams.shape[0])
    with torch.inference_mode():
        video = torch.cat([render(stack, view[i:i + max_batch], K[i:i + max_batch], height, width,
                                  world_index[i:i + max_batch], kernels) for i in range(0, cams.shape[0], max_batch)])
    out = []
    for i, ((world_seed, _), (world, plan, actions, c2w)) in enumerate(zip(walks, plans)):
        t = slice(i * frames, (i + 1) * frames)
        out.append(Clip("camera", world_seed, video[t], cams[t], K[t], _action_matrix(actions),
                        caption(world, plan.moves, c2w), storyboard(world, plan.moves, c2w)))
    return out


def pose_clip(seed: int, frames: int = 48, width: int = 128, height: int = 128, device="cpu",
              max_batch: int = 16) -> Clip:
    """The puppet scene: a character driven through controls.PoseRig by a stochastic player."""
    from ..controls.pose_rig import PoseRig
    from .puppet import render_puppet
    rig = PoseRig(width=width, height=height, fovy_deg=PUPPET_FOVY)
    plan = Player(seed, moves=POSE_MOVES).plan(frames)
    actions = plan.actions()
    kp2d, kp3d = [], []
    for a in actions:
        kp2d.append(rig.step(a).copy())
        kp3d.append(rig.keypoints3d.copy())
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = rig.cam_rot, rig.cam_pos
    cams = torch.tensor(c2w, dtype=torch.float64).expand(frames, 4, 4).clone()
    K = _intrinsics(width, height, PUPPET_FOVY, frames)
    joints = torch.tensor(np.stack(kp3d), dtype=torch.float32, device=device)
    with torch.inference_mode():
        parts = [render_puppet(joints[i:i + max_batch], cams[i:i + max_batch].to(device, torch.float32),
                               K[i:i + max_batch].to(device), height, width, look=seed)
                 for i in range(0, frames, max_batch)]
    text = "a person " + ", then ".join(m.phrase for m in plan.moves) + " in a studio"
    segments = [{"start": m.start, "end": m.end, "move": m.name, "text": f"a person {m.phrase}"} for m in plan.moves]
    return Clip("pose", seed, torch.cat(parts), cams, K, _action_matrix(actions), text, segments,
                torch.tensor(np.stack(kp2d), dtype=torch.float32))


class ClipStream:
    """Endless clips rendered on the fly (deterministic: clip i depends only on seed and i)."""

    def __init__(self, seed: int = 0, frames: int = 48, width: int = 128, height: int = 128,
                 device: str = "cpu", kind: str = "camera", clips_per_world: int = 8, compile: bool = True,
                 start: int = 0, threads: int | None = 1):
        if kind not in ("camera", "pose"):
            raise ValueError(f"clip kind must be 'camera' or 'pose', got {kind!r}")
        if frames < 1:
            raise ValueError(f"clips need at least one frame, got {frames}")
        self.seed, self.frames, self.width, self.height = seed, frames, width, height
        self.device, self.kind, self.clips_per_world, self.start = torch.device(device), kind, clips_per_world, start
        self._compile, self.threads = compile, (threads if self.device.type == "cpu" else None)
        self.max_batch = 512 if self.device.type == "cuda" else 16
        self._scenes: dict[int, Scene] = {}

    def world_seed(self, index: int) -> int:
        return self.seed * 100_000 + index // self.clips_per_world

    def clip(self, index: int) -> Clip:
        return self.batch(index, 1)[0]

    def batch(self, start: int, count: int) -> list[Clip]:
        """Clips start .. start+count-1, rendered together (one batched call per `max_batch` frames)."""
        with cpu_threads(self.threads):
            indices = range(start, start + count)
            if self.kind == "pose":
                return [pose_clip(self.seed * 1_000_003 + i, self.frames, self.width, self.height, self.device)
                        for i in indices]
            from .compiled import kernels_for
            walks = [(self.world_seed(i), self.seed * 1_000_003 + i) for i in indices]
            keep = {w for w, _ in walks}
            self._scenes = {w: s for w, s in self._scenes.items() if w in keep}   # drop worlds left behind
            return camera_clips(walks, self.frames, self.width, self.height, self.device,
                                kernels_for(self.device, self._compile), self._scenes, self.max_batch)

    def batches(self, clips_per_batch: int):
        """Endless lists of clips, each list rendered together: the way to feed a GPU."""
        for start in itertools.count(self.start, clips_per_batch):
            yield self.batch(start, clips_per_batch)

    def __iter__(self):
        for index in itertools.count(self.start):
            yield self.clip(index)
