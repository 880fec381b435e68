"""`worldsim ttt ...`: the plugin's commands (entry-point group `worldsim.plugins`).

    worldsim ttt render storyboard.toml -o film.mp4 --preset tiny --steps 4
    worldsim ttt render storyboard.toml -o film.mp4 --checkpoint runs/ttt/model --cfg 5 --steps 32
    worldsim ttt render storyboard.toml -o local.mp4 --checkpoint runs/ttt/model --attention local  # TTT bypassed
    worldsim ttt describe                    # what the plugin provides (as `python -m worldsim_ttt`)
    worldsim ttt classifier train --world-seeds 0-199 --out runs/cls     # caption agreement classifier
    worldsim ttt classifier eval runs/cls --world-seeds 10000-10049      # held-out accuracy per head
    worldsim ttt agreement film.mp4 storyboard.toml --classifier runs/cls  # a film vs its captions
    worldsim ttt consistency film.mp4 storyboard.toml   # revisited places (same place) vs other places
"""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("ttt", help="long-form films from storyboards (TTT plugin)")
    sub = p.add_subparsers(dest="ttt_command", metavar="ACTION")
    sub.required = True
    r = sub.add_parser("render", help="render a storyboard (TOML) to an mp4 with the long-form TTT model")
    r.add_argument("storyboard", help="a TOML file of [[segment]] tables (text, seconds, seed, place, camera)")
    r.add_argument("-o", "--out", required=True, help="the mp4 to write")
    r.add_argument("--seconds-per-segment", type=float, default=3.0, help="model segment length (default 3)")
    r.add_argument("--cfg", type=float, default=5.0, help="classifier-free guidance scale (1: none; default 5)")
    r.add_argument("--steps", type=int, default=32, help="Euler steps of the ODE (default 32)")
    r.add_argument("--shift", type=float, default=5.5, help="timestep shift of the sampling grid (default 5.5)")
    r.add_argument("--seed", type=int, default=0, help="noise seed of scenes without their own (+ scene index)")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="a worldsim base checkpoint, or one trained by worldsim_ttt.train")
    src.add_argument("--preset", help="random weights of a model preset (tiny for tests)")
    r.add_argument("--attention", choices=("ttt", "local"), default="ttt",
                   help="ttt: the long-form model (default); local: the same model with its TTT layers "
                        "bypassed, attention inside each segment only (an ablation: no memory across segments)")
    r.add_argument("--device", default="cpu")
    r.set_defaults(func=render_command)
    d = sub.add_parser("describe", help="what the plugin provides and which backends run here")
    d.set_defaults(func=lambda args: print(json.dumps(describe_here(), indent=2)) or 0)
    c = sub.add_parser("classifier", help="the caption-agreement classifier (biome, time of day, action)")
    csub = c.add_subparsers(dest="classifier_command", metavar="ACTION")
    csub.required = True
    t = csub.add_parser("train", help="train it on reference-world clips of the given world seeds (CPU)")
    t.add_argument("--world-seeds", required=True, help="world seeds to train on, e.g. 0-199")
    t.add_argument("--out", required=True, help="folder for classifier.safetensors + classifier.json")
    t.add_argument("--clips-per-world", type=int, default=2, help="walks per world (default 2)")
    t.add_argument("--size", type=int, default=64, help="clip width and height in pixels (default 64)")
    t.add_argument("--epochs", type=int, default=60, help="passes over the clips (default 60)")
    t.add_argument("--minutes", type=float, default=None, help="stop training after this many minutes")
    t.add_argument("--eval-seeds", help="held-out world seeds to report accuracy on after training")
    t.set_defaults(func=classifier_train_command)
    e = csub.add_parser("eval", help="per-head accuracy on held-out world seeds vs the majority baseline")
    e.add_argument("classifier", help="a folder written by `worldsim ttt classifier train`")
    e.add_argument("--world-seeds", required=True, help="held-out world seeds, e.g. 10000-10049")
    e.add_argument("--clips-per-world", type=int, default=2, help="walks per world (default 2)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=classifier_eval_command)
    a = sub.add_parser("agreement", help="score a rendered film's scenes against their storyboard captions")
    a.add_argument("film", help="the mp4 that `worldsim ttt render` wrote")
    a.add_argument("storyboard", help="the storyboard (TOML) it was rendered from")
    a.add_argument("--classifier", default=None, help="a folder written by `worldsim ttt classifier train` "
                   "(default: the one shipped with the plugin, docs/ttt.md)")
    a.add_argument("--seconds-per-segment", type=float, default=3.0,
                   help="the model segment length the film was rendered with (default 3)")
    a.add_argument("--json", action="store_true", help="print the result as JSON")
    a.set_defaults(func=agreement_command)
    k = sub.add_parser("consistency", help="do places revisited later in a film (same scene place) look as they did?")
    k.add_argument("film", help="the mp4 that `worldsim ttt render` wrote")
    k.add_argument("storyboard", help="the storyboard (TOML) it was rendered from; revisits name an earlier scene's place")
    k.add_argument("--seconds-per-segment", type=float, default=3.0,
                   help="the model segment length the film was rendered with (default 3)")
    k.add_argument("--json", action="store_true", help="print the result as JSON")
    k.set_defaults(func=consistency_command)


def describe_here() -> dict:
    from .plugin import available_backends, describe
    return {**describe(), "backends_here": available_backends()}


def render_command(args) -> int:
    from tqdm import tqdm
    from worldsim.errors import WorldsimUserError

    from .longform import LongFormModel, build_longform
    from .render import latent_frames, render_film, write_film
    from .storyboard import load_storyboard, model_segments

    if args.steps < 1:
        raise WorldsimUserError(f"--steps must be >= 1, got {args.steps}")
    if not str(args.out).endswith(".mp4"):
        raise WorldsimUserError(f"-o must name an .mp4 file, got {args.out!r}")
    segments = model_segments(load_storyboard(args.storyboard), args.seconds_per_segment, args.seed)
    if args.checkpoint is None and args.preset is None:
        raise WorldsimUserError("give --checkpoint DIR (a trained model) or --preset tiny (random weights)")
    import torch
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise WorldsimUserError(f"--device {args.device} but no CUDA GPU here (use --device cpu)")
    model = build_longform(args.preset, args.checkpoint, device=args.device)
    if args.attention == "local":           # the same base, no TTT layers: equal to every gate at 0
        model = LongFormModel(model.base, model.cfg, ttt_layers=False).eval()
    cfg = model.base.cfg
    n = latent_frames(args.seconds_per_segment, cfg.fps)
    with tqdm(total=args.steps, desc=f"{args.attention} {len(segments)} segments", unit="step", disable=None) as bar:
        frames = render_film(model, segments, args.seconds_per_segment, args.steps, args.shift, args.cfg, bar.update)
    path = write_film(args.out, frames, cfg.fps)
    print(f"{path}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]} at {cfg.fps:g} fps "
          f"({len(frames) / cfg.fps:.1f} s, {len(segments)} segments of {n} latent frames)")
    return 0


def _seeds(text: str, option: str) -> list[int]:
    from worldsim.errors import WorldsimUserError
    from worldsim.worlds.seeds import parse_seed_list
    try:
        return parse_seed_list(text)
    except ValueError:
        raise WorldsimUserError(f"{option} must be seeds like 0-199 or 3,5,10-12, got {text!r}") from None


def _positive(value, option: str):
    from worldsim.errors import WorldsimUserError
    if value is not None and value <= 0:
        raise WorldsimUserError(f"{option} must be > 0, got {value}")


def _classifier(path: str | None):
    from pathlib import Path

    from worldsim.errors import WorldsimUserError

    from .caption_classifier import SHIPPED, load_classifier
    path = SHIPPED if path is None else path
    if not Path(path).is_dir():
        raise WorldsimUserError(f"{path}: no such classifier folder")
    return load_classifier(path)


def _print_accuracy(result: dict, seeds: list[int]) -> None:
    clips = next(iter(result.values()))["clips"]
    print(f"held-out: {clips} clips from {len(seeds)} world seeds ({seeds[0]}..{seeds[-1]})")
    for head, r in result.items():
        print(f"  {head:12s} accuracy {r['accuracy']:.3f}   majority baseline {r['majority']:.3f} "
              f"(always {r['majority_class']!r})")


def classifier_train_command(args) -> int:
    import time
    from pathlib import Path

    from worldsim.errors import WorldsimUserError

    from .caption_classifier import (ClassifierConfig, evaluate, reference_clips, save_classifier,
                                     train_classifier)

    seeds = _seeds(args.world_seeds, "--world-seeds")
    held = _seeds(args.eval_seeds, "--eval-seeds") if args.eval_seeds else None
    for value, option in ((args.clips_per_world, "--clips-per-world"), (args.size, "--size"),
                          (args.epochs, "--epochs"), (args.minutes, "--minutes")):
        _positive(value, option)
    if held and set(held) & set(seeds):
        raise WorldsimUserError("--eval-seeds overlap --world-seeds: held-out worlds must be unseen")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise WorldsimUserError(f"--out {out}: exists and is not a folder")
    start = time.monotonic()
    clips = reference_clips(seeds, args.clips_per_world, args.size, args.size,
                            progress=lambda i, n: print(f"\rrendering worlds {i}/{n}", end="", flush=True))
    print(f"\n{len(clips)} clips in {time.monotonic() - start:.0f} s")
    cfg = ClassifierConfig(width=args.size, height=args.size)
    model, losses = train_classifier(clips, cfg, epochs=args.epochs, minutes=args.minutes, log=print)
    model.cfg.trained = {"world_seeds": args.world_seeds, "clips": len(clips), "epochs": len(losses),
                         "final_loss": round(losses[-1], 4)}
    if held:
        result = evaluate(model, reference_clips(held, args.clips_per_world, args.size, args.size))
        model.cfg.trained["held_out"] = {"world_seeds": args.eval_seeds, **result}
        _print_accuracy(result, held)
    path = save_classifier(model, out)
    print(f"{path}: trained in {time.monotonic() - start:.0f} s")
    return 0


def classifier_eval_command(args) -> int:
    from .caption_classifier import evaluate, reference_clips

    seeds = _seeds(args.world_seeds, "--world-seeds")
    _positive(args.clips_per_world, "--clips-per-world")
    model = _classifier(args.classifier)
    cfg = model.cfg
    result = evaluate(model, reference_clips(seeds, args.clips_per_world, cfg.width, cfg.height, cfg.frames))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_accuracy(result, seeds)
    return 0


def _mark(value) -> str:
    return "n-a" if value is None else f"{value:g}"


def _print_agreement(result: dict, scenes, head: str) -> None:
    from .caption_classifier import HEADS

    print(head)
    width = min(48, max(len(s.prompt) for s in scenes))
    print(f"{'#':>3}  {'caption':{width}s}  " + "  ".join(f"{h:18s}" for h in HEADS).rstrip())
    for i, (scene, pred, agree) in enumerate(zip(scenes, result["predicted"], result["per_segment"]), 1):
        caption = scene.prompt if len(scene.prompt) <= width else scene.prompt[:width - 1] + "…"
        print(f"{i:>3}  {caption:{width}s}  " + "  ".join(f"{pred[h]:14s}{_mark(agree[h]):>4s}" for h in HEADS))
    mean = result["mean"]
    print(f"{'':3s}  {'mean':{width}s}  " + "  ".join(f"{'':10s}{'n-a' if mean[h] is None else f'{mean[h]:.3f}':>8s}"
                                                  for h in HEADS))


def agreement_command(args) -> int:
    from pathlib import Path

    from worldsim.errors import WorldsimUserError

    from .caption_classifier import agreement
    from .render import film_scenes
    from .storyboard import load_storyboard

    if not Path(args.film).is_file():
        raise WorldsimUserError(f"{args.film}: no such film")
    scenes = load_storyboard(args.storyboard)
    model = _classifier(args.classifier)
    frames, fps, cuts = film_scenes(args.film, scenes, args.seconds_per_segment)
    need = model.cfg.frames
    for i, (scene, cut) in enumerate(zip(scenes, cuts), 1):
        if len(cut) < need:
            raise WorldsimUserError(f"{args.film}: scene {i} ({scene.text!r}) is {len(cut)} frames; "
                                    f"the classifier reads its first {need}")
    result = agreement(model, cuts, scenes)
    result = {"film": str(args.film), "fps": fps, "frames": [len(c) for c in cuts],
              "captions": [s.prompt for s in scenes], **result}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_agreement(result, scenes, f"{args.film}: {len(frames)} frames at {fps:g} fps, {len(scenes)} scenes; "
                                         f"classifier {args.classifier}")
    return 0


def consistency_command(args) -> int:
    from pathlib import Path

    from worldsim.errors import WorldsimUserError

    from .consistency import MEASURES, REVISIT_FRAMES, consistency, revisits
    from .render import film_scenes
    from .storyboard import load_storyboard

    if not Path(args.film).is_file():
        raise WorldsimUserError(f"{args.film}: no such film")
    scenes = load_storyboard(args.storyboard)
    if not revisits(scenes):
        raise WorldsimUserError(f"{args.storyboard}: no scene revisits an earlier one "
                                f"(a revisit is a later scene naming an earlier scene's place)")
    frames, fps, cuts = film_scenes(args.film, scenes, args.seconds_per_segment)
    for i, (scene, cut) in enumerate(zip(scenes, cuts), 1):
        if len(cut) == 0:
            raise WorldsimUserError(f"{args.film}: scene {i} ({scene.text!r}) has no frames")
    try:
        result = consistency(cuts, scenes)
    except ValueError as err:
        raise WorldsimUserError(f"{args.storyboard}: {err}") from None
    result = {"film": str(args.film), "fps": fps, "frames": [len(c) for c in cuts], **result}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.film}: {len(frames)} frames at {fps:g} fps, {len(scenes)} scenes, {len(result['pairs'])} revisits "
          f"(first {REVISIT_FRAMES} frames of each against the earlier visit and against the other places)")
    print(f"{'earlier':>7} {'revisit':>7} {'place':>10}  " + "  ".join(f"{m + ' same/others/gap':32s}" for m in MEASURES))
    for p in result["pairs"]:
        print(f"{p['earlier']:>7} {p['revisit']:>7} {p['place']:>10}  " + "  ".join(
            f"{p['same_place'][m]:8.3f} {p['other_places'][m]:8.3f} {p['gap'][m]:+8.3f}       " for m in MEASURES))
    mean = result["mean"]
    print(f"{'mean':>26}  " + "  ".join(f"{mean['revisit'][m]:8.3f} {mean['non_revisit'][m]:8.3f} "
                                        f"{mean['gap'][m]:+8.3f}       " for m in MEASURES))
    return 0
