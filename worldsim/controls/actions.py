"""The named actions: the only vocabulary between input devices and rigs.

Rigs read these names, never key codes. Three families:

- BUTTONS: held buttons, 1.0 while held, else 0.0.
- AXES: floats. `look_dx`, `look_dy` are mouse deltas in pixels since the last tick (x right,
  y down: moving the mouse down gives look_dy > 0, which looks down). Stick axes are in -1..1 with
  x to the right and y UP (pushed forward is +1; pygame's raw y axis is the opposite, the default
  bindings flip it).
- TRIGGERS: one-shot events (quit, screenshot, ...) delivered by `pop_triggers()`, never held.
"""
from __future__ import annotations

import math

from .schema import ControlError

BUTTONS = (
    "move_forward", "move_backward", "strafe_left", "strafe_right", "move_up", "move_down",
    "turn_left", "turn_right", "look_up", "look_down", "sprint", "wave", "jump", "crouch",
)
MOUSE_AXES = ("look_dx", "look_dy")
STICK_AXES = ("left_stick_x", "left_stick_y", "right_stick_x", "right_stick_y")
AXES = MOUSE_AXES + STICK_AXES
TRIGGERS = ("quit", "toggle_fullscreen", "screenshot", "reset", "toggle_hud", "toggle_mouse_grab")
ACTIONS = BUTTONS + AXES + TRIGGERS

_BUTTON_SET = frozenset(BUTTONS)
_AXIS_SET = frozenset(AXES)
_TRIGGER_SET = frozenset(TRIGGERS)


def idle_actions() -> dict[str, float]:
    """The sample of a tick with nothing pressed: every button and axis at 0.0."""
    return dict.fromkeys(BUTTONS + AXES, 0.0)


def action_family(name: str) -> str:
    """'button' | 'axis' | 'trigger' for a known action name; ValueError naming the choices otherwise."""
    if name in _BUTTON_SET:
        return "button"
    if name in _AXIS_SET:
        return "axis"
    if name in _TRIGGER_SET:
        return "trigger"
    raise ValueError(f"unknown action {name!r}; known actions: {', '.join(ACTIONS)}")


def check_finite(actions: dict[str, float], who: str) -> None:
    """Raise ControlError naming the actions whose values are NaN or infinite (a rig never integrates them)."""
    bad = [k for k, v in actions.items() if not math.isfinite(v)]
    if bad:
        raise ControlError(f"{who}: non-finite action values {', '.join(f'{k}={actions[k]}' for k in bad)}")


def held_buttons(actions: dict[str, float]) -> list[str]:
    """Names of the buttons held in one tick's sample, in BUTTONS order."""
    return [b for b in BUTTONS if actions.get(b, 0.0) > 0.5]


def sample_step(source, frames: int) -> list[dict[str, float]]:
    """The actions of the next `frames` ticks, read from `source` now (the frame loop reads a step's
    controls all at once, at the step's first tick, so the step can go to the renderer at once).

    A source that knows its future (a script: `sample_step(n)`) gives each tick's own actions. A live
    source is read once and held: buttons and sticks stay as they are now for the whole step, and
    the mouse moved since the last read is spread evenly over the step's frames."""
    own = getattr(source, "sample_step", None)
    if own is not None:
        return own(frames)
    now = source.sample()
    held = {name: (value / frames if name in MOUSE_AXES else value) for name, value in now.items()}
    return [dict(held) for _ in range(frames)]
