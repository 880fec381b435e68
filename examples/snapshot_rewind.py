"""Snapshot and rewind: save a point, walk on, go back, and the same walk gives the same frames.

    python examples/snapshot_rewind.py                         # reference world, 128x128, a worker process
    python examples/snapshot_rewind.py --size 64x48 --steps 4 --save here.safetensors

`world.snapshot()` holds the renderer's whole session state and the camera rig; `world.restore`
goes back to it (also from a file: `world.save_snapshot` / `worldsim.load_snapshot`). API: docs/sdk.md.
"""
from __future__ import annotations

import argparse

import numpy as np

import worldsim


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--renderer", default="reference", help="a renderer with snapshots (reference, aapt)")
    p.add_argument("--size", default="128x128", help="WIDTHxHEIGHT of the frames")
    p.add_argument("--steps", type=int, default=6, help="steps to walk after the save point")
    p.add_argument("--save", help="also write the save point to this .safetensors file and restore from it")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    with worldsim.open(args.renderer, size=(width, height), seed=1) as world:
        world.step({})                                              # the start frame
        world.step({"move_forward": 1.0})
        save_point = world.snapshot()                               # the save point
        walk = [{"move_forward": 1.0, "look_dx": 4.0 * (i % 3 - 1)} for i in range(args.steps)]
        first = [world.step(actions) for actions in walk]           # walk on from it

        world.restore(save_point)                                   # rewind
        second = [world.step(actions) for actions in walk]          # the same walk again
        same = sum(np.array_equal(a, b) for a, b in zip(first, second))
        print(f"rewound {len(walk)} steps: {same}/{len(walk)} steps gave identical frames")

        if args.save:
            world.save_snapshot(args.save)                          # now, after the second walk
            third = world.step({"turn_left": 1.0})
            world.restore(worldsim.load_snapshot(args.save))
            again = world.step({"turn_left": 1.0})
            print(f"from {args.save}: identical {np.array_equal(third, again)}")
        if same != len(walk):
            raise SystemExit("frames differ after the rewind")


if __name__ == "__main__":
    main()
