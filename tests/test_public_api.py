"""The SDK surface: worldsim.open / World.step / reset / record / close (docs/sdk.md)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import worldsim
from worldsim.errors import WorldsimUserError
from worldsim.runtime.play import EMBEDDED_CHECKPOINT


def _c2w(world) -> np.ndarray:
    return np.array(world.last_packets[-1]["camera"]["c2w"]).reshape(4, 4)


@pytest.fixture
def world():
    with worldsim.open("testpattern", size=(64, 48), in_process=True) as w:
        yield w


def test_import_stays_cheap():
    code = "import sys, worldsim; print(any(m in sys.modules for m in ('worldsim.world', 'torch', 'zmq')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert worldsim.open is worldsim.world.open and "open" in worldsim.__all__


def test_step_shape_dtype_spec_and_torch(world):
    assert (world.spec.width, world.spec.height, world.spec.name) == (64, 48, "testpattern")
    assert "camera" in world.spec.control_kinds and world.spec.fps > 0
    assert world.frames_per_step() == world.spec.first_step_frames
    first = world.step({})
    assert first.shape == (world.spec.first_step_frames, 48, 64, 3) and first.dtype == np.uint8
    assert world.frames_per_step() == world.spec.frames_per_step
    frames = world.step({"turn_right": 1.0}, as_torch=True)
    import torch
    assert isinstance(frames, torch.Tensor) and frames.dtype == torch.uint8
    assert tuple(frames.shape) == (world.spec.frames_per_step, 48, 64, 3)


def test_named_actions_move_the_camera(world):
    world.step(None)
    start = _c2w(world)
    still = world.step({})
    assert np.allclose(_c2w(world), start)
    world.step({"move_forward": 1.0})
    moved = _c2w(world)
    forward = start[:3, 2]                                  # OpenCV: z is forward
    assert np.dot(moved[:3, 3] - start[:3, 3], forward) > 0.05
    world.step({"look_dx": 20.0})
    assert not np.allclose(_c2w(world)[:3, :3], moved[:3, :3])    # turned
    assert not np.array_equal(world.step({"turn_right": 1.0}), still)   # the picture follows


def test_ready_packets(world):
    from worldsim.controls import PacketBuilder, idle_actions
    rig = PacketBuilder(["camera"], fps=world.spec.fps)
    frames = world.step([rig.tick(idle_actions()) for _ in range(world.frames_per_step())])
    assert frames.shape[0] == world.spec.first_step_frames
    with pytest.raises(WorldsimUserError, match="takes 4 control packets"):
        world.step([rig.tick(idle_actions())])
    with pytest.raises(WorldsimUserError, match="step 1"):
        world.step([{"camera": {"c2w": [0.0] * 16}}] * 4)         # the renderer refuses it: one line


def test_reset_with_a_new_seed(world):
    world.step({})
    start = _c2w(world)
    world.step({"move_forward": 1.0})
    world.reset(seed=7)
    assert (world.seed, world.steps) == (7, 0)
    assert world.step({}).shape[0] == world.spec.first_step_frames
    assert np.allclose(_c2w(world), start)                 # the camera is back at its start
    world.reset()
    assert world.seed == 7


def test_context_manager_closes_the_worker():
    with worldsim.open("testpattern", size=(32, 32)) as world:
        process = world.client.process
        assert process is not None and process.alive()
        assert world.step({"move_forward": 1}).shape == (1, 32, 32, 3)
    assert world.closed and not process.alive()
    with pytest.raises(WorldsimUserError, match="closed"):
        world.step({})
    world.close()                                          # twice is fine


def test_record_writes_every_frame_from_now_on(world, tmp_path):
    from worldsim.render.recorder import ControlLog
    from worldsim.render.video import read_video
    world.step({})                                         # before record: not in the video
    path = tmp_path / "walk.mp4"
    world.record(str(path))
    stepped = [world.step({"move_forward": 1.0}) for _ in range(3)]
    world.close()
    video = read_video(path)
    assert video.shape == (sum(len(f) for f in stepped), 48, 64, 3)
    log = ControlLog.read(tmp_path / "walk.ctl.msgpack")
    assert log.complete and len(log.ticks) == len(video) and log.meta["renderer"] == "testpattern"


@pytest.mark.parametrize("kwargs, message", [
    ({"renderer": "nope"}, "unknown renderer 'nope'"),
    ({"checkpoint": "x", "model": "pose"}, "give one"),
    ({"model": "nope"}, "no shipped model 'nope'"),
    ({"connect": "tcp://127.0.0.1:1", "in_process": True}, "contradicts"),
    ({"connect": "localhost"}, "tcp://"),
    ({"size": (64,)}, "size="),
])
def test_bad_open_arguments(kwargs, message):
    with pytest.raises(WorldsimUserError, match=message) as err:
        worldsim.open(**kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("controls, message", [
    ({"fly_forward": 1.0}, "unknown action 'fly_forward'"),
    ({"quit": 1.0}, "one-shot"),
    ({"move_forward": "yes"}, "takes a number"),
    ({"look_dx": float("nan")}, "finite"),
    ("forward", "dict of named actions or a list"),
])
def test_bad_controls(world, controls, message):
    with pytest.raises(WorldsimUserError, match=message) as err:
        world.step(controls)
    assert "\n" not in str(err.value)
    assert world.steps == 0                                # nothing was stepped


@pytest.mark.skipif(not (EMBEDDED_CHECKPOINT / "config.json").exists(), reason="no embedded model")
def test_embedded_model_in_process():
    with worldsim.open(in_process=True, seed=1) as world:
        assert world.renderer == "aapt" and world.spec.info.get("checkpoint")
        first = world.step({})
        assert first.shape == (1, world.spec.height, world.spec.width, 3) and first.dtype == np.uint8
        start = _c2w(world)
        frames = world.step({"move_forward": 1.0})
        assert frames.shape == (world.spec.frames_per_step, world.spec.height, world.spec.width, 3)
        assert np.dot(_c2w(world)[:3, 3] - start[:3, 3], start[:3, 2]) > 0.05
        world.reset(seed=2)
        assert world.seed == 2 and world.step({}).shape[0] == 1
