"""The README's side-by-side strip from a `worldsim play --split --record` video: one column per moment, the
reference world (the video's left half) above the model (its right half).

    worldsim play --split --input-script examples/walk_60s.toml --ticks 1441 --fast --headless --record walk.mp4
    python scripts/walk_strip.py walk.mp4 docs/images/quality/default_walk_strip.jpg   # at 0, 0.5, 1, 2, 5, 10, 30, 60 s
"""
import argparse
import sys

import numpy as np
from PIL import Image

from worldsim.render.video import read_video
from worldsim.train import samples

MOMENTS = (0, 0.5, 1, 2, 5, 10, 30, 60)


def strip(video: np.ndarray, fps: float, moments=MOMENTS) -> np.ndarray:
    """(2H, len(moments) * W/2, 3): each moment's frame, left half on top of the right half."""
    half = video.shape[2] // 2
    frames = video[[min(round(s * fps), len(video) - 1) for s in moments]]
    return samples.strip(frames[None, :, :, :half], frames[None, :, :, half:2 * half], every=1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video", help="a --split recording (reference | model)")
    p.add_argument("out", help="image file (.jpg, .png)")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--seconds", type=float, nargs="+", default=list(MOMENTS))
    args = p.parse_args()
    try:
        video = read_video(args.video)
    except (FileNotFoundError, ValueError) as err:
        print(f"walk_strip: {err}", file=sys.stderr)
        return 2
    Image.fromarray(strip(video, args.fps, args.seconds)).save(args.out, quality=90)
    print(f"{args.out}: {len(args.seconds)} moments of {args.video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
