"""Fine-tuning stage of the long-form model: `python -m worldsim_ttt.train ...`.

    python -m worldsim_ttt.train --preset tiny --films 2 --scenes 3 --seconds-per-segment 0.5 \
        --size 32x32 --steps 20 --out runs/ttt-tiny
    python -m worldsim_ttt.train --checkpoint runs/base/model --films 64 --scenes 10 --steps 5000 \
        --out runs/ttt                                    # a GPU run: --device cuda
    python -m worldsim_ttt.train --resume runs/ttt --steps 8000 --out runs/ttt   # on from its own checkpoint

Data: multi-scene films of the reference world (data.py), one caption per scene, encoded by the
model's VAE; one model segment per scene. Loss: the base's flow matching on whole films:
x_t = (1 - t) x0 + t eps with one t ~ shift(U(0, 1), s) per film, v-prediction v = eps - x0, MSE;
captions dropped to "" with probability --text-dropout (for CFG). AdamW with two groups: the base at
--lr, the TTT layers at --lr x TTTConfig.lr_scale; --batch films per step (drawn without
replacement each step; 0: all). --steps counts from the first step of the first run; --minutes
bounds this run's training loop by wall clock. Writes a checkpoint `worldsim ttt render
--checkpoint` loads, plus train_state.safetensors / train_state.json (AdamW moments, step, noise
generator), from which --resume goes on exactly as if the run had not stopped (same data flags).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from .longform import LongFormModel

STATE_TENSORS, STATE_JSON = "train_state.safetensors", "train_state.json"


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


class FilmTrainer:
    """AdamW on a long-form model, with the step count and noise generator that make a resume exact."""

    def __init__(self, model: LongFormModel, lr: float = 1e-4, seed: int = 0):
        self.model, self.step = model, 0
        model.base.vae.requires_grad_(False)
        self.opt = torch.optim.AdamW(model.param_groups(lr), betas=(0.9, 0.99))
        self.gen = torch.Generator().manual_seed(seed)

    def run(self, x0: Tensor, prompts: list[list[str]], until: int, s: float = 3.0, text_dropout: float = 0.0,
            batch: int = 0, deadline: float | None = None, fixed_noise: int | None = None, log=None) -> list[float]:
        """Steps up to `until` (counted over runs) or `deadline` (time.time()); `batch` films a step
        (0: all); fixed_noise: reseed the generator with it every step (an overfit check)."""
        self.model.train()
        losses = []
        params = [p for g in self.opt.param_groups for p in g["params"]]
        while self.step < until and (deadline is None or time.time() < deadline):
            if fixed_noise is not None:
                self.gen.manual_seed(fixed_noise)
            films, texts = x0, prompts
            if 0 < batch < x0.shape[0]:
                pick = torch.randperm(x0.shape[0], generator=self.gen)[:batch].tolist()
                films, texts = x0[pick], [prompts[i] for i in pick]
            loss = film_loss(self.model, films, texts, s, text_dropout, self.gen)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.opt.step()
            self.step += 1
            losses.append(loss.item())
            if log is not None:
                log(self.step, losses[-1])
        return losses

    def save(self, path: str | Path) -> Path:
        """The model's checkpoint (float32) plus the training state beside it."""
        from safetensors.torch import save_file

        path = self.model.eval().save(path)
        sd = self.opt.state_dict()
        tensors = {f"{i}.{k}": v.detach().contiguous().cpu() for i, st in sd["state"].items() for k, v in st.items()}
        tensors["generator"] = self.gen.get_state()
        save_file(tensors, str(path / STATE_TENSORS))
        (path / STATE_JSON).write_text(json.dumps({"step": self.step, "param_groups": sd["param_groups"]}, indent=1))
        return path

    def load(self, path: str | Path) -> None:
        """The training state `save` wrote to `path` (the model's weights are the checkpoint's)."""
        from safetensors.torch import load_file
        from worldsim.errors import WorldsimUserError

        path = Path(path)
        if not (path / STATE_TENSORS).is_file() or not (path / STATE_JSON).is_file():
            raise WorldsimUserError(f"{path}: no training state ({STATE_JSON}) to resume from; "
                                    "give a checkpoint written by python -m worldsim_ttt.train")
        try:
            meta = json.loads((path / STATE_JSON).read_text())
            tensors = load_file(str(path / STATE_TENSORS))
        except Exception as err:            # truncated or not what save wrote: one line, nothing overwritten
            raise WorldsimUserError(f"{path}: unreadable training state ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0] if str(err) else 'corrupt'})") from None
        state: dict[int, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            if key != "generator":
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = value
        try:
            self.opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        except (ValueError, KeyError) as err:
            raise WorldsimUserError(f"{path}: training state does not fit this model ({err})") from None
        self.gen.set_state(tensors["generator"])
        self.step = int(meta["step"])


def train_steps(model: LongFormModel, x0: Tensor, prompts: list[list[str]], steps: int, lr: float = 1e-4,
                s: float = 3.0, text_dropout: float = 0.0, seed: int = 0, fixed_noise: bool = False,
                log=None) -> list[float]:
    """`steps` AdamW steps on (x0, prompts); fixed_noise: the same t and eps every step (an overfit check)."""
    return FilmTrainer(model, lr, seed).run(x0, prompts, steps, s, text_dropout,
                                            fixed_noise=seed if fixed_noise else None,
                                            log=None if log is None else (lambda i, v: log(i - 1, v)))


def main(argv: list[str] | None = None) -> int:
    from worldsim.errors import WorldsimUserError

    p = argparse.ArgumentParser(prog="python -m worldsim_ttt.train", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a worldsim base checkpoint (stage base) or a long-form one")
    src.add_argument("--preset", help="random weights of a preset (tiny: a CPU check)")
    src.add_argument("--resume", help="a checkpoint this stage wrote: go on with its optimizer state and step")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--films", type=int, default=2)
    p.add_argument("--scenes", type=int, default=3, help="scenes (model segments) per film")
    p.add_argument("--seconds-per-segment", type=float, default=3.0)
    p.add_argument("--size", default="", help="WxH to render at (default: the model's)")
    p.add_argument("--steps", type=int, default=None,
                   help="train until this step, counted over resumed runs (default 20; none with --minutes)")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this run's training loop")
    p.add_argument("--batch", type=int, default=0, help="films per step (0: all of them)")
    p.add_argument("--workers", type=int, default=0, help="render the films in this many processes (0: here)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--shift", type=float, default=3.0)
    p.add_argument("--text-dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", choices=("torch", "triton"), default=None,
                   help="TTT scan (default: triton on CUDA, torch on the CPU)")
    args = p.parse_args(argv)
    try:
        return _run(args)
    except WorldsimUserError as err:
        print(f"python -m worldsim_ttt.train: error: {err}", file=sys.stderr)
        return 2


def parse_size(text: str, default: tuple[int, int]) -> tuple[int, int]:
    """'WxH' (multiples of 8) -> (W, H); '' -> default; else a one-line WorldsimUserError."""
    from worldsim.errors import WorldsimUserError

    try:
        width, height = (int(v) for v in text.lower().split("x")) if text else default
    except ValueError:
        raise WorldsimUserError(f"--size must look like 128x128, got {text!r}") from None
    if width % 8 or height % 8 or width < 8 or height < 8:
        raise WorldsimUserError(f"--size must be multiples of 8, got {width}x{height}")
    return width, height


def _run(args) -> int:
    from worldsim.errors import WorldsimUserError

    from .data import encode_films, long_clips
    from .longform import build_longform
    from .render import latent_frames

    if args.steps is None:
        args.steps = 10**9 if args.minutes else 20
    if args.films < 1 or args.scenes < 1 or args.steps < 0 or args.batch < 0 or args.workers < 0:
        raise WorldsimUserError("--films and --scenes must be >= 1; --steps, --batch and --workers >= 0")
    if args.minutes is not None and not args.minutes > 0:
        raise WorldsimUserError(f"--minutes must be positive, got {args.minutes}")
    if args.resume and not (Path(args.resume) / STATE_JSON).is_file():
        raise WorldsimUserError(f"{args.resume}: no training state ({STATE_JSON}) to resume from")
    backend = args.backend or ("triton" if str(args.device).startswith("cuda") else "torch")
    model = build_longform(args.preset, args.checkpoint or args.resume, device=args.device, seed=args.seed,
                           backend=backend)
    cfg = model.base.cfg
    width, height = parse_size(args.size, (cfg.width, cfg.height))
    n = latent_frames(args.seconds_per_segment, cfg.fps)
    started = time.time()
    films = long_clips(args.films, args.scenes, 1 + 4 * (n - 1), width, height, args.seed, workers=args.workers)
    x0 = encode_films(model.base.vae, films).to(args.device)
    print(f"data: {len(films)} films x {args.scenes} scenes x {n} latent frames at {width}x{height} "
          f"({time.time() - started:.1f} s)", flush=True)
    trainer = FilmTrainer(model, args.lr, args.seed)
    if args.resume:
        trainer.load(args.resume)
        print(f"resumed at step {trainer.step} from {args.resume}", flush=True)
    started = time.time()
    deadline = started + 60 * args.minutes if args.minutes else None
    losses = trainer.run(x0, [f.captions for f in films], args.steps, args.shift, args.text_dropout, args.batch,
                         deadline, log=lambda i, v: print(f"step {i} loss {v:.4f} "
                                                          f"({time.time() - started:.0f} s)", flush=True))
    path = trainer.save(args.out)
    first, last = (f"{losses[0]:.4f}", f"{losses[-1]:.4f}") if losses else ("-", "-")
    print(f"{path}: long-form checkpoint at step {trainer.step} (loss {first} -> {last})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
