"""A custom renderer plugin, registered in code (no package install): any class with the Renderer protocol.

    python examples/custom_renderer.py --out stripes.png       # check it, play it, save the last frame

The renderer reads the camera pose from each control packet and draws vertical stripes that
slide as the camera turns. `check_renderer` runs worldsim's contract checker on it;
`registered_renderer` makes `worldsim.open("stripes", in_process=True)` find it. An in-code
renderer lives in this process (a spawned worker finds installed entry points only): the packaged
form is `plugins/worldsim-checkerboard` (docs/plugins.md).
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import worldsim
from worldsim.rendering import RendererError, RendererSpec, check_renderer
from worldsim.testing import registered_renderer


class StripesRenderer:
    def __init__(self, width: int = 96, height: int = 64, period: int = 16):
        from worldsim.controls.packets import PACKET_SCHEMAS
        self.period = period
        self.spec = RendererSpec("stripes", width, height, fps=24.0, frames_per_step=4, first_step_frames=1,
                                 control_kinds={"camera": PACKET_SCHEMAS["camera"]}, info={"period": period})

    def open(self, seed, prompt="", first_frame=None, controls=()):
        return {"hue": np.random.default_rng(seed).uniform(0.3, 1.0, 3), "steps": 0}     # a colour per seed

    def step(self, states, packets):
        out = []
        for state, frames in zip(states, packets):
            want = self.spec.frames_for_step(state["steps"])
            if len(frames) != want or any("camera" not in p for p in frames):
                raise RendererError(f"step {state['steps']} takes {want} packets, each with a camera part")
            state["steps"] += 1
            video = []
            for packet in frames:
                c2w = np.asarray(packet["camera"]["c2w"]).reshape(4, 4)
                yaw = math.atan2(c2w[0, 2], c2w[2, 2])                      # where the camera looks
                x = np.arange(self.spec.width) + math.degrees(yaw)                  # a pixel per degree
                on = (np.floor(x / self.period) % 2)[None, :, None]
                row = on * state["hue"] * 255 + (1 - on) * 30
                video.append(np.broadcast_to(row, (self.spec.height, self.spec.width, 3)))
            out.append(np.asarray(video, dtype=np.uint8))
        return out

    def close(self, state):
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", help="save the last frame here (PNG, needs pillow)")
    p.add_argument("--steps", type=int, default=6, help="steps to turn right")
    args = p.parse_args()

    check_renderer(StripesRenderer, {"width": 48, "height": 32})             # the contract, or an error
    print("check_renderer: ok")
    with registered_renderer("stripes", StripesRenderer):                   # until the block ends
        print("renderers:", ", ".join(worldsim.available_renderers()))
        with worldsim.open("stripes", seed=2, in_process=True,
                           renderer_options={"period": 8}) as world:      # options reach the factory
            first = world.step({})[-1]
            for _ in range(args.steps):
                last = world.step({"turn_right": 1.0})[-1]
            moved = float(np.mean(first != last))
            print(f"stripes {world.spec.width}x{world.spec.height}: {args.steps} steps turning right, "
                  f"{moved:.0%} of the pixels changed")
    if args.out:
        from PIL import Image
        Image.fromarray(last).save(args.out)
        print(f"last frame -> {args.out}")


if __name__ == "__main__":
    main()
