"""The whole neural renderer's model: generator + causal VAE + text encoder, built fast.

    model = build_model(model_preset("default"), device="cuda", dtype=torch.bfloat16)
    gen = build_module(Generator, cfg.generator, device="cuda", dtype=torch.bfloat16)

Modules are constructed on the meta device (no memory, no init work), cast, given empty
storage on the target device and initialised there: an 8B generator starts in seconds without
ever existing in float32 on the host. Checkpoints load into meta modules by assignment instead
(worldsim.models.checkpoint).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..config import ModelConfig
from .generator import Generator
from .text import ByteTextEncoder
from .vae import CausalVAE


class AaptModel(nn.Module):
    # modules (state_dict prefixes) a shipped checkpoint left out and loading filled with zeros, e.g. the
    # full VAE decoder: later checkpoints of this model leave them out too, and nothing decodes with them
    omitted: tuple[str, ...] = ()

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.generator = Generator(cfg.generator)
        self.vae = CausalVAE(cfg.vae)
        self.text_encoder = ByteTextEncoder(cfg.text)

    @torch.no_grad()
    def init_weights(self, zero_init: bool = True) -> None:
        self.generator.init_weights(zero_init)
        self.text_encoder.init_weights()
        self.vae.init_weights()


def build_module(factory: Callable[..., nn.Module], *args: Any, device="cpu", dtype=torch.float32,
                 seed: int | None = 0, zero_init: bool = True) -> nn.Module:
    """factory(*args) built on meta, materialised on `device` in `dtype`, initialised there."""
    with torch.device("meta"):
        module = factory(*args)
    module = module.to(dtype).to_empty(device=device)
    if seed is not None:
        torch.manual_seed(seed)
    module.init_weights(zero_init)
    return module.eval()


def build_model(cfg: ModelConfig, device="cpu", dtype=torch.float32, seed: int | None = 0,
                zero_init: bool = True) -> AaptModel:
    return build_module(AaptModel, cfg, device=device, dtype=dtype, seed=seed, zero_init=zero_init)
