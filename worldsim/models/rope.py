"""3D rotary position embedding over (t, y, x) for video tokens.

The head dimension is split into three sections (Wan's split): y and x get 2*(D//6) each, t the rest.
- Spatial positions are stretched to a reference token grid (`ref_hw`): a token row i of an
  h-row grid sits at i * ref_h / h, so other resolutions cover the trained range.
- Temporal positions advance `t_interval` per latent frame.
- Angles are formed in float64 and reduced modulo 2*pi before the cast to float32, so frame
  1,000,000 rotates as precisely as frame 10; relative distances (the only thing attention sees)
  stay those of training because the caller keeps positions relative to the window (generator.py).
Text tokens carry no rotation.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def rope_sections(head_dim: int) -> tuple[int, int, int]:
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


class Rope3D(torch.nn.Module):
    def __init__(self, head_dim: int, theta: float = 10000.0, t_interval: float = 1.0,
                 ref_hw: tuple[int, int] = (8, 8)):
        super().__init__()
        self.sections = rope_sections(head_dim)
        self.theta = float(theta)
        self.t_interval = float(t_interval)
        self.ref_hw = tuple(ref_hw)

    def _inv_freq(self, size: int, device) -> Tensor:
        # float64 on purpose (see module doc); computed per call so the module holds no state
        # and builds on the meta device like the rest of the model.
        return 1.0 / self.theta ** (torch.arange(0, size, 2, dtype=torch.float64, device=device) / size)

    def forward(self, t_pos: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
        """(cos, sin) of the rotation of every token of frames at temporal positions `t_pos`.

        t_pos: (...,) frame positions (any dtype). Returns two float32 (..., h*w, D/2)."""
        dev = t_pos.device
        st, sy, sx = self.sections
        t = t_pos.to(torch.float64)[..., None] * self.t_interval * self._inv_freq(st, dev)  # (..., Dt/2)
        ys = torch.arange(h, device=dev, dtype=torch.float64) * (self.ref_hw[0] / h)
        xs = torch.arange(w, device=dev, dtype=torch.float64) * (self.ref_hw[1] / w)
        y = (ys[:, None] * self._inv_freq(sy, dev)).repeat_interleave(w, dim=0)           # (h*w, Dy/2)
        x = (xs[:, None] * self._inv_freq(sx, dev)).repeat(h, 1)                          # (h*w, Dx/2)
        t = t[..., None, :].expand(*t.shape[:-1], h * w, t.shape[-1])
        yx = torch.cat([y, x], dim=-1).expand(*t.shape[:-1], y.shape[-1] + x.shape[-1])
        angles = torch.remainder(torch.cat([t, yx], dim=-1), 2 * math.pi).float()
        return angles.cos(), angles.sin()


def apply_rope(x: Tensor, rotation: tuple[Tensor, Tensor]) -> Tensor:
    """Rotate consecutive channel pairs of x (B, H, L, D) by (cos, sin) broadcastable to (B, 1, L, D/2).

    The rotation runs in float32 and the result is cast back to x's dtype."""
    xf = x.float().unflatten(-1, (-1, 2))                  # (B, H, L, D/2, 2)
    cos, sin = rotation
    x0, x1 = xf[..., 0], xf[..., 1]
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)
