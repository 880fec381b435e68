"""Bindings TOML: round trip, and clear errors naming the file and line."""
import pytest

from worldsim.controls import Bindings, BindingsError


def test_default_bindings_save_and_load_back(tmp_path):
    b = Bindings.default()
    path = tmp_path / "bindings.toml"
    b.save(path)
    again = Bindings.load(path)
    assert again == b
    assert again.keys["w"] == "move_forward" and again.gamepad_axes[1] == "-left_stick_y"


def test_unknown_action_names_the_line(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[keys]\nw = "move_forward"\ns = "moonwalk"\n')
    with pytest.raises(BindingsError, match=r"mine.toml, line 3: \[keys\] s = 'moonwalk': unknown action 'moonwalk'"):
        Bindings.load(path)


@pytest.mark.parametrize("text, message", [
    ('[keys]\nnosuchkey = "jump"', "unknown key name"),
    ('[keys]\nw = "look_dx"', "'look_dx' is a axis"),
    ('[mouse]\nx = "jump"', "'jump' is a button"),
    ('[gamepad.axes]\nx = "left_stick_x"', "expected an integer index"),
    ('[gamepad.buttons]\n0 = "-jump"', "only axes can be inverted"),
    ('[gamepad]\ndeadzone = 1.5', "deadzone must be a number"),
    ('[gamepad.hat]\nnorth = "jump"', "hat directions are"),
    ('[joystick]\n0 = "jump"', "unknown section"),
    ('[keys\n', "not valid TOML"),
])
def test_bad_bindings_are_clear_errors(text, message):
    with pytest.raises(BindingsError, match=message):
        Bindings.loads(text)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(BindingsError, match="cannot read bindings file"):
        Bindings.load(tmp_path / "nope.toml")
