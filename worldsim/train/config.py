"""Typed training configs, read from TOML with errors that name the file and the key.

    cfg = load_config("configs/adapt.toml", stage="adapt")        # TrainConfig
    cfg = config_from_dict({"model": {"preset": "tiny"}, ...}, stage="adapt")

One TrainConfig per run: shared sections (model, data, optim, loop) and one section per stage,
nested dataclasses as in torchtitan. The defaults are the documented values for the `default`
preset on the reference world (128x128, latents 16x16, patch 2 -> 64 tokens per latent frame).
Unknown keys and wrong types are errors, never silently ignored.
"""
from __future__ import annotations

import tomllib
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import WorldsimUserError

STAGES = ("vae", "base", "adapt", "distill", "adversarial")


class ConfigError(WorldsimUserError):
    pass


@dataclass
class ModelSection:
    preset: str = "default"           # worldsim.config preset: tiny | default | 1.3b | 8b
    init: str = ""                    # checkpoint folder to start from ("" = random init)
    control_channels: int = 0         # K of the generator (0: unconditioned, or as `init` has it; camera: 25);
                                      # a K > 0 on an init without controls adds them (random init)
    attention: str = "sdpa"           # sdpa | flex | flash
    recycle_warp: bool = False        # camera models: recycle the previous latent re-projected to the new view
                                      # (worldsim/models/warp.py; from the bank's camera encoding, kept by the checkpoint)
    recycle_warp_keep: bool = False   # with recycle_warp: the unwarped latent too (C more input channels)


@dataclass
class DataSection:
    path: str = ""                    # a clip bank (.safetensors, see worldsim/train/data.py)
    batch_size: int = 8
    seed: int = 0                     # order of the clips (exact resume replays it)
    frames: int = 0                   # latent frames per training clip (0: as stored)
    val_path: str = ""                # validation clip bank (held-out world seeds) for sample strips


@dataclass
class OptimSection:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    eps: float = 1e-8
    grad_clip: float = 1.0            # max global grad norm (0: off)
    warmup_steps: int = 200           # linear warm-up of the learning rate
    schedule: str = "constant"        # constant | cosine: lr decays to final_lr_fraction over the run
    final_lr_fraction: float = 0.1    # (cosine) the last step's lr over optim.lr


@dataclass
class LoopSection:
    steps: int = 20000
    max_seconds: float = 0.0          # > 0: also stop after this much training time (a budget, not a
                                      # step count: the run ends, checkpoints and exports early)
    out_dir: str = "runs/train"       # checkpoints, JSONL log, TensorBoard events
    log_every: int = 10
    sample_every: int = 0             # sample strips + mp4 of data.val_path every N steps (0: never)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2         # newest N step folders kept
    seed: int = 0                     # seeds python/numpy/torch at the start of a fresh run
    device: str = "auto"              # auto (cuda if present) | cpu | cuda
    bf16: bool = True                 # bf16 autocast on CUDA (ignored on CPU)
    activation_checkpointing: bool = False
    compile: bool = False             # torch.compile the trained modules (VAE convs, generator clip forward)
    tensorboard: bool = True          # if tensorboard is installed
    progress: bool = True             # tqdm progress bar
    profile_steps: int = 0            # > 0: torch.profiler over this many steps from profile_start after the run's
    profile_start: int = 20           # first step (compiles done), table in out_dir/profile.txt (rank 0)


@dataclass
class VAESection:
    kl_weight: float = 1e-6           # small KL against N(0, I) (docs/model.md)
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    light_weight: float = 1.0         # training the lightweight (play) decoder on the same latents
    light_target: str = "video"       # video: the real frames | decoder: the full decoder's output (distilled)
    motion_weight: float = 1.0        # L1 of frame-to-frame differences, recon vs real (keeps motion inside
                                      # a latent frame's 4 frames; without it they decode nearly still)
    train: str = "all"                # all: encoder and both decoders | light: only the light (play) decoder, on the
                                      # frozen encoder's latents (model.init's VAE; its generator keeps working)
    detail_weight: float = 0.0        # (light) per frame, |gradient RMS decoded - real| at 1, 2, 4 px pooling (sharpness)
    adv_weight: float = 0.0           # (light) hinge loss of a per-frame patch discriminator on the decoded frames
    adv_start: int = 200              # (light) steps of the discriminator alone before its term reaches the decoder
    d_lr: float = 1e-4                # (light) the discriminator's learning rate


@dataclass
class BaseSection:
    shift: float = 5.5                # t ~ shift(U(0,1), s), as stage 1 (per-frame token count)
    text_dropout: float = 0.1         # prompts replaced by "" so the base supports CFG


@dataclass
class AdaptSection:
    # t ~ shift(U(0,1), s). AAPT used s = 24 at 736x416 (~1200 tokens per latent frame); the
    # shift grows like sqrt(tokens): 24 * sqrt(64 / 1196) ~ 5.5 for the default preset's 64 tokens.
    shift: float = 5.5
    text_dropout: float = 0.1         # prompts replaced by "" (keeps CFG possible for the base)
    t_one_fraction: float = 0.0       # share of clips trained at t = 1, the level one-step play starts from
    own_passes: int = 0               # recycle the model's own one-step predictions, this many passes deep
                                      # (k passes = k-step rollouts; 0: always the true previous latent;
                                      # -1: the free rollout itself, stepped through the KV cache as play)
    own_fraction: float = 0.5         # with own_passes: the share of batches that recycle their own predictions
    motion_weight: float = 0.0        # frames weigh 1 + this x (their true change / the batch's mean change):
                                      # where the world moves (turns) counts more; 0: every frame alike


