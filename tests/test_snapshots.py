"""World.snapshot / restore / save_snapshot / worldsim.load_snapshot (docs/sdk.md)."""
from __future__ import annotations

import numpy as np
import pytest

import worldsim
from worldsim.errors import WorldsimUserError
from worldsim.runtime.inprocess import LocalClient
from worldsim.world import World

MOVES = [{"move_forward": 1.0, "look_dx": 3.0}, {"turn_left": 1.0}, {"strafe_right": 1.0, "look_dy": -2.0}]


def _branch(world, moves=MOVES):
    return [world.step(m) for m in moves]


def _check_restore(world, tmp_path):
    world.step({})
    world.step({"move_forward": 1.0})
    snap = world.snapshot()
    after = _branch(world)
    world.restore(snap)
    assert all(np.array_equal(a, b) for a, b in zip(after, _branch(world)))
    world.restore(snap)
    world.save_snapshot(tmp_path / "snap.safetensors")
    world.reset(seed=world.seed + 1)                 # elsewhere, then back from the file
    world.step({})
    world.restore(worldsim.load_snapshot(tmp_path / "snap.safetensors"))
    assert world.steps == 2
    assert all(np.array_equal(a, b) for a, b in zip(after, _branch(world)))


def test_aapt_tiny_restore_is_bit_exact(tmp_path):
    world = World(LocalClient("aapt", {"preset": "tiny"}), "aapt", {"preset": "tiny"}, seed=3)
    with world:
        _check_restore(world, tmp_path)


def test_reference_restore_is_bit_exact(tmp_path):
    with worldsim.open("reference", size=(32, 32), seed=1, in_process=True) as world:
        _check_restore(world, tmp_path)


def test_unsupported_renderer_and_mismatch(tmp_path):
    with worldsim.open("testpattern", size=(64, 48), in_process=True) as world:
        with pytest.raises(WorldsimUserError, match="does not support snapshots"):
            world.snapshot()
    with worldsim.open("reference", size=(32, 32), in_process=True) as world:
        world.step({})
        snap = world.snapshot()
    with worldsim.open("reference", size=(64, 32), in_process=True) as other:
        with pytest.raises(WorldsimUserError, match="snapshot is of reference 32x32"):
            other.restore(snap)
        with pytest.raises(WorldsimUserError, match="restore takes a snapshot"):
            other.restore({"nope": 1})
    with pytest.raises(WorldsimUserError, match="load_snapshot"):
        worldsim.load_snapshot(tmp_path / "missing.safetensors")


def test_a_worker_renderer_without_snapshots_says_so():
    with worldsim.open("testpattern", size=(64, 48)) as world:
        with pytest.raises(WorldsimUserError, match="'testpattern' renderer does not support snapshots"):
            world.snapshot()
        world.step({})                                   # the worker serves on
