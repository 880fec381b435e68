"""ScriptedInput: the TOML input script format, its errors, and replay determinism."""
import numpy as np
import pytest

from worldsim.controls import CameraRig, PoseRig, ScriptedInput, ScriptError

SCRIPT = """
length = 40
[[segment]]
ticks = [0, 20]
hold = ["move_forward", "sprint"]
axes = { look_dx = 4.0, left_stick_x = 0.5 }
[[segment]]
ticks = [10, 30]
hold = ["turn_left", "wave"]
[[segment]]
ticks = [25, 28]
hold = ["jump", "crouch"]
axes = { right_stick_y = 1.0 }
[[trigger]]
tick = 5
action = "screenshot"
"""


def test_segments_overlap_and_triggers_fire_at_their_tick():
    s = ScriptedInput.loads(SCRIPT)
    samples = [s.sample() for _ in range(6)]
    assert samples[0]["move_forward"] == 1.0 and samples[0]["look_dx"] == 4.0
    assert samples[0]["turn_left"] == 0.0
    assert s.pop_triggers() == ["screenshot"] and s.pop_triggers() == []
    for _ in range(6, 12):
        a = s.sample()
    assert a["turn_left"] == 1.0 and a["move_forward"] == 1.0
    while not s.done:
        a = s.sample()
    assert s.tick == 40 and a == {k: 0.0 for k in a}


def test_script_round_trips_through_toml(tmp_path):
    s = ScriptedInput.loads(SCRIPT)
    s.save(tmp_path / "s.toml")
    t = ScriptedInput.load(tmp_path / "s.toml")
    assert [t.sample() for _ in range(40)] == [s.sample() for _ in range(40)]


def _replay(path):
    script = ScriptedInput.load(path)
    cam, pose = CameraRig(mode="walk"), PoseRig()
    c2ws, kps = [], []
    while not script.done:
        a = script.sample()
        c2ws.append(cam.step(a))
        kps.append(pose.step(a))
    return np.stack(c2ws), np.stack(kps)


def test_replayed_script_drives_camera_and_pose_rigs_to_the_same_trajectories(tmp_path):
    path = tmp_path / "walk.toml"
    path.write_text(SCRIPT)
    c1, k1 = _replay(path)
    c2, k2 = _replay(path)
    assert c1.shape == (40, 4, 4) and k1.shape == (40, 17, 3)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(k1, k2)
    assert np.abs(c1[-1, :3, 3] - c1[0, :3, 3]).max() > 1.0      # it really moved
    assert np.abs(k1[-1, :, :2] - k1[0, :, :2]).max() > 0.01


@pytest.mark.parametrize("text, message", [
    ('[[segment]]\nticks = [0, 4]\nhold = ["moonwalk"]', r"segment #1: unknown action 'moonwalk'"),
    ('[[segment]]\nticks = [4, 0]', "'ticks' must be"),
    ('[[segment]]\nticks = [0, 4]\nhold = ["look_dx"]', "is a axis, expected a button"),
    ('[[segment]]\nticks = [0, 4]\naxes = { look_dx = nan }', "must be a finite number"),
    ('[[trigger]]\ntick = -1\naction = "quit"', "'tick' must be an integer"),
    ('[[trigger]]\ntick = 1\naction = "jump"', "is a button, expected a trigger"),
    ('speed = 3', "unknown top-level keys"),
])
def test_bad_scripts_are_clear_errors(text, message):
    with pytest.raises(ScriptError, match=message):
        ScriptedInput.loads(text)
