"""`worldsim ttt ...`: the plugin's commands (entry-point group `worldsim.plugins`).

    worldsim ttt render storyboard.toml -o film.mp4 --preset tiny --steps 4
    worldsim ttt render storyboard.toml -o film.mp4 --checkpoint runs/ttt/model --cfg 5 --steps 32
    worldsim ttt describe                    # what the plugin provides (as `python -m worldsim_ttt`)
"""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("ttt", help="long-form films from storyboards (TTT plugin)")
    sub = p.add_subparsers(dest="ttt_command", metavar="ACTION")
    sub.required = True
    r = sub.add_parser("render", help="render a storyboard (TOML) to an mp4 with the long-form TTT model")
    r.add_argument("storyboard", help="a TOML file of [[segment]] tables (text, seconds, seed, camera)")
    r.add_argument("-o", "--out", required=True, help="the mp4 to write")
    r.add_argument("--seconds-per-segment", type=float, default=3.0, help="model segment length (default 3)")
    r.add_argument("--cfg", type=float, default=5.0, help="classifier-free guidance scale (1: none; default 5)")
    r.add_argument("--steps", type=int, default=32, help="Euler steps of the ODE (default 32)")
    r.add_argument("--shift", type=float, default=5.5, help="timestep shift of the sampling grid (default 5.5)")
    r.add_argument("--seed", type=int, default=0, help="noise seed of scenes without their own (+ scene index)")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="a worldsim base checkpoint, or one trained by worldsim_ttt.train")
    src.add_argument("--preset", help="random weights of a model preset (tiny for tests)")
    r.add_argument("--device", default="cpu")
    r.set_defaults(func=render_command)
    d = sub.add_parser("describe", help="what the plugin provides and which backends run here")
    d.set_defaults(func=lambda args: print(json.dumps(describe_here(), indent=2)) or 0)


def describe_here() -> dict:
    from .plugin import available_backends, describe
    return {**describe(), "backends_here": available_backends()}


def render_command(args) -> int:
    from tqdm import tqdm
    from worldsim.errors import WorldsimUserError

    from .longform import build_longform
    from .render import decode_film, latent_frames, sample_film, write_film
    from .storyboard import load_storyboard, model_segments

    if args.steps < 1:
        raise WorldsimUserError(f"--steps must be >= 1, got {args.steps}")
    if not str(args.out).endswith(".mp4"):
        raise WorldsimUserError(f"-o must name an .mp4 file, got {args.out!r}")
    segments = model_segments(load_storyboard(args.storyboard), args.seconds_per_segment, args.seed)
    if args.checkpoint is None and args.preset is None:
        raise WorldsimUserError("give --checkpoint DIR (a trained model) or --preset tiny (random weights)")
    model = build_longform(args.preset, args.checkpoint, device=args.device)
    cfg = model.base.cfg
    n = latent_frames(args.seconds_per_segment, cfg.fps)
    hw = (cfg.height // 8, cfg.width // 8)
    prompts, seeds = [p for p, _ in segments], [s for _, s in segments]
    with tqdm(total=args.steps, desc=f"ttt {len(segments)} segments", unit="step", disable=None) as bar:
        latents = sample_film(model, prompts, seeds, n, hw, args.steps, args.shift, args.cfg, bar.update)
    frames = decode_film(model, latents)
    path = write_film(args.out, frames, cfg.fps)
    print(f"{path}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]} at {cfg.fps:g} fps "
          f"({len(frames) / cfg.fps:.1f} s, {len(segments)} segments of {n} latent frames)")
    return 0
