"""The generator's transformer blocks (generator.py): adaLN-Zero streams of weights for video and text
tokens, and the block that runs both, attending as its context says (context.py).

    block = Block(cfg)                                      # GeneratorConfig
    x, text = block(x, m, ctx, text)                        # one call per forward of any kind
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import GeneratorConfig
from .attention import attention


class TimestepEmbedding(nn.Module):
    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:                   # t (...) in [0, 1] -> (..., dim)
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = 1000.0 * t.float()[..., None] * freqs
        emb = torch.cat([args.cos(), args.sin()], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class Stream(nn.Module):
    """The weights one kind of token (video or text) uses inside a block."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        d = cfg.dim
        self.heads = cfg.heads
        self.modulation = nn.Parameter(torch.zeros(6, d))    # per-block offsets of the shared adaLN
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.norm_eps)
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps)
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.norm_eps)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.ffn_dim, d))

    def modulate(self, m: Tensor) -> list[Tensor]:           # m (B, F, 6d) -> 6 x (B, F, 1, d)
        return [x[:, :, None] for x in (m.unflatten(-1, (6, -1)) + self.modulation).unbind(-2)]

    def project(self, x: Tensor, mods: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, F, T, d) -> q, k, v (B, H, F*T, D), q and k RMS-normalised (not yet rotated)."""
        shift, scale = mods[0], mods[1]
        h = self.norm1(x) * (1 + scale) + shift
        q, k, v = self.qkv(h.flatten(1, 2)).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        return self.q_norm(q), self.k_norm(k), v

    def finish(self, x: Tensor, o: Tensor, mods: list[Tensor]) -> Tensor:
        """Residual attention output o (B, H, F*T, D) and the MLP; x (B, F, T, d)."""
        gate1, shift2, scale2, gate2 = mods[2:]
        x = x + gate1 * self.proj(o.transpose(1, 2).flatten(2)).view_as(x)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)


class Block(nn.Module):
    """One transformer block: the text stream on the text tokens (when given) and the video stream
    on the video tokens, whose attention the context `ctx` (context.py) decides. One module called
    once per forward of any kind: the unit of FSDP2 sharding and of compilation."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.video = Stream(cfg)
        self.text = Stream(cfg) if cfg.dual_stream else None

    @property
    def text_stream(self) -> Stream:
        return self.text if self.text is not None else self.video

    def forward(self, x: Tensor, m: Tensor, ctx, text: tuple[Tensor, Tensor] | None = None, text_out: bool = True):
        """x (B, F, T, d) video tokens and m (B, F, 6d) their adaLN input; `text` = (tokens (B, 1, Lt, d),
        adaLN input (B, 1, 6d)) when the text runs along (text sees only text), None when the
        context has the text keys/values cached. Returns (x, text) for the next block; the last
        block passes `text_out=False` (only its text keys/values are used)."""
        text_kv = None
        if text is not None:
            xt, mt = text
            s = self.text_stream
            mods = s.modulate(mt)
            q, k, v = s.project(xt, mods)
            text_kv = (k, v)
            text = (s.finish(xt, attention(q, k, v, None, ctx.backend), mods), mt) if text_out else None
        s = self.video
        mods = s.modulate(m)
        q, k, v = s.project(x, mods)
        return s.finish(x, ctx.attend(q, k, v, text_kv), mods), text
