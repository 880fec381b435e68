"""InputMapper: pygame events -> named actions, through a Bindings table.

    mapper = InputMapper()                      # default bindings (docs/controls.md lists them)
    for event in pygame.event.get():
        mapper.handle_event(event)
    actions = mapper.sample()                   # once per tick: {action: float}, mouse deltas consumed
    for trigger in mapper.pop_triggers():       # one-shot: "quit", "screenshot", ...
        ...

Every held action remembers which device inputs hold it (two keys bound to one action both
have to be released). The toggle_mouse_grab trigger also switches mouse-look grab
(`set_mouse_grab`). A gamepad unplugged mid-play (JOYDEVICEREMOVED) releases everything it
held, so no axis is left stuck; losing window focus releases everything too. A button pressed
and released within one tick still reads 1.0 in that tick's sample, so short taps are not lost.
"""
from __future__ import annotations

import os
from typing import Any, Hashable

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")   # before pygame's import banner
import pygame  # noqa: E402

from .actions import STICK_AXES, action_family, idle_actions
from .bindings import Bindings, split_sign
from .script import ScriptedInput

__all__ = ["InputMapper", "ScriptedInput", "Bindings"]


class InputMapper:
    def __init__(self, bindings: Bindings | None = None):
        self.bindings = bindings or Bindings.default()
        self._key_actions = self.bindings.key_codes()
        self._held: dict[str, set[Hashable]] = {}       # button -> device inputs holding it
        self._tapped: set[str] = set()                   # buttons pressed since the last sample
        self._sticks: dict[Hashable, tuple[str, float]] = {}   # ("pad", id, axis) -> (axis action, value)
        self._deltas: dict[str, float] = {}              # mouse-driven axes, consumed by sample()
        self._triggers: list[str] = []
        self._hats: dict[tuple[int, int], set[str]] = {}   # (pad, hat) -> directions pressed
        self.gamepads: dict[int, Any] = {}               # instance id -> pygame Joystick (kept open)
        self.mouse_look = True                           # False: mouse motion is ignored
        self.mouse_grabbed = False

    # ---- events -------------------------------------------------------------------------------
    def handle_event(self, event: Any) -> None:
        t = event.type
        if t == pygame.KEYDOWN or t == pygame.KEYUP:
            action = self._key_actions.get(event.key)
            if action is not None:
                self._press(action, ("key", event.key), t == pygame.KEYDOWN)
        elif t == pygame.MOUSEMOTION:
            if self.mouse_look:
                for i, axis in enumerate(("x", "y")):
                    if axis in self.bindings.mouse:
                        name, sign = split_sign(self.bindings.mouse[axis])
                        self._deltas[name] = self._deltas.get(name, 0.0) + sign * float(event.rel[i])
        elif t == pygame.MOUSEBUTTONDOWN or t == pygame.MOUSEBUTTONUP:
            action = self.bindings.mouse_buttons.get(event.button)
            if action is not None:
                self._press(action, ("mouse", event.button), t == pygame.MOUSEBUTTONDOWN)
        elif t == pygame.JOYAXISMOTION:
            self._stick(event.instance_id, event.axis, float(event.value))
        elif t == pygame.JOYBUTTONDOWN or t == pygame.JOYBUTTONUP:
            action = self.bindings.gamepad_buttons.get(event.button)
            if action is not None:
                self._press(action, ("pad", event.instance_id, "button", event.button), t == pygame.JOYBUTTONDOWN)
        elif t == pygame.JOYHATMOTION:
            self._hat(event.instance_id, event.hat, event.value)
        elif t == pygame.JOYDEVICEADDED:
            self._plug(event.device_index)
        elif t == pygame.JOYDEVICEREMOVED:
            self.release_device(event.instance_id)
            self.gamepads.pop(event.instance_id, None)
        elif t == pygame.WINDOWFOCUSLOST:
            self.release_all()
        elif t == pygame.QUIT:
            self._triggers.append("quit")

    def _press(self, action: str, source: Hashable, down: bool) -> None:
        if action_family(action) == "trigger":
            if down:
                self._triggers.append(action)
                if action == "toggle_mouse_grab":
                    self.set_mouse_grab(not self.mouse_grabbed)
            return
        holders = self._held.setdefault(action, set())
        if down:
            holders.add(source)
            self._tapped.add(action)
        else:
            holders.discard(source)

    def _stick(self, instance_id: int, axis: int, value: float) -> None:
        target = self.bindings.gamepad_axes.get(axis)
        if target is None:
            return
        name, sign = split_sign(target)
        dz = self.bindings.deadzone
        mag = abs(value)
        value = 0.0 if mag < dz else (mag - dz) / (1.0 - dz) * (1.0 if value > 0 else -1.0)
        self._sticks[("pad", instance_id, "axis", axis)] = (name, sign * min(1.0, max(-1.0, value)))

    def _hat(self, instance_id: int, hat: int, value: tuple[int, int]) -> None:
        x, y = value
        active = {d for d, on in (("up", y > 0), ("down", y < 0), ("left", x < 0), ("right", x > 0)) if on}
        before = self._hats.get((instance_id, hat), set())
        self._hats[(instance_id, hat)] = active
        for direction in active ^ before:                 # only changes press or release (triggers fire once)
            action = self.bindings.gamepad_hat.get(direction)
            if action is not None:
                self._press(action, ("pad", instance_id, "hat", hat, direction), direction in active)

    def _plug(self, device_index: int) -> None:
        # Events of a pad arrive only while it is open; keep it open until it is unplugged.
        try:
            pad = pygame.joystick.Joystick(device_index)
        except pygame.error:
            return                       # already gone again, or no joystick subsystem (headless tests)
        self.gamepads[pad.get_instance_id()] = pad

    def set_mouse_grab(self, grab: bool) -> None:
        """Mouse-look mode: the cursor is hidden and confined to the window, and relative motion
        keeps coming at the screen edges (SDL's relative mode). Without a window it only records
        the wish (`mouse_grabbed`)."""
        self.mouse_grabbed = bool(grab)
        self._deltas.clear()                             # drop the jump of the cursor
        if pygame.display.get_init() and pygame.display.get_surface() is not None:
            pygame.event.set_grab(self.mouse_grabbed)
            pygame.mouse.set_visible(not self.mouse_grabbed)

    # ---- releasing ----------------------------------------------------------------------------
    def release_device(self, instance_id: int) -> None:
        """Forget everything gamepad `instance_id` holds: buttons, hat directions, stick axes."""
        for holders in self._held.values():
            for src in [s for s in holders if s[0] == "pad" and s[1] == instance_id]:
                holders.discard(src)
        for src in [s for s in self._sticks if s[1] == instance_id]:
            del self._sticks[src]
        for key in [k for k in self._hats if k[0] == instance_id]:
            del self._hats[key]

    def release_all(self) -> None:
        self._held.clear()
        self._sticks.clear()
        self._hats.clear()
        self._deltas.clear()

    # ---- per tick -----------------------------------------------------------------------------
    def sample(self) -> dict[str, float]:
        """The actions of this tick: held buttons 1.0, axes as floats; mouse deltas are consumed."""
        out = idle_actions()
        for action, holders in self._held.items():
            if holders:
                out[action] = 1.0
        for action in self._tapped:
            out[action] = 1.0
        self._tapped.clear()
        for name, value in self._sticks.values():
            out[name] += value
        for name in STICK_AXES:
            out[name] = min(1.0, max(-1.0, out[name]))
        for name, value in self._deltas.items():
            out[name] += value
        self._deltas.clear()
        return out

    def pop_triggers(self) -> list[str]:
        triggers, self._triggers = self._triggers, []
        return triggers
