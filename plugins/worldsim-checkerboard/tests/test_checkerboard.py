"""The checkerboard renderer plugin: the protocol, the picture follows the camera, discovery
through its pyproject's entry points (fake metadata, no install), its `worldsim checkerboard` command."""
from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from worldsim_checkerboard import CheckerboardRenderer

import worldsim
from worldsim import plugins
from worldsim.cli import main
from worldsim.controls.camera_rig import look_rotation
from worldsim.rendering import RendererError, check_renderer
from worldsim.runtime.registry import create_renderer
from worldsim.testing import renderer_registry  # noqa: F401  (fixture)

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def pose(yaw=0.0, pitch=0.0, x=0.0, z=0.0, height=1.7) -> np.ndarray:
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = look_rotation(yaw, pitch), (x, height, z)
    return c2w


def frame(renderer, c2w, seed=0) -> np.ndarray:
    state = renderer.open(seed, controls=["camera"])
    return renderer.step([state], [[{"camera": {"c2w": c2w.reshape(-1).tolist()}}]])[0][0]


def test_it_passes_the_protocol_checker():
    check_renderer(CheckerboardRenderer, {"width": 48, "height": 32}, steps=4)


def test_sky_above_the_horizon_floor_below_and_the_floor_follows_the_camera():
    r = CheckerboardRenderer(64, 36)
    level = frame(r, pose())
    assert np.array_equal(level[:18], level[:18, ::-1])             # sky: a gradient by elevation, no tiles
    assert (level[0].astype(int).sum() < level[17].astype(int).sum())  # darker towards the zenith
    assert len(np.unique(level[18:].reshape(-1, 3), axis=0)) > 20   # floor: tiles fading into haze
    assert np.array_equal(frame(r, pose(x=2.0, z=-4.0)), level)     # whole two-tile periods: the same floor
    one_tile = frame(r, pose(z=-1.0))                              # one tile on: the colours swap
    assert not np.array_equal(one_tile, level) and np.array_equal(one_tile[:18], level[:18])
    turned = frame(r, pose(yaw=37.0))
    assert not np.array_equal(turned[18:], level[18:]) and np.array_equal(turned[:18], level[:18])
    assert (frame(r, pose(pitch=-60.0))[:4] != level[:4]).any()    # looking down: floor at the top too
    assert not np.array_equal(frame(r, pose(), seed=1), level)     # the seed picks the colours


def test_a_bad_packet_is_a_bad_request_of_that_session_only():
    r = CheckerboardRenderer(16, 16)
    good, bad = r.open(0), r.open(1)
    with pytest.raises(RendererError, match="16 finite floats") as err:
        r.step([good, bad], [[{"camera": {"c2w": pose().reshape(-1).tolist()}}], [{"camera": {"c2w": [0.0] * 15}}]])
    assert err.value.index == 1 and good.steps == bad.steps == 0   # nothing changed
    with pytest.raises(RendererError, match="accepts controls"):
        r.open(0, controls=["pose"])


@pytest.fixture
def declared_entry_points(monkeypatch):
    """The entry points this plugin's pyproject declares, as if it were installed."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    monkeypatch.setattr(metadata, "entry_points", lambda group: [
        metadata.EntryPoint(name=n, value=v, group=group) for n, v in declared.get(group, {}).items()])
    plugins.refresh()
    yield declared
    monkeypatch.undo()
    plugins.refresh()


def test_the_pyproject_entry_point_makes_a_world_that_walks(declared_entry_points):
    assert "checkerboard" in worldsim.available_renderers()
    assert create_renderer("checkerboard", width=32, height=24).spec.name == "checkerboard"
    with worldsim.open("checkerboard", size=(64, 36), in_process=True) as world:
        first = world.step({})
        walked = [world.step({"move_forward": 1.0}) for _ in range(3)][-1]
    assert first.shape == (1, 36, 64, 3) and walked.shape == (4, 36, 64, 3)
    assert not np.array_equal(walked[-1, 18:], first[0, 18:])       # the floor moved under the camera


def test_the_plugin_command_saves_a_frame(declared_entry_points, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image
    out = tmp_path / "board.png"
    assert main(["checkerboard", "--out", str(out), "--seed", "3", "--yaw", "30", "--size", "80x40"]) == 0
    assert Image.open(out).size == (80, 40) and "seed 3, yaw 30" in capsys.readouterr().out
    assert main(["checkerboard", "--out", str(out), "--size", "4x4"]) == 2
    assert "out of range 8..4096" in capsys.readouterr().err


def test_registered_without_installing(renderer_registry):
    renderer_registry("checkerboard", CheckerboardRenderer)        # the name must be spec.name
    with worldsim.open("checkerboard", size=(32, 24), in_process=True) as world:
        assert world.step({}).shape == (1, 24, 32, 3)


def test_installed_it_is_found_by_name_and_its_command_too():
    try:
        metadata.distribution("worldsim-checkerboard")
    except metadata.PackageNotFoundError:
        pytest.skip("not installed: pip install -e plugins/worldsim-checkerboard (CI does)")
    plugins.refresh()
    assert plugins.renderers.get("checkerboard") is CheckerboardRenderer
    assert plugins.plugins.describe("checkerboard").startswith("worldsim_checkerboard.command:register from package")
