"""The puppet scene: a character of capsules between COCO-17 keypoints, in a simple set.

    frames = render_puppet(joints, c2w, K, height, width, look)   # joints (B, 17, 3) world metres

The joints are `controls.PoseRig.keypoints3d` (world positions; the rig's camera sees them, and
its normalised 2D keypoints are their projections), so pose-conditioned training data is
consistent by construction. The set: a checkered floor (y = 0) and a back wall, lit by a sun.
"""
from __future__ import annotations

import torch

from .primitives import INF, NEAR

# (joint a, joint b, radius m, part) -- part indexes the colours of a look: 0 skin, 1 shirt, 2 trousers
BONES = [(5, 7, 0.06, 1), (7, 9, 0.05, 0), (6, 8, 0.06, 1), (8, 10, 0.05, 0),       # arms
         (11, 13, 0.08, 2), (13, 15, 0.065, 2), (12, 14, 0.08, 2), (14, 16, 0.065, 2),  # legs
         (5, 6, 0.08, 1), (11, 12, 0.09, 2), (5, 11, 0.09, 1), (6, 12, 0.09, 1),     # torso frame
         (17, 18, 0.16, 1), (17, 19, 0.05, 0), (19, 19, 0.12, 0)]                   # chest, neck, head
WALL_Z = -10.0
LOOKS = [((0.85, 0.66, 0.52), (0.75, 0.15, 0.12), (0.15, 0.20, 0.40)),
         ((0.55, 0.38, 0.28), (0.20, 0.45, 0.70), (0.25, 0.25, 0.28)),
         ((0.92, 0.76, 0.62), (0.95, 0.80, 0.20), (0.35, 0.22, 0.12)),
         ((0.40, 0.27, 0.20), (0.20, 0.55, 0.30), (0.70, 0.68, 0.62))]


def _extended(joints: torch.Tensor) -> torch.Tensor:
    """(B, 17, 3) -> (B, 20, 3): + mid-shoulder/mid-hip chest centre (17), mid-hip (18), head (19)."""
    shoulders = (joints[:, 5] + joints[:, 6]) / 2
    hips = (joints[:, 11] + joints[:, 12]) / 2
    head = (joints[:, 3] + joints[:, 4]) / 2 * 0.5 + joints[:, 0] * 0.5
    chest = shoulders * 0.8 + hips * 0.2
    return torch.cat([joints, chest[:, None], hips[:, None], head[:, None]], 1)


def _capsules(o, d, pa, pb, r):
    """Ray-capsule distances. o (B, 1, 3), d (B, N, 3), pa/pb (B, C, 3), r (C,). -> t (B, N, C)."""
    ba = (pb - pa)[:, None]                                   # (B, 1, C, 3)
    oa = (o[:, :, None] - pa[:, None])                        # (B, 1, C, 3)
    rd = d[:, :, None]                                        # (B, N, 1, 3)
    baba = (ba * ba).sum(-1)
    bard = (ba * rd).sum(-1)
    baoa = (ba * oa).sum(-1)
    rdoa = (rd * oa).sum(-1)
    oaoa = (oa * oa).sum(-1)
    a = (baba - bard * bard).clamp(min=1e-9)
    b = baba * rdoa - baoa * bard
    c = baba * oaoa - baoa * baoa - r * r * baba
    h = b * b - a * c
    t_side = (-b - h.clamp(min=0).sqrt()) / a
    y = baoa + t_side * bard
    side_ok = (h >= 0) & (y > 0) & (y < baba) & (t_side > NEAR)
    oc = torch.where((y <= 0)[..., None], oa, o[:, :, None] - pb[:, None])   # the nearer cap
    bc = (d[:, :, None] * oc).sum(-1)
    cc = (oc * oc).sum(-1) - r * r
    hc = bc * bc - cc
    t_cap = -bc - hc.clamp(min=0).sqrt()
    cap_ok = (hc >= 0) & (t_cap > NEAR)
    return torch.where(side_ok, t_side, torch.where(cap_ok, t_cap, INF))


