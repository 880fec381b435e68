"""Fine-tuning stage of the long-form model: `python -m worldsim_ttt.train ...`.

    python -m worldsim_ttt.train --preset tiny --films 2 --scenes 3 --seconds-per-segment 0.5 \
        --size 32x32 --steps 20 --out runs/ttt-tiny
    python -m worldsim_ttt.train --checkpoint runs/base/model --films 64 --scenes 10 --steps 5000 \
        --out runs/ttt                                    # a GPU run: --device cuda

Data: multi-scene films of the reference world (data.py), one caption per scene, encoded by the
model's VAE; one model segment per scene. Loss: the base's flow matching on whole films:
x_t = (1 - t) x0 + t eps with one t ~ shift(U(0, 1), s) per film, v-prediction v = eps - x0, MSE;
captions dropped to "" with probability --text-dropout (for CFG). AdamW with two groups: the base at
--lr, the TTT layers at --lr x TTTConfig.lr_scale. Writes a checkpoint `worldsim ttt render
--checkpoint` loads.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import Tensor

from .longform import LongFormModel


def film_loss(model: LongFormModel, x0: Tensor, prompts: list[list[str]], s: float = 3.0,
              text_dropout: float = 0.0, gen: torch.Generator | None = None) -> Tensor:
    """Flow-matching MSE on clean films x0 (B, S, n, C, h, w) with prompts [B][S]."""
    from worldsim.train.adapt import shift

    b = x0.shape[0]
    t = shift(torch.rand(b, generator=gen), s).to(x0)
    eps = torch.randn(x0.shape, generator=gen).to(x0)
    flat = [p for film in prompts for p in film]
    if text_dropout > 0:
        keep = (torch.rand(len(flat), generator=gen) >= text_dropout).tolist()
        flat = [p if k else "" for p, k in zip(flat, keep)]
    text = model.base.text_encoder(flat).unflatten(0, (b, x0.shape[1]))
    noisy = (1 - t.view(-1, 1, 1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1, 1, 1) * eps
    return (model(noisy, t, text).float() - (eps - x0)).pow(2).mean()


def train_steps(model: LongFormModel, x0: Tensor, prompts: list[list[str]], steps: int, lr: float = 1e-4,
                s: float = 3.0, text_dropout: float = 0.0, seed: int = 0, fixed_noise: bool = False,
                log=None) -> list[float]:
    """`steps` AdamW steps on (x0, prompts); fixed_noise: the same t and eps every step (an overfit check)."""
    model.train()
    model.base.vae.requires_grad_(False)
    opt = torch.optim.AdamW(model.param_groups(lr), betas=(0.9, 0.99))
    gen, losses = torch.Generator().manual_seed(seed), []
    for step in range(steps):
        if fixed_noise:
            gen.manual_seed(seed)
        loss = film_loss(model, x0, prompts, s, text_dropout, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        losses.append(loss.item())
        if log is not None:
            log(step, losses[-1])
    return losses


def main(argv: list[str] | None = None) -> int:
    from worldsim.errors import WorldsimUserError

    p = argparse.ArgumentParser(prog="python -m worldsim_ttt.train", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a worldsim base checkpoint (stage base) or a long-form one")
    src.add_argument("--preset", help="random weights of a preset (tiny: a CPU check)")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--films", type=int, default=2)
    p.add_argument("--scenes", type=int, default=3, help="scenes (model segments) per film")
    p.add_argument("--seconds-per-segment", type=float, default=3.0)
    p.add_argument("--size", default="", help="WxH to render at (default: the model's)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--shift", type=float, default=3.0)
    p.add_argument("--text-dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except WorldsimUserError as err:
        print(f"python -m worldsim_ttt.train: error: {err}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from worldsim.errors import WorldsimUserError

    from .data import encode_films, long_clips
    from .longform import build_longform
    from .render import latent_frames

    if args.films < 1 or args.scenes < 1 or args.steps < 0:
        raise WorldsimUserError("--films and --scenes must be >= 1 and --steps >= 0")
    model = build_longform(args.preset, args.checkpoint, device=args.device, seed=args.seed)
    cfg = model.base.cfg
    try:
        width, height = (int(v) for v in args.size.lower().split("x")) if args.size else (cfg.width, cfg.height)
    except ValueError:
        raise WorldsimUserError(f"--size must look like 128x128, got {args.size!r}") from None
    if width % 8 or height % 8 or width < 8 or height < 8:
        raise WorldsimUserError(f"--size must be multiples of 8, got {width}x{height}")
    n = latent_frames(args.seconds_per_segment, cfg.fps)
    started = time.time()
    films = long_clips(args.films, args.scenes, 1 + 4 * (n - 1), width, height, args.seed, args.device)
    x0 = encode_films(model.base.vae, films).to(args.device)
    print(f"data: {len(films)} films x {args.scenes} scenes x {n} latent frames at {width}x{height} "
          f"({time.time() - started:.1f} s)")
    losses = train_steps(model, x0, [f.captions for f in films], args.steps, args.lr, args.shift,
                         args.text_dropout, args.seed,
                         log=lambda i, v: print(f"step {i + 1}/{args.steps} loss {v:.4f}", flush=True))
    path = model.eval().save(args.out)
    first, last = (f"{losses[0]:.4f}", f"{losses[-1]:.4f}") if losses else ("-", "-")
    print(f"{path}: long-form checkpoint (loss {first} -> {last})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
