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


def test_a_recorded_play_session_replays_exactly(tmp_path):
    import pygame
    from worldsim.controls import InputMapper, ScriptRecorder
    E = pygame.event.Event
    events = {0: [E(pygame.KEYDOWN, key=pygame.K_w, mod=0, unicode="w", scancode=0)],
              3: [E(pygame.MOUSEMOTION, pos=(0, 0), rel=(7, -3), buttons=(0, 0, 0))],
              5: [E(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=0, value=0.61803)],
              6: [E(pygame.KEYDOWN, key=pygame.K_F12, mod=0, unicode="", scancode=0)],
              9: [E(pygame.KEYUP, key=pygame.K_w, mod=0, unicode="w", scancode=0),
                  E(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=0, value=0.0)]}
    mapper = InputMapper()
    rec = ScriptRecorder(mapper)
    live, live_triggers = [], []
    for tick in range(12):
        for e in events.get(tick, []):
            mapper.handle_event(e)
        live.append(rec.sample())
        live_triggers.append(rec.pop_triggers())
    rec.script().save(tmp_path / "session.toml")
    replay = ScriptedInput.load(tmp_path / "session.toml")
    assert replay.length == 12
    again = [(replay.sample(), replay.pop_triggers()) for _ in range(12)]
    assert [a for a, _ in again] == live and [t for _, t in again] == live_triggers
    assert live_triggers[6] == ["screenshot"] and live[5]["left_stick_x"] > 0
