"""Bindings: the saveable table from device inputs to named actions (TOML).

    [keys]                      # pygame key constant name without "K_", lowercase -> action
    w = "move_forward"
    lshift = "sprint"
    [mouse]                     # mouse motion axes -> axis action; a leading "-" inverts
    x = "look_dx"
    y = "look_dy"
    [mouse_buttons]             # 1 left, 2 middle, 3 right
    3 = "toggle_mouse_grab"
    [gamepad]
    deadzone = 0.15             # stick values with |v| < deadzone read 0; the rest is rescaled
    [gamepad.axes]              # joystick axis index -> axis action; "-" inverts
    1 = "-left_stick_y"
    [gamepad.buttons]           # joystick button index -> button or trigger
    0 = "jump"
    [gamepad.hat]               # d-pad directions (up, down, left, right) -> button or trigger
    up = "move_forward"

Keys, mouse buttons, gamepad buttons and hat directions take buttons or triggers; mouse and
gamepad axes take axes. Anything else is a `BindingsError` that names the file and line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")   # before pygame's import banner
import pygame  # noqa: E402
import tomli_w

from . import tomlfile
from .actions import ACTIONS, action_family
from .schema import ControlError

KEY_CODES: dict[str, int] = {n[2:].lower(): getattr(pygame, n) for n in dir(pygame) if n.startswith("K_")}
HAT_DIRECTIONS = ("up", "down", "left", "right")


class BindingsError(ControlError):
    """A bindings table names an unknown action, key or device input."""


@dataclass
class Bindings:
    keys: dict[str, str] = field(default_factory=dict)             # key name -> button/trigger
    mouse: dict[str, str] = field(default_factory=dict)            # "x"/"y" -> [-]axis
    mouse_buttons: dict[int, str] = field(default_factory=dict)    # 1.. -> button/trigger
    gamepad_axes: dict[int, str] = field(default_factory=dict)     # axis index -> [-]axis
    gamepad_buttons: dict[int, str] = field(default_factory=dict)  # button index -> button/trigger
    gamepad_hat: dict[str, str] = field(default_factory=dict)      # up/down/left/right -> button/trigger
    deadzone: float = 0.15

    @classmethod
    def default(cls) -> "Bindings":
        return cls.loads(DEFAULT_TOML, source="<default bindings>")

    @classmethod
    def load(cls, path: str | Path) -> "Bindings":
        return cls.loads(tomlfile.read_text(path, BindingsError, "bindings file"), source=str(path))

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> "Bindings":
        data = tomlfile.parse(text, source, BindingsError)
        return _parse(data, text, source)

    def to_dict(self) -> dict:
        return {
            "keys": dict(self.keys), "mouse": dict(self.mouse),
            "mouse_buttons": {str(k): v for k, v in self.mouse_buttons.items()},
            "gamepad": {"deadzone": self.deadzone,
                        "axes": {str(k): v for k, v in self.gamepad_axes.items()},
                        "buttons": {str(k): v for k, v in self.gamepad_buttons.items()},
                        "hat": dict(self.gamepad_hat)},
        }

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())

    def key_codes(self) -> dict[int, str]:
        """pygame key code -> action, for event handling."""
        return {KEY_CODES[name]: action for name, action in self.keys.items()}


def split_sign(target: str) -> tuple[str, float]:
    """"-left_stick_y" -> ("left_stick_y", -1.0)."""
    return (target[1:], -1.0) if target.startswith("-") else (target, 1.0)


def _line_of(text: str, key: str, value: str) -> int | None:
    """1-based line of `key = "value"` in the TOML text (tomllib gives no positions)."""
    for i, line in enumerate(text.splitlines(), 1):
        lhs, eq, rhs = line.partition("=")
        if eq and lhs.strip().strip("\"'") == key and value in rhs:
            return i
    return None


def _parse(data: dict, text: str, source: str) -> Bindings:
    def fail(section: str, key: str, value: object, why: str) -> BindingsError:
        line = _line_of(text, key, str(value))
        where = f"{source}, line {line}" if line else source
        return BindingsError(f"{where}: [{section}] {key} = {value!r}: {why}")

    def target(section: str, key: str, value: object, family: set[str]) -> str:
        if not isinstance(value, str):
            raise fail(section, key, value, "expected an action name (a string)")
        name, sign = split_sign(value)
        try:
            fam = action_family(name)
        except ValueError:
            raise fail(section, key, value, f"unknown action {name!r}; known: {', '.join(ACTIONS)}") from None
        if fam not in family:
            raise fail(section, key, value, f"{name!r} is a {fam}; this section takes {' or '.join(sorted(family))}s")
        if sign < 0 and fam != "axis":
            raise fail(section, key, value, "only axes can be inverted with '-'")
        return value

    def index(section: str, key: str, value: object) -> int:
        try:
            i = int(key)
        except ValueError:
            raise fail(section, key, value, "expected an integer index") from None
        if i < 0:
            raise fail(section, key, value, "index must be >= 0")
        return i

    known = {"keys", "mouse", "mouse_buttons", "gamepad"}
    for section in data:
        if section not in known:
            raise BindingsError(f"{source}: unknown section [{section}]; known: {', '.join(sorted(known))}")
    b = Bindings()
    press = {"button", "trigger"}
    for k, v in data.get("keys", {}).items():
        if k.lower() not in KEY_CODES:
            raise fail("keys", k, v, "unknown key name (use pygame's K_ names without 'K_', e.g. w, lshift, space, f11)")
        b.keys[k.lower()] = target("keys", k, v, press)
    for k, v in data.get("mouse", {}).items():
        if k not in ("x", "y"):
            raise fail("mouse", k, v, "mouse motion keys are 'x' and 'y'")
        b.mouse[k] = target("mouse", k, v, {"axis"})
    for k, v in data.get("mouse_buttons", {}).items():
        b.mouse_buttons[index("mouse_buttons", k, v)] = target("mouse_buttons", k, v, press)
    pad = data.get("gamepad", {})
    for k, v in pad.items():
        if k == "deadzone":
            if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
                raise fail("gamepad", k, v, "deadzone must be a number in [0, 1)")
            b.deadzone = float(v)
        elif k not in ("axes", "buttons", "hat"):
            raise BindingsError(f"{source}: unknown section [gamepad.{k}]; known: axes, buttons, hat")
    for k, v in pad.get("axes", {}).items():
        b.gamepad_axes[index("gamepad.axes", k, v)] = target("gamepad.axes", k, v, {"axis"})
    for k, v in pad.get("buttons", {}).items():
        b.gamepad_buttons[index("gamepad.buttons", k, v)] = target("gamepad.buttons", k, v, press)
    for k, v in pad.get("hat", {}).items():
        if k not in HAT_DIRECTIONS:
            raise fail("gamepad.hat", k, v, f"hat directions are {', '.join(HAT_DIRECTIONS)}")
        b.gamepad_hat[k] = target("gamepad.hat", k, v, press)
    return b


DEFAULT_TOML = """\
[keys]
w = "move_forward"
s = "move_backward"
a = "strafe_left"
d = "strafe_right"
e = "move_up"
q = "move_down"
left = "turn_left"
right = "turn_right"
up = "look_up"
down = "look_down"
lshift = "sprint"
f = "wave"
space = "jump"
lctrl = "crouch"
c = "crouch"
escape = "quit"
f11 = "toggle_fullscreen"
f12 = "screenshot"
r = "reset"
h = "toggle_hud"
g = "toggle_mouse_grab"

[mouse]
x = "look_dx"
y = "look_dy"

[mouse_buttons]
3 = "toggle_mouse_grab"

[gamepad]
deadzone = 0.15

[gamepad.axes]
0 = "left_stick_x"
1 = "-left_stick_y"
3 = "right_stick_x"
4 = "-right_stick_y"

[gamepad.buttons]
0 = "jump"
1 = "crouch"
2 = "wave"
3 = "screenshot"
4 = "sprint"
6 = "reset"
7 = "toggle_hud"

[gamepad.hat]
up = "look_up"
down = "look_down"
left = "turn_left"
right = "turn_right"
"""
