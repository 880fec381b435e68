"""Can stage 3's discriminator tell a model's own rollouts from the world at all, and at which settings?

Every stage-3 run so far ended with D at chance (d_loss ~ln 2, docs/TRAINING.md). This trains D alone, G frozen,
on real clips against G's free rollouts from their first frames (made once), for each (d_lr, r_lambda) given, and
reports D on clips it never trained on: the relativistic loss without the R1/R2 term (ln 2 = 0.693 is chance)
and how often it ranks the real clip above the fake one (50 % = chance), over noise levels t.

    python scripts/d_probe.py --bank LATENTS.safetensors --model worldsim/assets/default --frames 9 \
        --steps 60 --d-lr 5e-6 5e-5 --r-lambda 1000 10

LATENTS: an encoded bank with controls (`worldsim train encode`), e.g. a few dozen walks of 81 frames.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import time

import torch
import torch.nn.functional as F

from worldsim.errors import WorldsimUserError
from worldsim.models.checkpoint import load_checkpoint
from worldsim.train.adapt import clip_controls, free_rollout, text_tokens
from worldsim.train.adversarial import Discriminator, discriminator_loss
from worldsim.train.config import AdversarialSection
from worldsim.train.data import ClipBank

T_GRID = (0.1, 0.3, 0.5, 0.7, 0.9)


@torch.no_grad()
def rollouts(model, real: torch.Tensor, controls: torch.Tensor, batch: int) -> torch.Tensor:
    gen, out = model.generator, []
    for i in range(0, real.shape[0], batch):
        r, c = real[i:i + batch], controls[i:i + batch]
        text = text_tokens(model, [""] * r.shape[0])
        out.append(free_rollout(gen, r[:, 0], c, text, torch.randn_like(r)))
    return torch.cat(out)


@torch.no_grad()
def judge(d: Discriminator, real, fake, controls, seed: int = 0) -> dict:
    """D on held-out pairs at each t of T_GRID (the same noise for real and fake, as in training)."""
    g = torch.Generator().manual_seed(seed)
    text = d.text_encoder([""] * real.shape[0])
    rows = {}
    for t in T_GRID:
        tt = torch.full((real.shape[0],), t, device=real.device)
        eps = torch.randn(real.shape, generator=g).to(real.device)
        dr, df = d(real, controls, text, tt, eps), d(fake, controls, text, tt, eps)
        rows[t] = (F.softplus(df - dr).mean().item(), (dr > df).float().mean().item())
    return {"loss": sum(v[0] for v in rows.values()) / len(rows),
            "ranked_real_first": sum(v[1] for v in rows.values()) / len(rows),
            "by_t": {f"{t:.1f}": round(v[1], 3) for t, v in rows.items()}}


def main() -> int:
    try:
        probe(parse_args())
    except WorldsimUserError as err:        # a missing or unreadable bank or checkpoint: one line
        print(f"d_probe: {err}", file=sys.stderr)
        return 2
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bank", required=True, help="encoded bank with latents and controls")
    p.add_argument("--model", default="worldsim/assets/default")
    p.add_argument("--frames", type=int, default=9, help="latent frames of each clip used (from its start)")
    p.add_argument("--held-out", type=int, default=8, help="clips D never trains on")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--d-lr", type=float, nargs="+", default=[5e-6])
    p.add_argument("--r-lambda", type=float, nargs="+", default=[1000.0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def probe(args: argparse.Namespace) -> None:
    """Each (d_lr, r_lambda)'s rows, as JSON lines on stdout: step 0, then four times over the steps."""
    torch.manual_seed(args.seed)
    model, _ = load_checkpoint(args.model, device=args.device, dtype=torch.float32)
    model.eval()
    bank = ClipBank.load(args.bank)
    bank.require("latents", "controls", path=args.bank)
    real = bank.tensors["latents"][:, :args.frames].float().to(args.device)
    controls = clip_controls({"controls": bank.tensors["controls"][:, :args.frames]}, real,
                             model.generator.cfg.control_channels)
    start = time.time()
    fake = rollouts(model, real, controls, args.batch)
    print(f"# {real.shape[0]} clips of {args.frames} latent frames, rollouts in {time.time() - start:.0f} s; "
          f"latent MSE fake vs real {(fake - real)[:, 1:].pow(2).mean():.4f}", flush=True)
    n = real.shape[0] - args.held_out
    if n < args.batch:
        raise WorldsimUserError(f"{real.shape[0]} clips less --held-out {args.held_out} leave fewer than --batch "
                                f"{args.batch} to train on")
    held = (real[n:], fake[n:], controls[n:])
    for lr, lam in itertools.product(args.d_lr, args.r_lambda):
        torch.manual_seed(args.seed)
        d = Discriminator(copy.deepcopy(model)).to(args.device).train()
        opt = torch.optim.RMSprop(d.parameters(), lr=lr, alpha=0.9)
        ac = AdversarialSection(r_lambda=lam)          # the loss reads r_lambda and r_sigma; lr is the optimiser's
        row = {"d_lr": lr, "r_lambda": lam, "step": 0, **judge(d.eval(), *held)}
        print(json.dumps(row), flush=True)
        d.train()
        for step in range(1, args.steps + 1):
            idx = torch.randint(0, n, (args.batch,), device=args.device)
            loss = discriminator_loss(d, real[idx], fake[idx], controls[idx], d.text_encoder([""] * args.batch), ac)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % max(1, args.steps // 4) == 0 or step == args.steps:
                row = {"d_lr": lr, "r_lambda": lam, "step": step, "train_loss": round(loss.item(), 4),
                       **judge(d.eval(), *held)}
                d.train()
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
