"""Drive the world with a gamepad, through worldsim's own input layer (InputMapper, default bindings).

    python examples/gamepad.py                   # a plugged-in pad: left stick walks, right stick looks
    python examples/gamepad.py --simulate        # no pad: synthetic stick events through the same path

pygame reads the pad; `InputMapper` turns its events into named actions with the bindings of
`worldsim play` (deadzone, inverted y, d-pad, buttons: docs/controls.md); `world.step(actions)`
walks the camera. `--simulate` posts pygame joystick events (left stick pushed forward, right
stick to the right) into the same event queue, so everything after pygame is the real code path.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS", "1")    # pad events without a focused window
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")                 # the event queue needs a video driver
import pygame  # noqa: E402

import worldsim  # noqa: E402
from worldsim.controls import InputMapper  # noqa: E402


def simulated_stick(step: int) -> list:
    """What a pad sends: axis 1 is the left stick's y (up is negative), axis 3 the right stick's x."""
    events = [pygame.event.Event(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=1, value=-0.9)]
    if step == 2:
        events.append(pygame.event.Event(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=3, value=0.6))
    if step == 5:
        events.append(pygame.event.Event(pygame.JOYAXISMOTION, instance_id=0, joy=0, axis=3, value=0.0))
    return events


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--renderer", default="reference", help="renderer name (default: reference)")
    p.add_argument("--size", default="128x128", help="WIDTHxHEIGHT of the frames")
    p.add_argument("--steps", type=int, default=8, help="steps to play (4 frames each)")
    p.add_argument("--simulate", action="store_true", help="no pad needed: post synthetic stick events")
    args = p.parse_args()

    pygame.display.init()                                       # events and pads only (no window, no audio)
    pygame.joystick.init()
    if pygame.joystick.get_count() == 0 and not args.simulate:
        sys.exit("gamepad.py: no gamepad found: plug one in (pygame sees none), or run with --simulate")
    mapper = InputMapper()                                      # the default bindings of `worldsim play`
    width, height = (int(v) for v in args.size.split("x"))
    with worldsim.open(args.renderer, size=(width, height), seed=5) as world:
        world.step({})
        for step in range(args.steps):
            for event in simulated_stick(step) if args.simulate else []:
                pygame.event.post(event)
            for event in pygame.event.get():                    # JOYDEVICEADDED opens the pad, then its axes
                mapper.handle_event(event)
            actions = mapper.sample()
            world.step(actions)
            c2w = world.last_packets[-1]["camera"]["c2w"]
            print(f"step {step}: left stick y {actions['left_stick_y']:+.2f}, right stick x "
                  f"{actions['right_stick_x']:+.2f} -> camera x={c2w[3]:+.2f} z={c2w[11]:+.2f}")
        print(f"pads: {len(mapper.gamepads) or ('simulated' if args.simulate else 0)}")
    pygame.quit()


if __name__ == "__main__":
    main()