def render_puppet(joints: torch.Tensor, c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
                  look: int = 0) -> torch.Tensor:
    """Render B frames of the character. joints (B, 17, 3), c2w (B, 4, 4), K (B, 3, 3). -> uint8 (B, H, W, 3)."""
    B, dev = joints.shape[0], joints.device
    v, u = torch.meshgrid(torch.arange(height, device=dev) + 0.5, torch.arange(width, device=dev) + 0.5, indexing="ij")
    fx, fy, cx, cy = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 2, None], K[:, 1, 2, None]
    d = torch.stack([(u.reshape(1, -1) - cx) / fx, (v.reshape(1, -1) - cy) / fy,
                     torch.ones(B, height * width, device=dev)], -1) @ c2w[:, :3, :3].transpose(1, 2)
    d = d / d.norm(dim=-1, keepdim=True)                                   # (B, N, 3)
    o = c2w[:, None, :3, 3]                                                # (B, 1, 3)
    ext = _extended(joints.float())
    ia, ib = torch.tensor([b[0] for b in BONES], device=dev), torch.tensor([b[1] for b in BONES], device=dev)
    radius = torch.tensor([b[2] for b in BONES], device=dev)
    t_body = _capsules(o, d, ext[:, ia], ext[:, ib], radius)              # (B, N, C)
    t_hit, bone = t_body.min(-1)
    palette = torch.tensor(LOOKS[look % len(LOOKS)], device=dev)          # (3 parts, 3)
    part = torch.tensor([b[3] for b in BONES], device=dev)[bone]
    p = o + d * t_hit.clamp(max=1e3)[..., None]
    rows = torch.arange(B, device=dev)[:, None]
    pa, pb = ext[:, ia][rows, bone], ext[:, ib][rows, bone]
    ba = pb - pa
    h = (((p - pa) * ba).sum(-1) / (ba * ba).sum(-1).clamp(min=1e-9)).clamp(0, 1)
    n_body = p - (pa + h[..., None] * ba)
    n_body = n_body / n_body.norm(dim=-1, keepdim=True).clamp(min=1e-6)
    # the set: floor y = 0 (checkered) and a wall at z = WALL_Z
    t_floor = torch.where(d[..., 1] < -1e-6, -o[..., 1] / d[..., 1].clamp(max=-1e-6), INF)
    t_wall = torch.where(d[..., 2] < -1e-6, (WALL_Z - o[..., 2]) / d[..., 2].clamp(max=-1e-6), INF)
    pf = o + d * t_floor.clamp(max=1e3)[..., None]
    checker = ((pf[..., 0].floor() + pf[..., 2].floor()) % 2 == 0)[..., None]
    floor = torch.where(checker, torch.tensor([0.62, 0.60, 0.56], device=dev), torch.tensor([0.42, 0.40, 0.38], device=dev))
    pw = o + d * t_wall.clamp(max=1e3)[..., None]
    band = ((pw[..., 1] > 1.0) & (pw[..., 1] < 1.3))[..., None]
    wall = torch.where(band, torch.tensor([0.45, 0.55, 0.65], device=dev), torch.tensor([0.78, 0.76, 0.70], device=dev))
    up, back = torch.tensor([0.0, 1.0, 0.0], device=dev), torch.tensor([0.0, 0.0, 1.0], device=dev)
    sun = torch.tensor([0.35, 0.8, 0.48], device=dev)
    sun = sun / sun.norm()
    albedo = torch.where((t_floor < t_wall)[..., None], floor, wall)
    normal = torch.where((t_floor < t_wall)[..., None], up, back)
    on_body = (t_hit < torch.minimum(t_floor, t_wall))[..., None]
    albedo = torch.where(on_body, palette[part], albedo)
    normal = torch.where(on_body, n_body, normal)
    light = 0.45 + 0.65 * (normal * sun).sum(-1, keepdim=True).clamp(min=0)
    rgb = (albedo * light).clamp(0, 1)
    return (rgb * 255 + 0.5).to(torch.uint8).reshape(B, height, width, 3)
