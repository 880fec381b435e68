"""`worldsim checkerboard --out board.png`: one frame of the checkerboard world, saved as a picture.

The `worldsim.plugins` entry point: worldsim calls `register(subparsers)` when the command word
is not one of its own, so this module (and the renderer) load only for this command.
"""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("checkerboard", help="save one frame of the checkerboard world (plugin)")
    p.add_argument("--out", required=True, help="the picture to write (.png, .jpg; needs pillow)")
    p.add_argument("--seed", type=int, default=0, help="picks the colours (default 0)")
    p.add_argument("--yaw", type=float, default=0.0, help="camera heading in degrees, left positive (default 0)")
    p.add_argument("--pitch", type=float, default=-10.0, help="camera pitch in degrees, up positive (default -10)")
    p.add_argument("--size", default="320x180", help="WxH (default 320x180)")
    p.set_defaults(func=snapshot)


def snapshot(args) -> int:
    from worldsim.controls.camera_rig import look_rotation
    from worldsim.errors import WorldsimUserError
    from worldsim.pillow import pillow_image

    from . import CheckerboardRenderer
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        renderer = CheckerboardRenderer(width, height)
    except ValueError as err:
        raise WorldsimUserError(f"--size: {err}" if "range" in str(err) else f"--size must look like 320x180, got {args.size!r}") from None
    image = pillow_image("worldsim checkerboard --out")
    c2w = [[*row, p] for row, p in zip(look_rotation(args.yaw, args.pitch).tolist(), (0.0, 1.7, 0.0))] + [[0, 0, 0, 1]]
    state = renderer.open(args.seed, controls=["camera"])
    frame = renderer.step([state], [[{"camera": {"c2w": [v for row in c2w for v in row]}}]])[0][0]
    try:
        image.fromarray(frame).save(args.out)
    except (OSError, ValueError) as err:
        raise WorldsimUserError(f"cannot write {args.out}: {err}") from None
    print(f"{args.out}: {width}x{height}, seed {args.seed}, yaw {args.yaw:g}, pitch {args.pitch:g}")
    return 0
