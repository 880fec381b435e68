"""`worldsim world render | export`: clips and datasets from the reference world."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def register(sub) -> None:
    parser = sub.add_parser("world", help="the reference world: render clips, export datasets")
    world_sub = parser.add_subparsers(dest="world", metavar="ACTION")
    world_sub.required = True

    p = world_sub.add_parser("render", help="render a player's walk through one world to .mp4 (or a .png strip)")
    p.add_argument("--seed", type=int, default=0, help="world seed")
    p.add_argument("--frames", type=int, default=96, help="video frames to render (default 96: 4 s)")
    p.add_argument("--out", required=True, help="clip.mp4, or strip.png (4 frames side by side)")
    p.add_argument("--player-seed", type=int, default=None, help="the player's seed (default: the world seed)")
    _common(p)
    p.set_defaults(func=_render)

    p = world_sub.add_parser("export", help="export a dataset of clips as shards (lossless mp4 + msgpack)")
    p.add_argument("--clips", type=int, required=True, help="number of clips")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--frames", type=int, default=48, help="frames per clip")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (world and player seeds follow from it)")
    p.add_argument("--kind", choices=("camera", "pose"), default="camera",
                   help="camera: walks through worlds; pose: the puppet scene with pose controls")
    p.add_argument("--clips-per-shard", type=int, default=16, help="clips per shard file (default 16)")
    _common(p)
    p.set_defaults(func=_export)


def _common(p) -> None:
    p.add_argument("--size", default="128x128", metavar="WxH", help="multiples of 8")
    p.add_argument("--device", default="cpu", help="ray-march on cpu or cuda (default cpu)")
    p.add_argument("--no-compile", action="store_true", help="eager ray-marcher (no torch.compile warm-up)")


def _check(args):
    from worldsim.errors import WorldsimUserError
    from worldsim.devices import require_device
    from worldsim.runtime.commands import _size
    width, height = _size(args.size)
    if width % 8 or height % 8:
        raise WorldsimUserError(f"--size must be multiples of 8, got {args.size}")
    if args.frames < 1:
        raise WorldsimUserError(f"--frames must be at least 1, got {args.frames}")
    require_device(args.device)
    return width, height


def _render(args) -> int:
    import torch
    from tqdm import tqdm

    from worldsim.errors import WorldsimUserError

    from .captions import caption
    from .dataset import _intrinsics
    from .player import Player, walk_cameras
    from .compiled import kernels_for
    from .raymarch import Scene, cpu_threads, render
    from .shards import write_video
    from .world import build_world
    width, height = _check(args)
    out = Path(args.out)
    if out.suffix.lower() not in (".mp4", ".png"):
        raise WorldsimUserError(f"--out must end in .mp4 or .png, got {out}")
    if args.seed < 0:
        raise WorldsimUserError(f"--seed must be non-negative, got {args.seed}")
    if out.suffix.lower() == ".png":
        from worldsim.pillow import pillow_image
        Image = pillow_image("--out FILE.png")                    # before rendering, not after
    world = build_world(args.seed)
    player_seed = args.seed if args.player_seed is None else args.player_seed
    plan = Player(player_seed).plan(args.frames)
    c2w = walk_cameras(world, plan.actions(), start=world.spawn_point(player_seed), yaw=float(player_seed * 47 % 360))
    scene = Scene.from_world(world, args.device)
    kernels = kernels_for(args.device, not args.no_compile)
    cams, K = torch.from_numpy(c2w).float(), _intrinsics(width, height, 60.0, args.frames)
    frames = []
    with cpu_threads(1 if args.device == "cpu" else None), torch.inference_mode(), \
            tqdm(total=args.frames, unit="frame", desc=f"world {args.seed}") as bar:
        for i in range(0, args.frames, 16):
            frames.append(render(scene, cams[i:i + 16], K[i:i + 16], height, width, kernels=kernels).cpu())
            bar.update(frames[-1].shape[0])
    video = torch.cat(frames).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        picks = np.linspace(0, len(video) - 1, min(4, len(video))).round().astype(int)
        Image.fromarray(np.concatenate(list(video[picks]), axis=1)).save(out)
    else:
        write_video(out, video, 24.0, lossless=False)
    print(f"{out}: {len(video)} frames {width}x{height}; {caption(world, plan.moves, c2w)}")
    return 0


def _export(args) -> int:
    from tqdm import tqdm

    from worldsim.errors import WorldsimUserError

    from .dataset import ClipStream
    from .shards import export_clips
    width, height = _check(args)
    if args.clips < 1 or args.clips_per_shard < 1:
        raise WorldsimUserError("--clips and --clips-per-shard must be at least 1")
    stream = ClipStream(args.seed, args.frames, width, height, args.device, args.kind, compile=not args.no_compile)
    clips = (stream.clip(i) for i in tqdm(range(args.clips), unit="clip", desc="export"))
    stems = export_clips(clips, Path(args.out), args.clips_per_shard)
    print(f"{args.out}: {args.clips} clips of {args.frames} frames in {len(stems)} shards")
    return 0
