"""worldsim.open(..., renderer_options={...}): options reach the renderer; unknown ones are one line."""
import numpy as np
import pytest

import worldsim
from worldsim.world import renderer_parameters


def test_options_reach_the_renderer_in_process():
    with worldsim.open("reference", size=(32, 24), seed=1, in_process=True) as plain, \
            worldsim.open("reference", size=(32, 24), seed=1, in_process=True,
                          renderer_options={"fovy_deg": 100.0}) as wide:
        assert wide.client.renderer.fovy_deg == 100.0 and wide.options["fovy_deg"] == 100.0
        assert not np.array_equal(plain.step({}), wide.step({}))      # a wider view, another picture


def test_options_reach_a_worker_process():
    with worldsim.open("testpattern", size=(64, 48), renderer_options={"fps": 12.0}) as world:
        assert world.client.process is not None and world.spec.fps == 12.0


@pytest.mark.parametrize("options, words", [
    ({"fov": 1}, ["renderer 'reference' takes no option 'fov'", "fovy_deg", "compile"]),
    ({"width": 8}, ["renderer_options= sets width", "give each once"]),
    ([("fovy_deg", 1)], ["renderer_options= takes a dict"]),
])
def test_bad_options_are_one_line_before_any_worker_starts(options, words):
    with pytest.raises(worldsim.WorldsimUserError) as err:
        worldsim.open("reference", size=(32, 24), renderer_options=options)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words)


def test_remote_worker_options_cannot_change():
    with pytest.raises(worldsim.WorldsimUserError, match="renderer_options= cannot change it"):
        worldsim.open(connect="tcp://127.0.0.1:1", renderer_options={"fovy_deg": 80})


def test_renderer_parameters_lists_what_the_factory_takes():
    assert {"compile", "preset", "threads"} <= set(renderer_parameters("aapt"))
    assert renderer_parameters("testpattern") == ["width", "height", "fps", "fovy_deg"]


def test_the_prompt_reaches_the_session_and_its_recording(tmp_path, live_tiny_checkpoint):
    """prompt= is the session's text prompt (aapt encodes it): another prompt, another picture; it
    stays through reset and open_sibling, and the recording's header names it."""
    opts = {"checkpoint": live_tiny_checkpoint}
    with worldsim.open("aapt", seed=2, in_process=True, renderer_options=opts, prompt="a pine forest") as a, \
            worldsim.open("aapt", seed=2, in_process=True, renderer_options=opts, prompt="a desert at dusk") as b:
        a.step({}), b.step({})
        assert not np.array_equal(a.step({"move_forward": 1.0}), b.step({"move_forward": 1.0}))
        a.reset()
        assert a.prompt == "a pine forest" and a.open_sibling(seed=3).prompt == "a pine forest"
        a.record(str(tmp_path / "run.mp4"))
        a.step({})
        a.record(None)
    from worldsim.render.recorder import ControlLog
    assert ControlLog.read(tmp_path / "run.ctl.msgpack").meta["prompt"] == "a pine forest"
    with pytest.raises(worldsim.WorldsimUserError, match="prompt= takes a str"):
        worldsim.open("testpattern", prompt=3)
