"""Captions from a world's parameters and the manoeuvres a player made.

    caption(world, plan.moves, c2w)
    -> "walks forward through a pine forest at dusk, then turns left, then runs forward toward a red tower"
    storyboard(world, plan.moves, c2w)   # one caption per manoeuvre: [{"start", "end", "text"}, ...]
"""
from __future__ import annotations

import math

import numpy as np

NOTICE_M = 160.0          # landmarks farther than this are not mentioned
NOTICE_DEG = 25.0         # ... nor those more than this off the view direction


def landmark_ahead(world, c2w: np.ndarray) -> str | None:
    """'a red tower' when a landmark is in front of the camera c2w (4, 4), nearest first."""
    pos, forward = c2w[:3, 3], c2w[:3, 2]
    heading = math.atan2(forward[0], forward[2])
    size = world.terrain.size_m
    best = None
    for mark in world.objects.landmarks:
        dx = (mark.x - pos[0] + size / 2) % size - size / 2
        dz = (mark.z - pos[2] + size / 2) % size - size / 2
        dist = math.hypot(dx, dz)
        off = abs((math.atan2(dx, dz) - heading + math.pi) % (2 * math.pi) - math.pi)
        if 5.0 < dist < NOTICE_M and math.degrees(off) < NOTICE_DEG and (best is None or dist < best[0]):
            best = (dist, f"a {mark.colour} {mark.kind}")
    return None if best is None else best[1]


def caption(world, moves, c2w: np.ndarray) -> str:
    """One sentence for a clip: the first move with the place, then the others in order."""
    x, z = float(c2w[0, 0, 3]), float(c2w[0, 2, 3])
    parts = [f"{moves[0].phrase} {world.describe(x, z)}"] + [m.phrase for m in moves[1:]]
    text = ", then ".join(parts)
    mark = landmark_ahead(world, c2w[-1])
    return text + (f" toward {mark}" if mark else "")


def storyboard(world, moves, c2w: np.ndarray) -> list[dict]:
    """Per-manoeuvre captions (for storyboards and per-segment conditioning)."""
    out = []
    for m in moves:
        mid = c2w[(m.start + m.end - 1) // 2]
        text = f"{m.phrase} {world.describe(float(mid[0, 3]), float(mid[2, 3]))}"
        mark = landmark_ahead(world, c2w[m.end - 1])
        out.append({"start": m.start, "end": m.end, "move": m.name, "text": text + (f" toward {mark}" if mark else "")})
    return out