@dataclass
class DistillSection:
    teacher: str = ""                 # stage-1 checkpoint (frozen, no CFG); "" = model.init
    grid: int = 32                    # t_k = shift(k / grid, s)
    shift: float = 5.5


@dataclass
class AdversarialSection:
    discriminator: str = ""           # stage-1 checkpoint the discriminator starts from
    student_forcing: bool = True      # False: the teacher-forced ablation
    d_lr: float = 1e-5
    g_lr: float = 1e-5
    rmsprop_alpha: float = 0.9
    r_sigma: float = 0.1              # approximate R1/R2: lambda * |D(x) - D(x + sigma n)|^2
    r_lambda: float = 1000.0
    # G also regresses its frames onto the true ones (lambda * MSE of latents 1..): an anchor on the world's
    # content while D sharpens it; with student forcing that is adapt's loss on its own free rollout (0: off)
    regression_weight: float = 0.0
    # Long-video training: G rolls out `long_frames` latent frames (0: one clip as stored) in
    # segments of `segment_frames` (0: the bank's clip length) that overlap by `segment_overlap` frames;
    # the KV cache is detached between segments, D judges each segment against real clips, gradients
    # accumulate. With clips at least `long_frames` long (a long bank), the rollout follows the clip's
    # own controls, D's real clips are the true frames at the segment's positions and regression_weight
    # anchors every segment on them; shorter clips: controls extended by other clips', no regression.
    long_frames: int = 0
    segment_frames: int = 0
    segment_overlap: int = 1


@dataclass
class TrainConfig:
    stage: str = "adapt"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loop: LoopSection = field(default_factory=LoopSection)
    vae: VAESection = field(default_factory=VAESection)
    base: BaseSection = field(default_factory=BaseSection)
    adapt: AdaptSection = field(default_factory=AdaptSection)
    distill: DistillSection = field(default_factory=DistillSection)
    adversarial: AdversarialSection = field(default_factory=AdversarialSection)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(value: Any, kind: Any, where: str) -> Any:
    """value as `kind` (a dataclass, tuple[...], a scalar type), or ConfigError naming `where`."""
    if is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        names = [f.name for f in fields(kind)]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(names)}")
        return kind(**{k: _check(v, hints[k], f"{where}.{k}" if where else k) for k, v in value.items()})
    origin = typing.get_origin(kind)
    if origin is tuple:
        items = typing.get_args(kind)
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise ConfigError(f"{where}: expected a list of {len(items)} values, got {value!r}")
        return tuple(_check(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, items)))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def config_from_dict(values: dict[str, Any], stage: str | None = None) -> TrainConfig:
    cfg = _check(values, TrainConfig, "")
    if stage is not None:
        cfg.stage = stage
    if cfg.stage not in STAGES:
        raise ConfigError(f"unknown stage {cfg.stage!r}; stages: {', '.join(STAGES)}")
    if cfg.data.batch_size < 1 or cfg.loop.steps < 0 or cfg.loop.checkpoint_every < 1 or cfg.loop.log_every < 1:
        raise ConfigError("data.batch_size, loop.checkpoint_every and loop.log_every must be >= 1, loop.steps >= 0")
    if cfg.optim.schedule not in ("constant", "cosine"):
        raise ConfigError(f"optim.schedule must be constant or cosine, got {cfg.optim.schedule!r}")
    if cfg.loop.max_seconds < 0:
        raise ConfigError("loop.max_seconds must be >= 0 (0: no time budget)")
    if cfg.vae.train not in ("all", "light"):
        raise ConfigError(f"vae.train must be all or light, got {cfg.vae.train!r}")
    if cfg.vae.train == "all" and (cfg.vae.detail_weight or cfg.vae.adv_weight):
        raise ConfigError("vae.detail_weight and vae.adv_weight sharpen the play decoder alone: set vae.train = light")
    if cfg.stage == "vae" and cfg.vae.train == "light" and not cfg.model.init:
        raise ConfigError("vae.train = light sharpens a trained VAE's play decoder: set model.init to its checkpoint")
    if cfg.vae.light_target not in ("video", "decoder"):
        raise ConfigError(f"vae.light_target must be video or decoder, got {cfg.vae.light_target!r}")
    if cfg.adversarial.regression_weight < 0:
        raise ConfigError(f"adversarial.regression_weight must be >= 0, got {cfg.adversarial.regression_weight}")
    if cfg.adversarial.long_frames < 0 or cfg.adversarial.segment_frames < 0:
        raise ConfigError("adversarial.long_frames and segment_frames must be >= 0 (0: the bank's clip length)")
    if cfg.adapt.own_passes < -1:
        raise ConfigError(f"adapt.own_passes must be >= -1 (-1: the free rollout), got {cfg.adapt.own_passes}")
    if cfg.loop.profile_steps < 0 or cfg.loop.profile_start < 0:
        raise ConfigError(f"loop.profile_steps and loop.profile_start must be >= 0, got {cfg.loop.profile_steps} "
                          f"and {cfg.loop.profile_start}")
    if not 0.0 <= cfg.adapt.motion_weight <= 100.0:
        raise ConfigError(f"adapt.motion_weight must be in [0, 100], got {cfg.adapt.motion_weight}")
    if not 0.0 <= cfg.adapt.t_one_fraction <= 1.0:
        raise ConfigError(f"adapt.t_one_fraction must be in [0, 1], got {cfg.adapt.t_one_fraction}")
    if cfg.loop.sample_every and not cfg.data.val_path:
        raise ConfigError("loop.sample_every needs data.val_path (a validation clip bank)")
    return cfg


def load_config(path: str | Path, stage: str | None = None) -> TrainConfig:
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return config_from_dict(values, stage)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None

