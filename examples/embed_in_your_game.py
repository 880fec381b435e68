"""Embed worldsim in your own game loop: you own the window, the input and the HUD, worldsim renders.

    python examples/embed_in_your_game.py                  # a window; arrows turn, WASD walk, Esc quits
    python examples/embed_in_your_game.py --ticks 48 --screenshot hud.png   # stop after 48 frames, save the window
    python examples/embed_in_your_game.py --frames 40 --out last.png   # no window: save the last frame

In the window, your game blits worldsim's frames and draws its own HUD over them (pygame text:
step, frame rate, where the camera is); SDL_VIDEODRIVER=dummy runs it without a screen.
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
    p.add_argument("--ticks", type=int, default=0, help="window: stop after N frames (0: when you quit)")
    p.add_argument("--screenshot", help="window: save the window, HUD and all, here when it stops")
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
            play_in_window(world, args.ticks, args.screenshot)


def render_offscreen(world, count: int, out: str) -> None:
    from PIL import Image
    shown = 0
    while shown < count:
        frames = world.step({"turn_right": 1.0})
        shown += len(frames)
    Image.fromarray(frames[-1]).save(out)
    print(f"{shown} frames rendered; the last one is in {out}")


def play_in_window(world, ticks: int = 0, screenshot: str | None = None) -> None:
    import os
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame
    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode((world.spec.width, world.spec.height))
    font = pygame.font.Font(None, 22)                                 # pygame's own font: no system fonts needed
    keys = {pygame.K_LEFT: "turn_left", pygame.K_RIGHT: "turn_right", pygame.K_w: "move_forward",
            pygame.K_s: "move_backward", pygame.K_a: "strafe_left", pygame.K_d: "strafe_right"}
    clock, shown, hud = pygame.time.Clock(), 0, ""
    while not any(e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE)
                  for e in pygame.event.get()) and not (ticks and shown >= ticks):
        pressed = pygame.key.get_pressed()
        actions = {name: float(pressed[key]) for key, name in keys.items()}
        for frame in world.step(actions):                             # your game shows them one per tick
            screen.blit(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), (0, 0))
            c2w = world.last_packets[-1].get("camera", {}).get("c2w", [0.0] * 16)
            hud = f"step {world.steps}  {clock.get_fps():4.1f} fps  x {c2w[3]:+.1f}  z {c2w[11]:+.1f}"
            bar = pygame.Surface((world.spec.width, 26), pygame.SRCALPHA)
            bar.fill((0, 0, 0, 170))                                  # your HUD: a dark bar, white text
            bar.blit(font.render(hud, True, (255, 255, 255)), (6, 5))
            screen.blit(bar, (0, 0))
            pygame.display.flip()
            clock.tick(world.spec.fps)
            shown += 1
    if screenshot:
        pygame.image.save(screen, screenshot)
        print(f"{shown} frames shown; HUD '{hud}'; window saved to {screenshot}")
    pygame.quit()


if __name__ == "__main__":
    main()
