"""Train a tiny world model on CPU: reference-world clips, then real training steps of the tiny preset.

    python examples/train_tiny.py --out runs/tiny                 # about a minute on a laptop CPU
    python examples/train_tiny.py --out runs/tiny --steps 3 --clips 2

It runs worldsim's own training commands (docs/train.md), as you would in a shell:
`worldsim train bank` renders walks of the reference world into a pixel clip bank, then
`worldsim train vae` trains stage 0 (the causal VAE) of the `tiny` preset for a few steps and
exports a checkpoint. The loss of every step is printed from the run's log.jsonl.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from worldsim.cli import main as worldsim

CONFIG = """stage = "vae"
[model]
preset = "tiny"
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
checkpoint_every = 1000
device = "cpu"
tensorboard = false
progress = false
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="runs/tiny", help="folder for the bank, the config and the run")
    p.add_argument("--steps", type=int, default=20, help="training steps")
    p.add_argument("--clips", type=int, default=4, help="clips in the bank (walks of world seed 0)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bank = out / "clips.safetensors"

    code = worldsim(["train", "bank", "--world-seeds", "0", "--clips-per-seed", str(args.clips),
                     "--frames", "5", "--size", "32x32", "--out", str(bank)])
    if code:
        raise SystemExit(code)
    config = out / "vae.toml"
    config.write_text(CONFIG.format(bank=bank.as_posix(), steps=args.steps, out=(out / "vae").as_posix()))
    code = worldsim(["train", "vae", "--config", str(config)])
    if code:
        raise SystemExit(code)

    log = [json.loads(line) for line in (out / "vae" / "log.jsonl").read_text().splitlines()]
    for row in log:
        print(f"step {row['step']:3d}  loss {row['loss']:.4f}")
    print(f"trained {len(log)} steps: loss {log[0]['loss']:.4f} -> {log[-1]['loss']:.4f}; "
          f"model in {out / 'vae' / 'model'}")


if __name__ == "__main__":
    main()
