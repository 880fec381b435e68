"""Export a played session to mp4: every frame you step is written to the video as you play.

    python examples/record_mp4.py --out walk.mp4                      # reference world, 10 steps
    python examples/record_mp4.py --out walk.mp4 --renderer testpattern --steps 20

`world.record(path)` writes the mp4 and beside it `walk.ctl.msgpack`, the control log that
`worldsim replay walk.mp4` plays again. The script reads the mp4 back and checks its frame count.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import worldsim
from worldsim.render.video import read_video


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="walk.mp4", help="the mp4 to write")
    p.add_argument("--renderer", default="reference", help="renderer name (default: reference)")
    p.add_argument("--size", default="128x128", help="WIDTHxHEIGHT of the frames")
    p.add_argument("--steps", type=int, default=10, help="steps to play (4 frames each, 1 for the first)")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    stepped = 0
    with worldsim.open(args.renderer, size=(width, height), seed=3) as world:
        world.record(args.out)                                      # from now on, every frame
        for i in range(args.steps):
            turn = "turn_left" if (i // 4) % 2 else "turn_right"    # a walk that weaves
            stepped += len(world.step({"move_forward": 1.0, turn: 1.0}))
        world.record(None)                                          # finish the file (close() would too)
        fps = world.spec.fps

    video = read_video(args.out)                                    # (T, H, W, 3) uint8
    log = Path(args.out).with_suffix(".ctl.msgpack")
    print(f"{args.out}: {len(video)} frames of {video.shape[2]}x{video.shape[1]} at {fps:g} fps "
          f"({len(video) / fps:.2f} s), {Path(args.out).stat().st_size} bytes; control log {log.name}")
    if len(video) != stepped:
        raise SystemExit(f"{args.out} has {len(video)} frames, {stepped} were stepped")


if __name__ == "__main__":
    main()
