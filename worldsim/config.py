"""Typed model configs and the named presets (`tiny`, `default`, `1.3b`, `8b`).

    cfg = model_preset("default")                   # ModelConfig
    cfg = replace_generator(cfg, window=24)         # a variant without copying the table

A preset fixes the architecture; the resolution, the window and the control channels a checkpoint
was trained with live beside it in the checkpoint's config.json (worldsim.models.checkpoint).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class GeneratorConfig:
    dim: int = 320                    # model width d
    depth: int = 10                   # number of DiT blocks
    heads: int = 5                    # head_dim = dim // heads
    ffn_dim: int = 1280               # MLP hidden width
    patch: int = 2                    # tokens are 1 x patch x patch latent pixels
    latent_channels: int = 16         # C of the VAE latent
    control_channels: int = 25        # K: camera rays, 4 frames x 6 channels + flag (set by the checkpoint)
    window: int = 16                  # N: latent frames of the attention window
    text_dim: int = 256               # width of the text encoder's tokens
    dual_stream: bool = False         # MMDiT: separate weights for text tokens
    rope_theta: float = 10000.0
    rope_t_interval: float = 1.0      # temporal RoPE position step per latent frame
    rope_ref_hw: tuple[int, int] = (8, 8)   # token grid the spatial positions are stretched to
    norm_eps: float = 1e-6
    # Camera models: the recycled latent re-projected to the new view (models/warp.py). The first
    # of the 3 control channels holding the last video frame's ray directions (-1: no warp), their
    # scale constants, and 1/tan(fovy/2). Set by training (`model.recycle_warp`), kept in config.json.
    warp_channel: int = -1
    warp_scales: tuple[float, ...] = ()
    warp_focal: float = 0.0
    warp_keep: bool = False           # with the warp, the unwarped latent too: C more input channels after the flag

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def in_channels(self) -> int:
        # [noise, recycled previous latent, controls, first-frame flag (, the latent warped: warp_keep)]
        return (3 if self.warp_keep else 2) * self.latent_channels + self.control_channels + 1

    def __post_init__(self):
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(f"head_dim {self.head_dim} must be even and >= 6 for 3D RoPE")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


@dataclass(frozen=True)
class VAEConfig:
    latent_channels: int = 16
    channels: tuple[int, ...] = (32, 64, 128, 128)     # per resolution level, full res first
    blocks: int = 1                                     # residual blocks per level
    light_channels: tuple[int, ...] = (16, 32, 64)      # the lightweight decoder, levels 1..3
    light_blocks: tuple[int, ...] = (0, 1, 0)           # its residual blocks per level 1..3
    # Resolution steps l -> l+1 (level 0 = full resolution) that also halve/double time:
    # two of them make the 4x; the first frame always passes alone.
    temporal_steps: tuple[int, ...] = (1, 2)
    # Levels whose convolutions are 3x3x3 causal in time; the others are per frame (1x3x3).
    causal_levels: tuple[int, ...] = (2, 3)
    # The same for the light decoder (its levels 1..3); (3,): causal only at the latent level.
    light_causal_levels: tuple[int, ...] = (3,)
    # Spatial kernel of the decoders' TimeUp conv (one frame -> two) and of the encoder's TimeDown
    # merge (two frames -> one): 1 is the original per-pixel mix; 3 lets the two frames a TimeUp
    # makes differ by a spatial shift (docs/TRAINING.md, the 2026-11-30 CPU motion study).
    time_up_kernel: int = 1
    time_down_kernel: int = 1

    def __post_init__(self):
        if len(self.channels) != 4 or len(self.light_channels) != 3 or len(self.light_blocks) != 3:
            raise ValueError("the VAE has 4 levels (8x spatial): give 4 channels, and 3 light_channels "
                             "and light_blocks (the light decoder stops at level 1)")
        if self.time_up_kernel % 2 == 0 or self.time_down_kernel % 2 == 0:
            raise ValueError("time_up_kernel and time_down_kernel must be odd (1, 3, ...)")
        if any(lvl not in (1, 2, 3) for lvl in self.light_causal_levels):
            raise ValueError("light_causal_levels are levels of the light decoder: 1, 2 or 3")


@dataclass(frozen=True)
class TextConfig:
    dim: int = 256
    depth: int = 2
    heads: int = 4
    length: int = 32                  # tokens per prompt (bytes, truncated / padded)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text: TextConfig = field(default_factory=TextConfig)
    width: int = 128                  # default video resolution of the preset
    height: int = 128
    fps: float = 24.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        def build(kind, values):
            names = {f.name for f in fields(kind)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields: {sorted(unknown)}")
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        return cls(name=d["name"], generator=build(GeneratorConfig, d.get("generator", {})),
                   vae=build(VAEConfig, d.get("vae", {})), text=build(TextConfig, d.get("text", {})),
                   width=d.get("width", 128), height=d.get("height", 128), fps=d.get("fps", 24.0))


MODEL_PRESETS: dict[str, ModelConfig] = {
    # Unit tests on CPU in seconds: patch 1, a window of 3 so tests run past it quickly.
    "tiny": ModelConfig(
        name="tiny",
        generator=GeneratorConfig(dim=48, depth=2, heads=4, ffn_dim=96, patch=1,
                                  window=3, text_dim=32, rope_ref_hw=(4, 4)),
        vae=VAEConfig(channels=(8, 8, 16, 16), light_channels=(8, 8, 16)),
        text=TextConfig(dim=32, depth=1, heads=2, length=8),
        width=32, height=32),
    # The embedded model: real time at 128x128@24fps on a 2-core CPU (~14M generator parameters,
    # ~24M with VAE and text encoder; ~2.5 GFLOP per latent frame with a full window). 32 latent
    # channels and a light decoder of (32, 64, 128): the 16-channel VAE with a (16, 32, 64) light
    # decoder capped play at ~22 dB (docs/TRAINING.md, 2026-11-30); this light decoder costs ~38 ms a
    # latent frame on one CPU thread instead of ~13 (`worldsim bench model --device cpu --threads 1
    # --decoder light` minus `--decoder none`: 89.6 - 51.3 ms, 2-core CPU, 2026-11-30).
    "default": ModelConfig(
        name="default",
        generator=GeneratorConfig(dim=320, depth=10, heads=5, ffn_dim=1280, patch=2, window=16,
                                  latent_channels=32, text_dim=256, rope_ref_hw=(8, 8)),
        vae=VAEConfig(latent_channels=32, channels=(32, 64, 128, 128), light_channels=(32, 64, 128),
                      light_blocks=(0, 1, 1)),
        text=TextConfig(dim=256, depth=2, heads=4, length=32),
        width=128, height=128),
    # Wan-1.3B dimensions.
    "1.3b": ModelConfig(
        name="1.3b",
        generator=GeneratorConfig(dim=1536, depth=30, heads=12, ffn_dim=8960, patch=2, window=30,
                                  text_dim=512, rope_ref_hw=(30, 52)),
        vae=VAEConfig(channels=(96, 192, 384, 384), light_channels=(64, 128, 256)),
        text=TextConfig(dim=512, depth=4, heads=8, length=64),
        width=832, height=480),
    # AAPT-class: 36 MMDiT blocks, d 3072, 24 heads x 128 (video stream ~4B, text stream ~4B).
    "8b": ModelConfig(
        name="8b",
        generator=GeneratorConfig(dim=3072, depth=36, heads=24, ffn_dim=12288, patch=2, window=30,
                                  text_dim=1024, dual_stream=True, rope_ref_hw=(26, 46)),
        vae=VAEConfig(channels=(128, 256, 512, 512), light_channels=(64, 128, 256)),
        text=TextConfig(dim=1024, depth=6, heads=16, length=64),
        width=736, height=416),
}


def model_preset(name: str) -> ModelConfig:
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown model preset {name!r}; available: {', '.join(MODEL_PRESETS)}") from None


def replace_generator(cfg: ModelConfig, **changes: Any) -> ModelConfig:
    """The same model config with some generator fields changed (window, control_channels, ...)."""
    return replace(cfg, generator=replace(cfg.generator, **changes))
