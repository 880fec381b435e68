"""Embed worldsim in your own game loop: you own the window and the input, worldsim renders.

    python examples/embed_in_your_game.py                  # a window; arrows turn, WASD walk, Esc quits
    python examples/embed_in_your_game.py --frames 40 --out last.png   # no window: save the last frame

A worker process renders (so your loop never waits on the model); each `world.step(actions)`
holds your named actions for one step and returns its frames (4 per step, 1 for the first).
The API: docs/sdk.md.
"""
from __future__ import annotations

import argparse

import worldsim


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--renderer", default="testpattern", help="renderer name (default: testpattern)")
    p.add_argument("--frames", type=int, default=0, help="render N frames without a window, then stop")
    p.add_argument("--out", default="last.png", help="with --frames: where to save the last frame")
    args = p.parse_args()
    if args.frames:
        try:
            import PIL  # noqa: F401  (saves the last frame)
        except ImportError:
            p.exit(2, f"{p.prog}: error: --frames saves a PNG and needs pillow: pip install pillow\n")

    with worldsim.open(args.renderer, seed=1) as world:                # spawns and owns the worker
        if args.frames:
            render_offscreen(world, args.frames, args.out)
        else:
            play_in_window(world)


def render_offscreen(world, count: int, out: str) -> None:
    from PIL import Image
    shown = 0
    while shown < count:
        frames = world.step({"turn_right": 1.0})
        shown += len(frames)
    Image.fromarray(frames[-1]).save(out)
    print(f"{shown} frames rendered; the last one is in {out}")


def play_in_window(world) -> None:
    import pygame
    pygame.init()
    screen = pygame.display.set_mode((world.spec.width, world.spec.height))
    keys = {pygame.K_LEFT: "turn_left", pygame.K_RIGHT: "turn_right", pygame.K_w: "move_forward",
            pygame.K_s: "move_backward", pygame.K_a: "strafe_left", pygame.K_d: "strafe_right"}
    clock = pygame.time.Clock()
    while not any(e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE)
                  for e in pygame.event.get()):
        pressed = pygame.key.get_pressed()
        actions = {name: float(pressed[key]) for key, name in keys.items()}
        for frame in world.step(actions):                             # your game shows them one per tick
            screen.blit(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), (0, 0))
            pygame.display.flip()
            clock.tick(world.spec.fps)
    pygame.quit()


if __name__ == "__main__":
    main()
