"""Train a tiny world model on CPU from your own engine's frames and camera poses.

    python examples/train_tiny.py --out runs/tiny                  # a few minutes on a laptop CPU
    python examples/train_tiny.py --out runs/tiny --steps 2 --clips 2

"Your engine" here is worldsim's ray-marched reference world played through `worldsim.open` at
32x32: swap `engine_clips` for your game's capture (RGB frames, the camera-to-world pose of each).
The clips become a bank through the public path, `ClipBank.from_frames` (from files on disk:
`worldsim train bank --from-dir`), then worldsim's own training commands run the `tiny` preset
(docs/train.md): `train vae` (stage 0), `train encode --measure-stats`, `train adapt` (stage 1,
camera-conditioned). The exported checkpoint is stepped with `worldsim.open("aapt", checkpoint=...)`.
"""
import argparse
import json
from pathlib import Path

import numpy as np

import worldsim
from worldsim.cli import main as worldsim_cli
from worldsim.train.data import ClipBank

CONFIG = """[model]
preset = "tiny"
init = "{init}"
control_channels = {channels}
[data]
path = "{bank}"
batch_size = 2
[optim]
lr = 1e-3
warmup_steps = 0
[loop]
steps = {steps}
out_dir = "{out}"
log_every = 1
device = "cpu"
tensorboard = false
progress = false
"""


def engine_clips(clips: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Your engine's output: frames uint8 (N, 1+4k, 32, 32, 3), OpenCV camera-to-world (N, 1+4k, 4, 4)."""
    rng = np.random.default_rng(0)
    videos, poses = [], []
    with worldsim.open("reference", size=(32, 32), in_process=True) as world:
        for clip in range(clips):
            world.reset(seed=clip)
            frames, c2w = [], []
            for _ in range(steps + 1):             # 1 frame, then 4 per step: 1 + 4k
                frames += list(world.step({"move_forward": 1.0, "look_dx": float(rng.uniform(-6, 6))}))
                c2w += [np.reshape(p["camera"]["c2w"], (4, 4)) for p in world.last_packets]
            videos.append(np.stack(frames))
            poses.append(np.stack(c2w))
    return np.stack(videos), np.stack(poses)


def cli(*argv: str) -> None:
    if worldsim_cli(list(argv)):                   # 0 = done; else the error line is printed already
        raise SystemExit(f"worldsim {' '.join(argv)} failed")


def stage(name: str, out: Path, bank: Path, steps: int, init: str = "", channels: int = 0) -> Path:
    """`worldsim train NAME` with the tiny preset; prints the loss of every step; returns the model."""
    config = out / f"{name}.toml"
    config.write_text(CONFIG.format(init=init, channels=channels, bank=bank.as_posix(), steps=steps,
                                    out=(out / name).as_posix()))
    cli("train", name, "--config", str(config))
    for row in map(json.loads, (out / name / "log.jsonl").read_text().splitlines()):
        print(f"{name} step {row['step']:3d}  loss {row['loss']:.4f}")
    return out / name / "model"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="runs/tiny", help="folder for the banks, configs and runs")
    p.add_argument("--steps", type=int, default=20, help="training steps of each stage")
    p.add_argument("--clips", type=int, default=4, help="clips your engine records (9 frames each)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pixels, latents = out / "pixels.safetensors", out / "latents.safetensors"
    videos, c2w = engine_clips(args.clips, steps=2)
    bank = ClipBank.from_frames(videos, c2w, fovy_deg=60.0, camera="od")   # the camera rig's 60 degrees
    bank.save(pixels)
    print(f"bank: {len(bank)} clips of {videos.shape[1]} frames, controls {tuple(bank.tensors['controls'].shape)}")

    vae = stage("vae", out, pixels, args.steps)
    cli("train", "encode", "--bank", str(pixels), "--vae", str(vae), "--measure-stats", "--out", str(latents))
    model = stage("adapt", out, latents, args.steps, init=vae.as_posix(), channels=25)

    with worldsim.open("aapt", checkpoint=str(model), size=(32, 32), in_process=True) as world:
        shapes = [world.step({"move_forward": 1.0, "look_dx": 3.0}).shape for _ in range(3)]
    print(f"checkpoint {model} steps: {shapes}")


if __name__ == "__main__":
    main()
