"""`worldsim bench controls`: what controls cost per video frame (client) and per latent frame (worker).

- validate_camera_us / validate_all_us: validate_packet on a camera packet / a camera+pose+actions
  packet (the worker runs it on every packet).
- tick_all_us: PacketBuilder.tick for camera+pose+actions (the game process, every tick).
- encode_<kind>_ms: one latent frame (4 packets) through that kind's encoder on the latent grid of
  --size (H/8 x W/8).
"""
from __future__ import annotations

import json
import os
import platform
import time

from worldsim.controls import PacketBuilder, ScriptedInput, validate_packet
from worldsim.controls.script import wander_script

KINDS = ["camera", "pose", "actions"]


def _per_call(fn, seconds: float) -> float:
    """Mean seconds per call over a timed loop of at least `seconds`."""
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        n += 100
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return elapsed / n


def run(width: int, height: int, seconds: float) -> dict:
    from worldsim.controls.encoding import ControlEncoders   # torch: loaded only when the bench runs
    script: ScriptedInput = wander_script(0, 10_000)
    builder = PacketBuilder(KINDS)
    packets = [builder.tick(script.sample()) for _ in range(2000)]
    camera = {"camera": packets[-1]["camera"]}
    it = iter(range(10**9))
    result = {
        "validate_camera_us": _per_call(lambda: validate_packet(camera, ["camera"]), seconds) * 1e6,
        "validate_all_us": _per_call(lambda: validate_packet(packets[-1], KINDS), seconds) * 1e6,
        "tick_all_us": _per_call(lambda: builder.tick(script.sample()), seconds) * 1e6,
    }
    for kind in KINDS:
        enc = ControlEncoders([kind], height // 8, width // 8)
        enc.encode(packets[:1])
        result[f"encode_{kind}_ms"] = _per_call(
            lambda: enc.encode(packets[(k := next(it) % 400) * 4 + 1: k * 4 + 5]), seconds) * 1e3
    return {"size": f"{width}x{height}", "latent_grid": f"{width // 8}x{height // 8}",
            **{k: round(v, 2) for k, v in result.items()},
            "machine": f"{platform.machine()} cpus={os.cpu_count()}", "torch_threads": _threads()}


def _threads() -> int:
    import torch
    return torch.get_num_threads()


def register(sub) -> None:
    p = sub.add_parser("controls", help="cost of packet validation, rigs and control encoders")
    p.add_argument("--size", default="736x416", metavar="WxH", help="frame size (latent grid = size / 8)")
    p.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_main)


def _main(args) -> int:
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    result = run(width, height, args.seconds)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<20}  {value}")
    return 0
