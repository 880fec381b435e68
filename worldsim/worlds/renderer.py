"""`reference`: the ray-marched reference world as a renderer backend of the runtime.

    worldsim play --renderer reference

Each session's seed picks a world (built once, cached). Packets carry {"camera": {"c2w": [16]}}
from the client's CameraRig, which knows no terrain: by default (`camera_height="above_ground"`)
the c2w's y is the eye height above the ground, and the renderer adds the ground height (terrain,
or the water surface over water) at the camera's (x, z); the client's origin (x, z) = (0, 0) is
placed at the world's spawn point, on dry land. `camera_height="absolute"` takes c2w as
world coordinates (what the datasets store). Intrinsics come from `fovy_deg`.
A step renders every frame of every session in one batched ray-march call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..rendering import RendererError, RendererSpec
from .march import bilinear
from .raymarch import Scene, SceneStack, cpu_threads, render, tile_size
from .world import build_world

MIN_CLEARANCE = 0.5       # metres: no camera goes underground (a fly-mode rig starts at y = 0)
HEIGHT_RULES = {
    "above_ground": "c2w translation y is the eye height above the ground (terrain, or the water "
                    "surface over water) at the camera's (x, z); the renderer adds the ground height "
                    "and keeps every camera at least 0.5 m above the ground (a flying camera follows "
                    "the terrain)",
    "absolute": "c2w is in world coordinates",
}


@dataclass
class ReferenceSession:
    seed: int
    prompt: str
    steps: int = 0


def intrinsics(width: int, height: int, fovy_deg: float) -> np.ndarray:
    f = (height / 2.0) / np.tan(np.radians(fovy_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


class ReferenceRenderer:
    """Renderer protocol implementation (worldsim.rendering) over the reference world."""

    def __init__(self, width: int = 128, height: int = 128, fps: float = 24.0, device: str = "cpu",
                 fovy_deg: float = 60.0, camera_height: str = "above_ground", compile: bool | None = None,
                 threads: int | None = 1):
        try:
            tile_size(height, width)
        except ValueError as err:
            raise ValueError(f"reference renderer: {err}") from None
        if camera_height not in HEIGHT_RULES:
            raise ValueError(f"camera_height must be one of {sorted(HEIGHT_RULES)}, got {camera_height!r}")
        from ..controls.packets import PACKET_SCHEMAS
        self.device = torch.device(device)
        self.width, self.height, self.fovy_deg = int(width), int(height), float(fovy_deg)
        self.camera_height = camera_height
        # CPU threads used while rendering (restored after each step). One is the default: the
        # fused kernels gain little from a second thread on a small CPU, and lose badly when the
        # other core is busy (OpenMP threads wait on each other), e.g. with the game's display.
        self.threads = None if self.device.type != "cpu" or not threads else int(threads)
        # compile when it pays: always on GPU; on CPU from 64x64 up (tiny renders are fast eagerly;
        # the CPU kernels are compiled ahead of time once, then load in a second: compiled.py)
        auto = self.device.type == "cuda" or width * height >= 64 * 64
        self.compile = auto if compile is None else bool(compile)
        self._kernels = None
        self._scenes: dict[int, Scene] = {}
        self._origins: dict[int, tuple[float, float]] = {}   # seed -> spawn point (x, z) of the client origin
        self._stacks: dict[tuple[int, ...], SceneStack] = {}
        self.K = torch.tensor(intrinsics(width, height, fovy_deg), dtype=torch.float32)
        self.spec = RendererSpec(
            name="reference", width=self.width, height=self.height, fps=float(fps),
            frames_per_step=4, first_step_frames=1,
            control_kinds={"camera": PACKET_SCHEMAS["camera"]},
            info={"fovy_deg": self.fovy_deg, "camera_height": camera_height,
                  "camera_height_rule": HEIGHT_RULES[camera_height], "world_size_m": 1024.0,
                  "world": "procedural terrain from the session seed; wraps around every 1024 m",
                  "device": str(self.device), "compiled": self.compile}, static_batches=self.compile)

    @property
    def kernels(self):
        if self._kernels is None:   # eager until a CPU package build is done (background.py)
            from .background import kernels_soon
            self._kernels = kernels_soon(self.device, self.compile)
        return self._kernels.current()

    def scene(self, seed: int) -> Scene:
        if seed not in self._scenes:
            world = build_world(seed)
            self._scenes[seed] = Scene.from_world(world, self.device)
            self._origins[seed] = world.spawn_point()
        return self._scenes[seed]

    def open(self, seed: int, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> ReferenceSession:
        """A session in world `seed`. `first_frame` is ignored: the world draws its own start."""
        unknown = set(controls) - set(self.spec.control_kinds)
        if unknown:
            raise RendererError(f"reference accepts controls {sorted(self.spec.control_kinds)}, got {sorted(unknown)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise RendererError(f"reference: seed must be a non-negative integer, got {seed!r}")
        self.scene(int(seed))
        return ReferenceSession(int(seed), prompt)

    def close(self, state: ReferenceSession) -> None:
        state.steps = -1

    def snapshot(self, state: ReferenceSession) -> dict:
        """The session's state (World.snapshot): its world seed, prompt and step count."""
        return {"seed": state.seed, "prompt": state.prompt, "steps": state.steps}

    def restore(self, state: ReferenceSession, snap: dict) -> None:
        self.scene(int(snap["seed"]))
        state.seed, state.prompt, state.steps = int(snap["seed"]), str(snap["prompt"]), int(snap["steps"])

    def step(self, states: Sequence[ReferenceSession], packets: Sequence[Sequence[dict]]) -> list[np.ndarray]:
        if len(states) != len(packets):
            raise ValueError(f"{len(states)} sessions but {len(packets)} packet lists")
        cameras, counts = [], []
        for index, (state, session_packets) in enumerate(zip(states, packets)):   # validate all first
            if state.steps < 0:
                raise RendererError("reference: this session is closed", index)
            expected = self.spec.frames_for_step(state.steps)
            if len(session_packets) != expected:
                raise RendererError(f"reference: step {state.steps} takes {expected} packets, "
                                    f"got {len(session_packets)}", index)
            cameras += [_c2w(packet, index) for packet in session_packets]
            counts.append(expected)
        seeds = sorted({s.seed for s in states})
        world = torch.tensor([seeds.index(s.seed) for s, n in zip(states, counts) for _ in range(n)])
        c2w = torch.from_numpy(np.stack(cameras)).float()                         # (F_total, 4, 4)
        stack = self._stack(tuple(seeds))
        if self.camera_height == "above_ground":
            # the client's rig starts at (0, 0): put that on dry land, the world's spawn point
            origin = torch.tensor([self._origins[s.seed] for s, n in zip(states, counts) for _ in range(n)])
            c2w[:, 0, 3] += origin[:, 0]
            c2w[:, 2, 3] += origin[:, 1]
            c2w = self.lift(stack, world, c2w)
        K = self.K.expand(c2w.shape[0], 3, 3)
        frames = self.render(stack, world, c2w, K)
        out, start = [], 0
        for state, n in zip(states, counts):
            out.append(frames[start:start + n])
            start += n
            state.steps += 1
        return out

    def render(self, stack: SceneStack, world: torch.Tensor, c2w: torch.Tensor, K: torch.Tensor) -> np.ndarray:
        """One batched ray-march over all cameras. -> uint8 (B, H, W, 3) numpy."""
        with cpu_threads(self.threads), torch.inference_mode():
            return render(stack, c2w, K, self.height, self.width, world, self.kernels).cpu().numpy()

    def lift(self, stack: SceneStack, world: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
        """Add the ground height at each camera's (x, z) to its y (at least MIN_CLEARANCE). (B, 4, 4)."""
        pos = c2w[:, :3, 3].to(stack.height.device)
        base = world.to(stack.height.device) * stack.grid * stack.grid
        ground = bilinear(stack.height[:, 0], base, pos[:, 0], pos[:, 2], stack.grid, stack.grid / stack.size_m)
        out = c2w.clone()
        out[:, 1, 3] = out[:, 1, 3].clamp(min=MIN_CLEARANCE) + ground.cpu()
        return out

    def _stack(self, seeds: tuple[int, ...]) -> SceneStack:
        if seeds not in self._stacks:
            if len(self._stacks) > 16:
                self._stacks.clear()
            self._stacks[seeds] = SceneStack([self.scene(s) for s in seeds])
        return self._stacks[seeds]


def _c2w(packet: dict, index: int) -> np.ndarray:
    from ..controls.packets import validate_packet
    from ..controls.schema import ControlError
    try:
        validate_packet(packet, ["camera"])
    except ControlError as err:
        raise RendererError(f"reference: bad packet: {err}", index) from None
    return np.asarray(packet["camera"]["c2w"], dtype=np.float64).reshape(4, 4)
