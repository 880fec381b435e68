"""`worldsim bench world`: frames/s of the reference world's ray-marcher.

- step_fps: frames/s of `ReferenceRenderer.step` for one session, 4 frames per step: what
  `worldsim play --renderer reference` gets (real-time needs the renderer's fps, 24).
- batch_fps: frames/s of one `render` call over `--batch` cameras (what a dataset stream gets).
- warmup_s: the first call, which includes torch.compile (fast once the compile cache is warm).
The cameras walk through the world with the real CameraRig, so terrain, objects and sky vary.
"""
from __future__ import annotations

import json
import os
import platform
import time

import numpy as np


def _walk(world, n: int, start: int = 0):
    """n absolute c2w (n, 4, 4) of a player walking forward and turning, through the CameraRig."""
    from worldsim.controls.camera_rig import CameraRig
    x, z = world.spawn_point(start)
    rig = CameraRig(ground_height=lambda xs, zs: np.array([world.terrain.ground_height(xs[0], zs[0])]),
                    position=(x, 0.0, z), yaw=float(start * 37 % 360))
    return np.stack([rig.step({"move_forward": 1.0, "turn_left": float(i % 48 < 12)}) for i in range(n)])


def run(device: str = "cpu", width: int = 128, height: int = 128, batch: int | None = None,
        seconds: float = 5.0, seed: int = 0, compile: bool = True, threads: int | None = None) -> dict:
    import torch   # here, not at import: listing commands must not load torch

    from worldsim.worlds.raymarch import SceneStack
    from worldsim.worlds.renderer import ReferenceRenderer
    from worldsim.worlds.world import build_world
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device here")
    batch = batch or (512 if device.startswith("cuda") else 4)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    renderer = ReferenceRenderer(width, height, device=device, compile=compile, camera_height="absolute",
                                 threads=threads)
    session = renderer.open(seed)
    world_cams = _walk(build_world(seed), max(batch, 400))
    packets = [{"camera": {"c2w": c.ravel().tolist()}} for c in world_cams]

    t0 = time.perf_counter()
    renderer.step([session], [packets[:1]])                                   # compiles if needed
    warmup = time.perf_counter() - t0

    def timed(fn, frames_per_call):
        fn(0)
        sync()
        calls, cpu0, t0 = 0, time.process_time(), time.perf_counter()
        while time.perf_counter() - t0 < seconds or calls < 3:
            fn(calls + 1)
            calls += 1
        sync()
        wall = time.perf_counter() - t0
        return calls * frames_per_call / wall, wall / calls * 1e3, (time.process_time() - cpu0) / wall

    def one_step(i):
        k = 1 + (4 * i) % 390
        renderer.step([session], [packets[k:k + 4]])
    step_fps, step_ms, step_cpu = timed(one_step, 4)

    scene = renderer.scene(seed)
    cams = torch.from_numpy(world_cams[:batch]).float().to(device)
    K = renderer.K.to(device).expand(batch, 3, 3)

    def one_batch(i):
        renderer.render(SceneStack([scene]), torch.zeros(batch, dtype=torch.long), cams, K)
    batch_fps, batch_ms, _ = timed(one_batch, batch)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else \
        f"{platform.machine()} cpu, {renderer.threads or torch.get_num_threads()} of {os.cpu_count()} threads"
    return {"device": name, "size": f"{width}x{height}", "compiled": compile, "warmup_s": round(warmup, 2),
            "step_fps": round(step_fps, 1), "step_ms": round(step_ms, 2), "batch": batch,
            "batch_fps": round(batch_fps, 1), "batch_ms": round(batch_ms, 2),
            "cpu_busy_during_steps": round(step_cpu, 2), "load_average_1m": round(os.getloadavg()[0], 2),
            "torch": torch.__version__}


def register(sub) -> None:
    p = sub.add_parser("world", help="frames/s of the reference world's ray-marcher (CPU or GPU)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--size", default="128x128", metavar="WxH", help="frame size, multiples of 8")
    p.add_argument("--batch", type=int, default=None, help="cameras per render call (default 4 on CPU, 512 on GPU)")
    p.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    p.add_argument("--seed", type=int, default=0, help="world seed")
    p.add_argument("--threads", type=int, default=1, help="CPU threads while rendering (default 1)")
    p.add_argument("--no-compile", action="store_true", help="run the eager code (no torch.compile)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from worldsim.errors import WorldsimUserError
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise WorldsimUserError(f"--size must look like 128x128, got {args.size!r}") from None
    from worldsim.devices import require_device
    require_device(args.device)
    try:
        result = run(args.device, width, height, args.batch, args.seconds, args.seed, not args.no_compile,
                     args.threads)
    except (RuntimeError, ValueError) as err:
        raise WorldsimUserError(str(err)) from None
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        print(f"{key:<24}{value}")
    return 0
