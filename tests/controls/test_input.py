"""InputMapper: real pygame events -> named actions; hot-plugging gamepads never leaves a stuck axis."""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
import pytest  # noqa: E402

from worldsim.controls import Bindings, InputMapper  # noqa: E402

E = pygame.event.Event


def key(down, k):
    return E(pygame.KEYDOWN if down else pygame.KEYUP, key=k, mod=0, unicode="", scancode=0)


def test_keys_hold_buttons_until_every_bound_key_is_released():
    m = InputMapper(Bindings.loads('[keys]\nlctrl = "crouch"\nc = "crouch"\nw = "move_forward"'))
    m.handle_event(key(True, pygame.K_LCTRL))
    m.handle_event(key(True, pygame.K_c))
    m.handle_event(key(True, pygame.K_w))
    assert m.sample()["crouch"] == 1.0
    m.handle_event(key(False, pygame.K_LCTRL))
    s = m.sample()
    assert s["crouch"] == 1.0 and s["move_forward"] == 1.0
    m.handle_event(key(False, pygame.K_c))
    m.handle_event(key(False, pygame.K_w))
    s = m.sample()
    assert s["crouch"] == 0.0 and s["move_forward"] == 0.0


def test_a_tap_shorter_than_a_tick_still_reads_once():
    m = InputMapper()
    m.handle_event(key(True, pygame.K_SPACE))
    m.handle_event(key(False, pygame.K_SPACE))
    assert m.sample()["jump"] == 1.0
    assert m.sample()["jump"] == 0.0


def test_mouse_deltas_accumulate_and_are_consumed_by_sample():
    m = InputMapper()
    m.handle_event(E(pygame.MOUSEMOTION, pos=(10, 10), rel=(3, -2), buttons=(0, 0, 0)))
    m.handle_event(E(pygame.MOUSEMOTION, pos=(14, 10), rel=(4, 1), buttons=(0, 0, 0)))
    s = m.sample()
    assert (s["look_dx"], s["look_dy"]) == (7.0, -1.0)
    assert m.sample()["look_dx"] == 0.0
    m.mouse_look = False
    m.handle_event(E(pygame.MOUSEMOTION, pos=(0, 0), rel=(5, 5), buttons=(0, 0, 0)))
    assert m.sample()["look_dx"] == 0.0


def test_triggers_fire_once_from_keys_mouse_and_window_close():
    m = InputMapper()
    m.handle_event(key(True, pygame.K_F12))
    m.handle_event(key(False, pygame.K_F12))
    m.handle_event(E(pygame.MOUSEBUTTONDOWN, button=3, pos=(0, 0)))
    m.handle_event(E(pygame.QUIT))
    assert m.pop_triggers() == ["screenshot", "toggle_mouse_grab", "quit"]
    assert m.pop_triggers() == []
    assert "screenshot" not in m.sample()


def test_gamepad_sticks_deadzone_inversion_and_hat():
    m = InputMapper()
    m.handle_event(E(pygame.JOYDEVICEADDED, device_index=0, guid="x"))
    m.handle_event(E(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=1, value=-1.0))   # pushed forward
    m.handle_event(E(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=0, value=0.1))    # inside deadzone
    m.handle_event(E(pygame.JOYHATMOTION, instance_id=0, joy=0, hat=0, value=(1, 0)))
    m.handle_event(E(pygame.JOYBUTTONDOWN, instance_id=0, joy=0, button=2))
    s = m.sample()
    assert s["left_stick_y"] == 1.0 and s["left_stick_x"] == 0.0
    assert s["turn_right"] == 1.0 and s["wave"] == 1.0
    m.handle_event(E(pygame.JOYHATMOTION, instance_id=0, joy=0, hat=0, value=(0, 0)))
    assert m.sample()["turn_right"] == 0.0


def test_unplugging_a_gamepad_releases_its_axes_and_buttons_but_not_the_others():
    m = InputMapper()
    for pad in (0, 1):
        m.handle_event(E(pygame.JOYDEVICEADDED, device_index=pad, guid="x"))
    m.handle_event(E(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=3, value=0.9))
    m.handle_event(E(pygame.JOYBUTTONDOWN, instance_id=0, joy=0, button=4))
    m.handle_event(E(pygame.JOYAXISMOTION, instance_id=1, joy=1, axis=0, value=-1.0))
    s = m.sample()
    assert s["right_stick_x"] > 0.8 and s["sprint"] == 1.0 and s["left_stick_x"] == -1.0
    m.handle_event(E(pygame.JOYDEVICEREMOVED, instance_id=0))
    s = m.sample()
    assert s["right_stick_x"] == 0.0 and s["sprint"] == 0.0
    assert s["left_stick_x"] == -1.0
    # plugged back in: it starts from rest, its old axis does not come back
    m.handle_event(E(pygame.JOYDEVICEADDED, device_index=0, guid="x"))
    assert m.sample()["right_stick_x"] == 0.0


def test_focus_loss_releases_held_keys():
    m = InputMapper()
    m.handle_event(key(True, pygame.K_w))
    m.handle_event(E(pygame.WINDOWFOCUSLOST, window=None))
    m.sample()      # the tap of this tick
    assert m.sample()["move_forward"] == 0.0


def test_toggle_mouse_grab_without_a_window_only_records_it():
    m = InputMapper()
    m.handle_event(key(True, pygame.K_g))
    assert m.mouse_grabbed and m.pop_triggers() == ["toggle_mouse_grab"]


@pytest.mark.display
def test_toggle_mouse_grab_grabs_and_hides_the_cursor_in_a_window(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    pygame.display.init()
    try:
        pygame.display.set_mode((64, 48))
        m = InputMapper()
        m.handle_event(key(True, pygame.K_g))
        assert pygame.event.get_grab() and not pygame.mouse.get_visible()
        m.handle_event(key(True, pygame.K_g))
        assert not pygame.event.get_grab() and pygame.mouse.get_visible()
    finally:
        pygame.display.quit()


def test_a_hat_trigger_fires_once_per_press_of_its_direction():
    m = InputMapper(Bindings.loads('[gamepad.hat]\nright = "screenshot"\nup = "look_up"'))
    for value in [(1, 0), (1, 1), (1, 0), (0, 0), (1, 0)]:
        m.handle_event(E(pygame.JOYHATMOTION, instance_id=0, joy=0, hat=0, value=value))
    assert m.pop_triggers() == ["screenshot", "screenshot"]
    m.handle_event(E(pygame.JOYHATMOTION, instance_id=0, joy=0, hat=0, value=(0, 1)))
    m.sample()
    assert m.sample()["look_up"] == 1.0
    m.handle_event(E(pygame.JOYDEVICEREMOVED, instance_id=0))
    assert m.sample()["look_up"] == 0.0
