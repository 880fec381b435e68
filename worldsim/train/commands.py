"""`worldsim train vae | base | adapt | distill | adversarial --config FILE` (docs/training.md)."""
from __future__ import annotations

import argparse

from .config import STAGES

REQUIRED = {"vae": ("video",), "base": ("latents",), "adapt": ("latents",), "distill": ("latents",),
            "adversarial": ("latents",)}


def stage_class(name: str):
    if name == "vae":
        from .vae import VAEStage
        return VAEStage
    if name == "base":
        from .base import BaseStage
        return BaseStage
    if name == "adapt":
        from .adapt import AdaptStage
        return AdaptStage
    if name == "distill":
        from .distill import DistillStage
        return DistillStage
    from .adversarial import AdversarialStage
    return AdversarialStage


def run_stage(args: argparse.Namespace) -> int:
    from .build import export_model
    from .config import ConfigError, load_config
    from .data import ClipBank, ClipReader
    from .loop import StepContext, train

    cfg = load_config(args.config, stage=args.stage)
    if args.steps is not None:
        cfg.loop.steps = args.steps
    if args.out is not None:
        cfg.loop.out_dir = args.out
    if args.device is not None:
        cfg.loop.device = args.device
    if not cfg.data.path:
        raise ConfigError(f"{args.config}: set data.path to a clip bank (docs/training.md)")
    bank = ClipBank.load(cfg.data.path)
    bank.require(*REQUIRED[cfg.stage], path=cfg.data.path)
    ctx = StepContext.from_config(cfg)
    stage = stage_class(cfg.stage)(cfg, ctx)
    history = train(stage, ClipReader(bank, cfg.data.batch_size, cfg.data.seed, cfg.data.frames), cfg, ctx)
    path = export_model(stage.model, cfg.loop.out_dir, cfg.stage)
    last = history[-1] if history else {}
    print(f"{cfg.stage}: {len(history)} steps this run, last {last}; model -> {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a stage of the AAPT pipeline",
                              description="Train one stage: vae, base, adapt, distill, adversarial (docs/training.md). "
                                          "A run whose out_dir holds a checkpoint resumes from it exactly.")
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--config", required=True, help="TOML config (examples in configs/)")
    p.add_argument("--steps", type=int, help="override loop.steps")
    p.add_argument("--out", help="override loop.out_dir")
    p.add_argument("--device", help="override loop.device (auto | cpu | cuda)")
    p.set_defaults(func=run_stage)
