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
from .distributed import apply_activation_checkpointing, barrier, full_tensor, is_main, shard_model
from .loop import StepContext


def load_aapt(path: str, ctx: StepContext) -> AaptModel:
    model, _ = load_checkpoint(path, device=ctx.device, dtype=torch.float32)
    return model


def build_aapt(cfg: TrainConfig, ctx: StepContext, init: str | None = None) -> AaptModel:
    """The stage's model in float32 (autocast makes bf16 compute), in train mode, all parameters trainable."""
    own = init is None                                 # the stage's model (not a teacher or discriminator)
    init = cfg.model.init if init is None else init
    if init:
        model = add_control_channels(load_aapt(init, ctx), cfg.model.control_channels)
    else:
        try:
            preset = replace_generator(model_preset(cfg.model.preset), control_channels=cfg.model.control_channels)
        except KeyError as e:
            raise ConfigError(f"model.preset: {e.args[0]}") from None
        model = build_model(preset, device=ctx.device, dtype=torch.float32, seed=cfg.loop.seed)
    if own and cfg.model.recycle_warp:
        add_recycle_warp(model, cfg)
    for_stage(model, cfg, steps=own and not ctx.sharded)
    if ctx.activation_checkpointing:
        apply_activation_checkpointing(model.generator)
    model.requires_grad_(True)
    if ctx.sharded:
        shard_model(model, bf16=ctx.bf16)              # FSDP2, before any optimiser sees the parameters
    return model.train()


def export_model(model: AaptModel, out_dir: str | Path, stage: str, controls: dict | None = None,
                 clip_frames: int = 0) -> Path:
    """The trained model as a worldsim-aapt checkpoint folder (out_dir/model); `controls` is the
    encoder config of the clips' control channels (the bank's info), so play encodes as training did;
    `clip_frames`: latent frames per training clip (config.json `trained_clip_frames`), so play can
    say when it asks for window positions the model never saw."""
    if model.cfg.generator.control_channels == 0:
        controls = {}                                  # an unconditioned stage (base) ignores them
    path = Path(out_dir) / "model"
    state = {k: full_tensor(v) for k, v in model.state_dict().items()}     # gathers FSDP shards
    if is_main():
        plain = build_model(model.cfg, seed=None)
        plain.load_state_dict(state)
        plain.omitted = model.omitted                  # a model continued from a shipped one: still without them
        plain.vae.set_latent_stats(model.vae.latent_mean.cpu(), model.vae.latent_std.cpu())
        extra = {"trained_by": f"worldsim train {stage}"}
        if clip_frames:
            extra["trained_clip_frames"] = clip_frames
        save_checkpoint(plain, path, controls=controls, extra=extra)
    barrier()
    return path


@torch.no_grad()
def add_control_channels(model: AaptModel, channels: int) -> AaptModel:
    """Give a model trained without controls (the base, or an unconditioned stage 1) `channels`
    control input channels: new patch-embedding columns, randomly initialised (AAPT found random
    faster than zero init), between the recycled latent and the first-frame flag."""
    gen = model.generator
    old_k, c = gen.cfg.control_channels, gen.cfg.latent_channels
    if channels in (0, old_k):                         # 0: as the checkpoint has it
        return model
    if old_k != 0:
        raise ConfigError(f"model.control_channels = {channels}, but the init checkpoint already takes {old_k}")
    widen_patch_embed(gen, at=2 * c, channels=channels)
    model.cfg = replace_generator(model.cfg, control_channels=channels)
    gen.cfg = model.cfg.generator
    return model


@torch.no_grad()
def widen_patch_embed(gen, at: int, channels: int) -> None:
    """`channels` new input channels of the patch embedding at channel index `at` (random, std 0.02;
    AAPT found random faster than zero init); the existing columns keep their weights."""
    p = gen.cfg.patch
    weight = gen.patch_embed.weight.unflatten(1, (-1, p * p))             # (d, Cin, p*p)
    new = torch.randn(weight.shape[0], channels, p * p, device=weight.device, dtype=weight.dtype) * 0.02
    weight = torch.cat([weight[:, :at], new, weight[:, at:]], dim=1).flatten(1)
    bias = gen.patch_embed.bias
    gen.patch_embed = torch.nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype)
    gen.patch_embed.weight.copy_(weight)
    gen.patch_embed.bias.copy_(bias)


@torch.no_grad()
def add_recycle_warp(model: AaptModel, cfg: TrainConfig) -> AaptModel:
    """`model.recycle_warp`: the generator re-projects its recycled latent by the clip bank's camera
    encoding (worldsim/models/warp.py); with `model.recycle_warp_keep` it also keeps the unwarped
    latent, as C new patch-embedding columns after the flag (random, as for new control channels).
    A model that already warps (its init did) keeps its own setting."""
    from ..models.warp import warp_spec
    from .data import read_info

    gen = model.generator
    if gen.cfg.warp_channel >= 0:
        return model
    try:
        spec = warp_spec(read_info(cfg.data.path).get("controls") or {})
    except ValueError as e:
        raise ConfigError(f"model.recycle_warp: {e} ({cfg.data.path})") from None
    if spec["warp_channel"] + 3 > gen.cfg.control_channels:
        raise ConfigError(f"model.recycle_warp: the bank's camera channels do not fit the model's "
                          f"{gen.cfg.control_channels} control channels ({cfg.data.path})")
    if cfg.model.recycle_warp_keep:
        spec["warp_keep"] = True
        widen_patch_embed(gen, at=gen.cfg.in_channels, channels=gen.cfg.latent_channels)   # after the flag
    model.cfg = replace_generator(model.cfg, **spec)
    gen.cfg = model.cfg.generator
    return model


def for_stage(model: AaptModel, cfg: TrainConfig, steps: bool = False) -> AaptModel:
    """`model` set up to run as the stage runs: the generator on `model.attention`, compiled with `loop.compile`;
    `steps`: its cached one-frame step too (`Generator.compile_step`, Inductor without CUDA graphs: a rollout's
    batch changes the cache tensors, which CUDA graphs would hold by address), for the stages that roll out."""
    model.generator.backend = cfg.model.attention
    if cfg.loop.compile:
        compile_for_training(model, cfg.stage)
        if steps and cfg.stage in ("adapt", "adversarial"):
            model.generator.compile_step()
    return model


def compile_for_training(model: AaptModel, stage: str) -> None:
    """torch.compile what the stage runs (weights and state_dict keys unchanged): the VAE's three
    conv stacks for `vae` (fused norms and activations), each generator block for the generator
    stages. Blocks share their code, so the 10 blocks of `default` compile into 2 graphs (the last
    block skips its text output) instead of one graph of the whole model: on one H200 compiling
    the whole clip forward took ~220 s of a 450-s budget (docs/TRAINING.md, 2026-11-30).
    Compilation happens at the first step."""
    if stage == "vae":
        for m in (model.vae.encoder, model.vae.decoder, model.vae.light_decoder):
            m.compile()
    else:
        # Block.forward's graphs: with and without the text output, times which of x and the weights need gradients
        # (adapt 2-4; stage 3's D and G calls 6 on the CPU): room above dynamo's default 8, past which it runs eagerly
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, 16)
        for block in model.generator.blocks:
            block.compile()
