"""Causal 3D VAE: 4x time, 8x space, C latent channels (VAEConfig; 32 at `default`); the first frame is encoded alone.

    vae = CausalVAE(cfg)                                   # VAEConfig
    z = vae.encode(video)                                  # (B, 3, 1+4k, H, W) in [-1, 1] -> (B, C, 1+k, H/8, W/8)
    video = vae.decode(z)                                  # whole clip
    dec = StreamingDecoder(vae)                            # one latent in -> 4 frames out (1 for latent 0)
    frames = dec(z[:, :, i])                               # (B, 16, h, w) -> (B, 3, 4|1, H, W)
    dec = StreamingDecoder(vae, sessions=4)                # state of 4 session slots; decode two of them
    frames = dec(z[:2, :, i], slots=[3, 1])

Every convolution is causal in time: it pads only the past. In streaming, each one keeps the
last frames it saw (`StreamCache`, one static buffer row per session slot), so decoding latent by
latent equals decoding the clip at once.
Norms are per pixel (RMS over channels), never over time. Latents are normalised per channel
with `latent_mean` / `latent_std` (measured on data, stored in the checkpoint config).
`light=True` decoders (fewer channels, nothing at full resolution) are for real-time play.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import VAEConfig
from .kv_cache import slot_index


class StreamCache:
    """Streaming state of one decoder for `sessions` rows (session slots), static like the
    generator's KV cache: per causal conv one buffer (sessions, C, kt-1, h, w) of the last frames
    it saw, allocated on first use and then written in place, and per row whether it has decoded
    its first latent. A decode reads and writes only its rows (`rows`, set by StreamingDecoder)."""

    def __init__(self, sessions: int):
        self.sessions = sessions
        self.frames: dict[nn.Module, Tensor] = {}
        self.started = [False] * sessions
        self.rows: slice | Tensor = slice(None)           # the rows of the decode running now
        self.first = True                                  # ... all on their first latent

    def past(self, module: nn.Module) -> Tensor | None:
        return None if self.first else self.frames[module][self.rows]

    def keep(self, module: nn.Module, last: Tensor) -> None:
        if module not in self.frames:
            self.frames[module] = last.new_zeros(self.sessions, *last.shape[1:])
        self.frames[module][self.rows] = last

    def restart(self, row: int) -> None:
        """The row's next latent is a session's first (its past frames are then ignored)."""
        self.started[row] = False

    def save(self, row: int) -> dict[nn.Module, Tensor]:
        """Copies of one row's past frames, each (1, C, kt-1, h, w); {} before its first latent."""
        return {m: buf[row:row + 1].clone() for m, buf in self.frames.items()} if self.started[row] else {}

    def load(self, row: int, frames: dict[nn.Module, Tensor]) -> None:
        """`save`'s copies into `row` ({}: the row starts afresh)."""
        for m, t in frames.items():
            if m not in self.frames:
                self.frames[m] = t.new_zeros(self.sessions, *t.shape[1:])
            self.frames[m][row:row + 1] = t
        self.started[row] = bool(frames)


class ChannelRMSNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:                  # (B, C, T, H, W), per pixel and frame
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + self.eps) * self.weight


class CausalConv3d(nn.Module):
    """k x k spatial, kt causal in time (pads only the past).

    Runs as a 2D convolution over frames with the kt past frames stacked on channels: the same
    sum as a 3D convolution, but on CPU it takes oneDNN's fast path (torch's CPU conv3d does not)."""

    def __init__(self, cin: int, cout: int, kt: int = 3, k: int = 3, stride: int = 1):
        super().__init__()
        self.kt, self.stride, self.pad = kt, stride, k // 2
        self.conv = nn.Conv3d(cin, cout, (kt, k, k), stride=(1, stride, stride), padding=(0, k // 2, k // 2))

    def forward(self, x: Tensor, cache: StreamCache | None = None) -> Tensor:   # (B, C, T, H, W)
        weight = self.conv.weight.flatten(1, 2)                # (Cout, Cin*kt, k, k), Cin major
        if self.kt > 1:
            past = None if cache is None else cache.past(self)
            if past is None:
                past = x.new_zeros(*x.shape[:2], self.kt - 1, *x.shape[3:])
            x = torch.cat([past, x], dim=2)
            if cache is not None:
                cache.keep(self, x[:, :, -(self.kt - 1):])
            x = x.unfold(2, self.kt, 1).permute(0, 1, 5, 2, 3, 4).flatten(1, 2)   # (B, C*kt, T, H, W)
        return per_frame(lambda f: F.conv2d(f, weight, self.conv.bias, self.stride, self.pad), x)


def per_frame(fn, x: Tensor) -> Tensor:
    """Apply a 2D op to every frame of x (B, C, T, H, W)."""
    b, _, t = x.shape[:3]
    y = fn(x.transpose(1, 2).flatten(0, 1))                   # (B*T, C', H', W')
    return y.unflatten(0, (b, t)).transpose(1, 2)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kt: int):
        super().__init__()
        self.norm1, self.conv1 = ChannelRMSNorm(cin), CausalConv3d(cin, cout, kt)
        self.norm2, self.conv2 = ChannelRMSNorm(cout), CausalConv3d(cout, cout, kt)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, cache: StreamCache | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)), cache)


