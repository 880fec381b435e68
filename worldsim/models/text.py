"""Text encoders: prompt strings -> text tokens (B, L, dim) for the generator.

Any module with `dim`, `length` and `forward(prompts) -> Tensor (B, length, dim)` plugs in (for
example a wrapper around a local transformers encoder). The default is small and trained with
the model: UTF-8 bytes as tokens and a few bidirectional transformer layers. Padding bytes are
ordinary tokens (static shapes, nothing to mask), as CLIP's padded prompts are in Stable Diffusion.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import TextConfig

PAD, BOS = 256, 257
VOCAB = 258


@runtime_checkable
class TextEncoder(Protocol):
    dim: int
    length: int

    def __call__(self, prompts: Sequence[str]) -> Tensor: ...


def byte_tokens(prompts: Sequence[str], length: int) -> Tensor:
    """(B, length) long: BOS, the prompt's UTF-8 bytes (truncated), then PAD."""
    out = torch.full((len(prompts), length), PAD, dtype=torch.long)
    for row, text in enumerate(prompts):
        data = [BOS, *text.encode("utf-8")][:length]
        out[row, :len(data)] = torch.tensor(data, dtype=torch.long)
    return out


class TextBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:                  # x (B, L, dim)
        q, k, v = self.qkv(self.norm1(x)).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2))
        return x + self.mlp(self.norm2(x))


class ByteTextEncoder(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dim, self.length = cfg.dim, cfg.length
        self.embed = nn.Embedding(VOCAB, cfg.dim)
        self.pos = nn.Parameter(torch.zeros(cfg.length, cfg.dim))
        self.blocks = nn.ModuleList(TextBlock(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, prompts: Sequence[str]) -> Tensor:
        tokens = byte_tokens(prompts, self.length).to(self.pos.device)
        x = self.embed(tokens) + self.pos                      # (B, L, dim)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    @torch.no_grad()
    def init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)
