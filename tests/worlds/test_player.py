"""The stochastic player: real rigs, ground-following walks, captions that match the actions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldsim.controls.actions import BUTTONS
from worldsim.worlds.captions import caption, storyboard
from worldsim.worlds.player import CAMERA_MOVES, Player, walk_cameras
from worldsim.worlds.renderer import ReferenceRenderer
from worldsim.worlds.world import build_world


def _yaw(c2w):
    forward = c2w[:3, 2]
    return math.atan2(-forward[0], -forward[2])              # + = turned left (yaw 0 looks along -z)


def test_plan_is_seeded_and_emits_named_actions():
    a, b = Player(11).plan(120), Player(11).plan(120)
    assert a.moves == b.moves and a.actions() == b.actions()
    assert a.moves != Player(12).plan(120).moves
    assert a.moves[0].start == 0 and a.moves[-1].end == 120
    assert all(m.end == n.start for m, n in zip(a.moves, a.moves[1:]))
    for frame in a.actions():
        assert set(frame) >= set(BUTTONS) and all(v in (0.0, 1.0) for k, v in frame.items() if k in BUTTONS)


def test_walk_stays_on_the_ground_at_eye_height():
    world = build_world(1)
    plan = Player(4).plan(96)
    c2w = walk_cameras(world, plan.actions())
    for m in c2w:
        ground = world.terrain.ground_height(m[0, 3], m[2, 3])
        assert m[1, 3] == pytest.approx(ground + 1.7, abs=1e-6)


def test_renderer_adds_ground_height_to_client_cameras():
    """A client rig without terrain sends y = eye height from its origin (0, 0); the renderer puts
    that origin at the world's spawn point (dry land) and lifts the camera onto the ground."""
    world = build_world(5)
    x, z = world.spawn_point()
    relative, absolute = np.eye(4), np.eye(4)
    relative[:3, :3] = absolute[:3, :3] = np.diag([1.0, -1.0, -1.0])
    relative[:3, 3] = (0.0, 1.7, 0.0)
    absolute[:3, 3] = (x, world.terrain.ground_height(x, z) + 1.7, z)
    frames = []
    for mode, c2w in (("above_ground", relative), ("absolute", absolute)):
        r = ReferenceRenderer(width=16, height=16, compile=False, camera_height=mode)
        frames.append(r.step([r.open(5)], [[{"camera": {"c2w": c2w.ravel().tolist()}}]])[0])
    np.testing.assert_array_equal(frames[0], frames[1])
    # a camera sent below the ground (a fly-mode rig starts at y = 0) is kept above it
    r = ReferenceRenderer(width=16, height=16, compile=False)
    r.open(5)
    under = torch.tensor(relative, dtype=torch.float32)[None].clone()
    under[0, :3, 3] = torch.tensor([x, -5.0, z])         # lift takes world (x, z)
    lifted = r.lift(r._stack((5,)), torch.zeros(1, dtype=torch.long), under)
    assert float(lifted[0, 1, 3]) == pytest.approx(world.terrain.ground_height(x, z) + 0.5, abs=1e-3)


def test_captions_match_the_actions_taken():
    world = build_world(2)
    for seed in range(6):
        plan = Player(seed).plan(144)
        actions = plan.actions()
        c2w = walk_cameras(world, actions)
        text = caption(world, plan.moves, c2w)
        # every manoeuvre is named, in order
        pos = 0
        for m in plan.moves:
            found = text.find(m.phrase, pos)
            assert found >= 0, f"{m.phrase!r} missing from {text!r}"
            pos = found + len(m.phrase)
        for m, shot in zip(plan.moves, storyboard(world, plan.moves, c2w)):
            assert shot["text"].startswith(m.phrase) and (shot["start"], shot["end"]) == (m.start, m.end)
            held = CAMERA_MOVES[m.name][1]
            assert all(actions[t][b] == 1.0 for t in range(m.start, m.end) for b in held)
            # and the camera did what the words say
            first, last = c2w[m.start - 1] if m.start else c2w[0], c2w[m.end - 1]
            path = [first] + list(c2w[m.start:m.end])
            turn = sum((_yaw(b) - _yaw(a) + math.pi) % (2 * math.pi) - math.pi for a, b in zip(path, path[1:]))
            moved = np.linalg.norm((last[:3, 3] - first[:3, 3])[[0, 2]])
            if m.name == "turn_left":
                assert turn > 0.1 and moved < 1e-6
            if m.name == "turn_right":
                assert turn < -0.1 and moved < 1e-6
            if m.name in ("walk", "run") and m.end - m.start > 12:
                along = -(last[:3, 3] - first[:3, 3]) @ np.array([math.sin(_yaw(first)), 0, math.cos(_yaw(first))])
                assert along > 0.3 * moved > 0
            if m.name == "stop":
                assert moved < 1e-6