class TimeDown(nn.Module):
    """Halve time causally: frame 0 alone, then pairs (1, 2), (3, 4), ... merged by a 1 x k x k conv."""

    def __init__(self, ch: int, k: int = 1):
        super().__init__()
        self.merge = nn.Conv3d(2 * ch, ch, (1, k, k), padding=(0, k // 2, k // 2))

    def forward(self, x: Tensor) -> Tensor:                   # (B, C, 1+2m, H, W) -> (B, C, 1+m, H, W)
        b, c, t, h, w = x.shape
        pairs = x[:, :, 1:].reshape(b, c, (t - 1) // 2, 2, h, w).transpose(2, 3).reshape(b, 2 * c, -1, h, w)
        first = x[:, :, :1].repeat(1, 2, 1, 1, 1)
        return self.merge(torch.cat([first, pairs], dim=2))


class TimeUp(nn.Module):
    """Double time causally: the clip's first frame passes alone, every later frame becomes two
    (a kt=3 causal conv, k x k spatial, to 2C channels, then depth-to-time)."""

    def __init__(self, ch: int, k: int = 1):
        super().__init__()
        self.conv = CausalConv3d(ch, 2 * ch, kt=3, k=k)

    def forward(self, x: Tensor, cache: StreamCache | None = None) -> Tensor:
        first_chunk = cache is None or cache.first
        y = self.conv(x, cache)                               # (B, 2C, t, H, W)
        b, c2, t, h, w = y.shape
        y = y.reshape(b, 2, c2 // 2, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c2 // 2, 2 * t, h, w)
        return torch.cat([x[:, :, :1], y[:, :, 2:]], dim=2) if first_chunk else y


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.channels
        kt = [3 if lvl in cfg.causal_levels else 1 for lvl in range(4)]
        self.conv_in = CausalConv3d(3, ch[0], kt[0])
        self.levels = nn.ModuleList(
            nn.ModuleList(ResBlock(ch[lvl], ch[lvl], kt[lvl]) for _ in range(cfg.blocks)) for lvl in range(4))
        self.down = nn.ModuleList(CausalConv3d(ch[lvl], ch[lvl + 1], kt=1, stride=2) for lvl in range(3))
        self.time_down = nn.ModuleList(
            TimeDown(ch[lvl + 1], cfg.time_down_kernel) if lvl in cfg.temporal_steps else nn.Identity()
            for lvl in range(3))
        self.mid = ResBlock(ch[3], ch[3], kt[3])
        self.norm_out = ChannelRMSNorm(ch[3])
        self.conv_out = CausalConv3d(ch[3], 2 * cfg.latent_channels, kt[3])

    def forward(self, x: Tensor) -> Tensor:                   # (B, 3, 1+4k, H, W) -> (B, 2*C, 1+k, h, w)
        x = self.conv_in(x)
        for lvl, blocks in enumerate(self.levels):
            for block in blocks:
                x = block(x)
            if lvl < 3:
                x = self.time_down[lvl](self.down[lvl](x))
        return self.conv_out(F.silu(self.norm_out(self.mid(x))))


class Decoder(nn.Module):
    """Latents -> frames. The light variant stops at half resolution and emits 2x2 pixels per
    position (depth-to-space), so it never runs a convolution at full resolution; it is causal
    in time only at `cfg.light_causal_levels` (the latent level by default) and through its
    temporal upsampling."""

    def __init__(self, cfg: VAEConfig, light: bool = False):
        super().__init__()
        ch = (0, *cfg.light_channels) if light else cfg.channels          # per level, 0 = full res
        blocks = (0, *cfg.light_blocks) if light else (cfg.blocks,) * 4
        self.out_level = out = 1 if light else 0
        if out > 0 and 0 in cfg.temporal_steps:
            raise ValueError("the light decoder needs temporal_steps above level 0")
        causal = cfg.light_causal_levels if light else cfg.causal_levels
        kt = [3 if lvl in causal else 1 for lvl in range(4)]
        self.conv_in = CausalConv3d(cfg.latent_channels, ch[3], kt[3])
        self.mid = ResBlock(ch[3], ch[3], kt[3])
        self.levels = nn.ModuleList(
            nn.ModuleList(ResBlock(ch[lvl], ch[lvl], kt[lvl]) for _ in range(blocks[lvl]))
            for lvl in range(4))
        self.time_up = nn.ModuleList(
            TimeUp(ch[lvl + 1], cfg.time_up_kernel) if lvl in cfg.temporal_steps else nn.Identity()
            for lvl in range(3))
        self.up = nn.ModuleList(CausalConv3d(ch[lvl + 1], ch[lvl], kt=1) if lvl >= out else nn.Identity()
                                for lvl in range(3))
        self.norm_out = ChannelRMSNorm(ch[out])
        self.conv_out = CausalConv3d(ch[out], 3 * 4 ** out, kt[out])

    def forward(self, z: Tensor, cache: StreamCache | None = None) -> Tensor:
        """z (B, C, t, h, w) -> frames (B, 3, t', 8h, 8w); t' = 1 + 4(t-1) for a clip's first chunk."""
        x = self.mid(self.conv_in(z, cache), cache)
        for lvl in range(3, self.out_level - 1, -1):
            for block in self.levels[lvl]:
                x = block(x, cache)
            if lvl > self.out_level:
                up = self.time_up[lvl - 1]
                x = up(x, cache) if isinstance(up, TimeUp) else x
                x = self.up[lvl - 1](F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest"), cache)
        x = self.conv_out(F.silu(self.norm_out(x)), cache)
        return per_frame(lambda f: F.pixel_shuffle(f, 2 ** self.out_level), x) if self.out_level else x


class CausalVAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.light_decoder = Decoder(cfg, light=True)
        # Per-channel latent statistics; set from the checkpoint config (not in the weights file).
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_channels), persistent=False)
        self.register_buffer("latent_std", torch.ones(cfg.latent_channels), persistent=False)

    @torch.no_grad()
    def init_weights(self, zero_init: bool = True) -> None:
        """PyTorch's default conv init, unit norms, identity latent statistics (zero_init: unused)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                m.reset_parameters()
            elif isinstance(m, ChannelRMSNorm):
                nn.init.ones_(m.weight)
        self.set_latent_stats(torch.zeros(self.cfg.latent_channels), torch.ones(self.cfg.latent_channels))

    def set_latent_stats(self, mean, std) -> None:
        self.latent_mean = torch.as_tensor(mean, dtype=torch.float32, device=self.encoder.conv_in.conv.weight.device)
        self.latent_std = torch.as_tensor(std, dtype=torch.float32, device=self.latent_mean.device)

    def _stat(self, s: Tensor, like: Tensor) -> Tensor:     # (C,) -> broadcast over (B, C, T, h, w)
        return s.to(like.dtype).view(-1, *([1] * (like.dim() - 2)))

    def normalize(self, z: Tensor) -> Tensor:
        return (z - self._stat(self.latent_mean, z)) / self._stat(self.latent_std, z)

    def denormalize(self, z: Tensor) -> Tensor:
        return z * self._stat(self.latent_std, z) + self._stat(self.latent_mean, z)

    def encode(self, video: Tensor, sample: bool = False) -> Tensor:
        """video (B, 3, 1+4k, H, W) in [-1, 1], H and W multiples of 8 -> normalised latents."""
        t, h, w = video.shape[2:]
        if (t - 1) % 4 or h % 8 or w % 8:
            raise ValueError(f"video of {t} frames {w}x{h}: need 1+4k frames and sizes divisible by 8")
        mean, logvar = self.encoder(video).chunk(2, dim=1)
        z = mean + torch.randn_like(mean) * (0.5 * logvar.clamp(-30, 20)).exp() if sample else mean
        return self.normalize(z)

    def decode(self, z: Tensor, light: bool = False) -> Tensor:
        """Normalised latents (B, C, 1+k, h, w) -> video (B, 3, 1+4k, 8h, 8w), a whole clip at once."""
        return (self.light_decoder if light else self.decoder)(self.denormalize(z))


ROW_INDEX_CACHE = 1024       # slot tuples whose row index a StreamingDecoder keeps


class StreamingDecoder:
    """Decode one latent frame at a time: 1 frame for a session's latent 0, then 4 per latent.

    Holds the conv caches of `sessions` rows (default: the first call's batch); a call decodes
    the sessions in rows `slots` (default: the first rows), all on their first latent or all past it."""

    def __init__(self, vae: CausalVAE, light: bool = False, sessions: int | None = None):
        self.vae, self.light, self.sessions = vae, light, sessions
        self.cache = StreamCache(sessions) if sessions else None
        self._row_index: dict[tuple[int, ...], slice | Tensor] = {}

    @property
    def module(self) -> "Decoder":
        return self.vae.light_decoder if self.light else self.vae.decoder

    def reset(self) -> None:
        self.cache = StreamCache(self.sessions) if self.sessions else None

    @torch.no_grad()
    def __call__(self, latent: Tensor, slots: Sequence[int] | None = None) -> Tensor:
        """latent (B, C, h, w) of the sessions in rows `slots` -> frames (B, 3, 4|1, 8h, 8w)."""
        if self.cache is None:
            self.cache = StreamCache(latent.shape[0])
        key = tuple(range(latent.shape[0]) if slots is None else slots)
        phases = {self.cache.started[row] for row in key}
        if len(phases) > 1:
            raise ValueError("cannot decode sessions' first latents and later ones in one batch")
        if key not in self._row_index:
            if len(self._row_index) >= ROW_INDEX_CACHE:        # many sessions coming and going: stay bounded
                self._row_index.clear()
            self._row_index[key] = slot_index(key, latent.device)
        self.cache.rows, self.cache.first = self._row_index[key], not phases.pop()
        frames = self.module(self.vae.denormalize(latent[:, :, None]), self.cache)
        for row in key:
            self.cache.started[row] = True
        return frames
