"""TTT layers as nn.Modules: `TTTLayer` (TTT-MLP or TTT-Linear) and `GatedBidirectionalTTT`.

    layer = TTTLayer(dim=3072, num_heads=48, kind="mlp")             # head dim 64
    y = layer(x, video_mask, positions)                              # x [B, L, dim] -> [B, L, dim]
    block = GatedBidirectionalTTT(dim=3072, num_heads=48)
    z = block(x, SequenceLayout.uniform(3, text_tokens=226, frames=12, rows=30, cols=45))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layout import SequenceLayout
from .ops import ttt_linear, ttt_mlp

DEFAULTS = {"mlp": dict(mini_batch=64, base_lr=0.1), "linear": dict(mini_batch=16, base_lr=1.0)}


def rope_angles(positions: Tensor, video_mask: Tensor, head_dim: int, theta: float) -> Tensor:
    """3D RoPE angles [L, head_dim/2]: frequency pairs split over (frame, row, col); zero on text tokens."""
    pairs = head_dim // 2
    n_hw = pairs // 3
    angles = []
    for axis, n in enumerate((pairs - 2 * n_hw, n_hw, n_hw)):
        inv_freq = theta ** (-torch.arange(n, dtype=torch.float64, device=positions.device) / max(n, 1))
        angles.append(positions[:, axis, None].double() * inv_freq)
    return (torch.cat(angles, -1) * video_mask[:, None]).float()


def apply_rope(x: Tensor, angles: Tensor) -> Tensor:
    """Rotate consecutive pairs of x [B, H, L, d] by angles [L, d/2]."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)


class TTTLayer(nn.Module):
    """Multi-head TTT layer: projections, L2-normalised q/k with RoPE on video tokens, target LN(v - k),
    learned inner rate, learned initial inner weights, the TTT scan, post LayerNorm, output projection."""

    def __init__(self, dim: int, num_heads: int, kind: str = "mlp", mini_batch: int | None = None,
                 base_lr: float | None = None, rope_theta: float = 10000.0, backend: str = "torch"):
        super().__init__()
        if kind not in DEFAULTS:
            raise ValueError(f"kind must be 'mlp' or 'linear', got {kind!r}")
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        H, d = num_heads, dim // num_heads
        self.kind, self.num_heads, self.head_dim, self.backend = kind, H, d, backend
        self.mini_batch = mini_batch or DEFAULTS[kind]["mini_batch"]
        self.base_lr = base_lr if base_lr is not None else DEFAULTS[kind]["base_lr"]
        self.rope_theta = rope_theta
        self.wqkv = nn.Linear(dim, 3 * dim)                 # theta_Q, theta_K, theta_V
        self.lr_proj = nn.Linear(dim, H)                    # inner rate: w_h . x + b_h per head
        self.target_norm_weight, self.target_norm_bias = nn.Parameter(torch.ones(H, d)), nn.Parameter(torch.zeros(H, d))
        self.ttt_norm_weight, self.ttt_norm_bias = nn.Parameter(torch.ones(H, d)), nn.Parameter(torch.zeros(H, d))
        if kind == "mlp":
            self.W1 = nn.Parameter(torch.randn(H, d, 4 * d) * 0.02)
            self.b1 = nn.Parameter(torch.zeros(H, 4 * d))
            self.W2 = nn.Parameter(torch.randn(H, 4 * d, d) * 0.02)
            self.b2 = nn.Parameter(torch.zeros(H, d))
        else:
            self.W = nn.Parameter(torch.randn(H, d, d) * 0.02)
            self.b = nn.Parameter(torch.zeros(H, d))
        self.post_norm = nn.LayerNorm(dim)
        self.wo = nn.Linear(dim, dim)

    def inner_params(self) -> list[Tensor]:
        return [self.W1, self.b1, self.W2, self.b2] if self.kind == "mlp" else [self.W, self.b]

    def forward(self, x: Tensor, video_mask: Tensor | None = None, positions: Tensor | None = None) -> Tensor:
        """x [B, L, dim]; video_mask [L] bool and positions [L, 3] (frame, row, col) for RoPE, or None."""
        B, L, dim = x.shape
        H, d, b = self.num_heads, self.head_dim, self.mini_batch
        q, k, v = self.wqkv(x).view(B, L, 3, H, d).permute(2, 0, 3, 1, 4)        # each [B, H, L, d]
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        if positions is not None:
            if video_mask is None or video_mask.shape != (L,) or positions.shape != (L, 3):
                raise ValueError(f"positions must be [{L}, 3] with a video_mask [{L}]")
            angles = rope_angles(positions, video_mask, d, self.rope_theta)
            q, k = apply_rope(q, angles), apply_rope(k, angles)
        target = F.layer_norm(v - k, (d,), eps=1e-6) * self.target_norm_weight[:, None] + self.target_norm_bias[:, None]
        eta = self.base_lr * torch.sigmoid(self.lr_proj(x)).transpose(1, 2) / d    # [B, H, L]
        pad = -L % b
        if pad:  # padded tokens get a zero rate, so they change no state
            q, k, target = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, target))
            eta = F.pad(eta, (0, pad))
        op = ttt_mlp if self.kind == "mlp" else ttt_linear
        z = op(q, k, target, eta, self.ttt_norm_weight, self.ttt_norm_bias, *self.inner_params(),
               mini_batch=b, backend=self.backend)[:, :, :L]
        return self.wo(self.post_norm(z.transpose(1, 2).reshape(B, L, dim)))


class GatedBidirectionalTTT(nn.Module):
    """Z = X + tanh(alpha) * TTT(X);  Z' = Z + tanh(beta) * rev(TTT(rev(Z))).

    alpha, beta are per-channel, initialised to 0.1, separate for text and video tokens; both
    directions share one TTTLayer. rev is SequenceLayout's reversal (segments last first)."""

    def __init__(self, dim: int, num_heads: int, gate_init: float = 0.1, **ttt_options):
        super().__init__()
        self.ttt = TTTLayer(dim, num_heads, **ttt_options)
        self.alpha = nn.Parameter(torch.full((2, dim), gate_init))   # [text, video]
        self.beta = nn.Parameter(torch.full((2, dim), gate_init))

    @staticmethod
    def _gate(g: Tensor, video_mask: Tensor) -> Tensor:
        return torch.tanh(torch.where(video_mask[:, None], g[1], g[0]))            # [L, dim]

    def forward(self, x: Tensor, layout: SequenceLayout) -> Tensor:
        if x.shape[1] != layout.length:
            raise ValueError(f"x has {x.shape[1]} tokens but the layout has {layout.length}")
        mask, pos = layout.video_mask.to(x.device), layout.positions.to(x.device)
        rev, restore = layout.reverse_order.to(x.device), layout.restore_order.to(x.device)
        z = x + self._gate(self.alpha, mask) * self.ttt(x, mask, pos)
        backward = self.ttt(z[:, rev], mask[rev], pos[rev])[:, restore]
        return z + self._gate(self.beta, mask) * backward
