"""The model a stage trains: from a checkpoint (`model.init`) or a preset at random init.

Uses only worldsim.models' public API (build_model, load_checkpoint, save_checkpoint); the
finished stage exports a worldsim-aapt checkpoint that `worldsim play --renderer aapt` loads.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import model_preset, replace_generator
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.model import AaptModel, build_model
from .config import ConfigError, TrainConfig
from .distributed import apply_activation_checkpointing
from .loop import StepContext


def load_aapt(path: str, ctx: StepContext) -> AaptModel:
    model, _ = load_checkpoint(path, device=ctx.device, dtype=torch.float32)
    return model


def build_aapt(cfg: TrainConfig, ctx: StepContext, init: str | None = None) -> AaptModel:
    """The stage's model in float32 (autocast makes bf16 compute), in train mode, all parameters trainable."""
    init = cfg.model.init if init is None else init
    if init:
        model = load_aapt(init, ctx)
    else:
        try:
            preset = replace_generator(model_preset(cfg.model.preset), control_channels=cfg.model.control_channels)
        except KeyError as e:
            raise ConfigError(f"model.preset: {e.args[0]}") from None
        model = build_model(preset, device=ctx.device, dtype=torch.float32, seed=cfg.loop.seed)
    model.generator.backend = cfg.model.attention
    if ctx.activation_checkpointing:
        apply_activation_checkpointing(model.generator)
    model.requires_grad_(True)
    return model.train()


def export_model(model: AaptModel, out_dir: str | Path, stage: str) -> Path:
    """The trained model as a worldsim-aapt checkpoint folder (out_dir/model)."""
    return save_checkpoint(model, Path(out_dir) / "model", extra={"trained_by": f"worldsim train {stage}"})
