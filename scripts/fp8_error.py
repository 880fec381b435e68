"""The fp8 option's error on a trained model: the aapt renderer with the embedded checkpoint
(worldsim/assets/default) plays the same seed and camera path twice, full precision (float32) and
with `mode`, and compares the generated latents (relative L2, PSNR) and the uint8 frames (PSNR).
docs/BENCHMARKS.md (model step, FP8 linears).

    python scripts/fp8_error.py 40 fp8         # fp8 block linears (float32 elsewhere) vs float32
    python scripts/fp8_error.py 40 bf16        # bf16 vs float32: the yardstick
    python scripts/fp8_error.py 40 bf16+fp8    # the GPU configuration: bf16 with fp8 block linears
"""
import sys

import numpy as np

from worldsim.eval.images import mse, psnr_from_mse
from worldsim.models.fp8 import psnr_db, relative_error
from worldsim.models.renderer import AaptRenderer
from worldsim.runtime.play import EMBEDDED_CHECKPOINT

MODES = {"fp8": {"fp8": True}, "bf16": {"dtype": "bfloat16"}, "bf16+fp8": {"dtype": "bfloat16", "fp8": True}}


def camera_packets(start: int, count: int) -> list[dict]:
    """A camera walking forward and turning (tests/models/test_renderer.py's path)."""
    out = []
    for f in range(start, start + count):
        c, s = np.cos(0.05 * f), np.sin(0.05 * f)
        c2w = np.eye(4)
        c2w[:3, :3] = [[c, 0, -s], [0, -1, 0], [-s, 0, -c]]
        c2w[:3, 3] = [0.0, 1.0, -0.1 * f]
        out.append({"camera": {"c2w": c2w.reshape(-1).tolist()}})
    return out


def play(steps: int, **options):
    r = AaptRenderer(checkpoint=str(EMBEDDED_CHECKPOINT), threads=1, **options)
    s = r.open(seed=1)
    frames, latents = [r.step([s], [camera_packets(0, 1)])[0]], []
    for k in range(1, steps):
        frames.append(r.step([s], [camera_packets(1 + 4 * (k - 1), 4)])[0])
        latents.append(r.model.generator.prev_latent[s.slot].float().clone())
    return frames, latents, r.spec.info


steps, mode = int(sys.argv[1]), sys.argv[2]
fa, la, _ = play(steps)
fb, lb, info = play(steps, **MODES[mode])
errs = [relative_error(b, a) for a, b in zip(la, lb)]
psnrs = [float(psnr_from_mse(mse(a, b).mean())) for a, b in zip(fa[1:], fb[1:])]   # a step's 4 frames pooled
print(f"{mode} vs float32, {info['preset']} ({info['fp8_linears']} fp8 linears), window {info['window']}, "
      f"{steps - 1} steps: latent relative L2 first {errs[0]:.4f} last {errs[-1]:.4f} worst {max(errs):.4f}, "
      f"latent PSNR last {psnr_db(lb[-1], la[-1]):.1f} dB; frame PSNR first {psnrs[0]:.1f} last {psnrs[-1]:.1f} "
      f"worst {min(psnrs):.1f} dB")
