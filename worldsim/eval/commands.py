"""`worldsim eval`: measure a renderer against the reference world (docs/QUALITY.md)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import WorldsimUserError
from .config import DEFAULT_SEEDS, EvalConfig, parse_seeds


def register(sub) -> None:
    p = sub.add_parser("eval", help="measure a renderer against the reference world (control following, "
                                    "stability, memory); docs/QUALITY.md")
    p.add_argument("--renderer", default="reference", help="the subject (default: reference, i.e. the truth itself)")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint folder of the aapt renderer")
    p.add_argument("--preset", help="aapt without a checkpoint: this preset with random weights (e.g. tiny)")
    p.add_argument("--device", help="torch device of the subject (cpu, cuda)")
    p.add_argument("--window", type=int, help="aapt: play with this attention window in latent frames "
                                              "(default: the checkpoint's)")
    p.add_argument("--renderer-option", action="append", metavar="KEY=VALUE",
                   help="another option of the subject's constructor, as `worldsim play` takes it (repeatable; "
                        "VALUE as JSON where it parses), e.g. --renderer-option fp8=true")
    p.add_argument("--prompt", default="", help='the subject\'s text prompt; "auto": each seed\'s place as the '
                   'training captions say it ("walks forward through a pine forest at dawn"); default: none')
    p.add_argument("--seeds", default=f"{DEFAULT_SEEDS[0]}-{DEFAULT_SEEDS[-1]}",
                   help="held-out world seeds, e.g. 100000-100003 or 100000,100009 (not 0..999: training)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the walk/yaw/strafe/still runs (default 10)")
    p.add_argument("--drift-seconds", type=float, default=60.0, help="length of the walk for the drift measure (default 60)")
    p.add_argument("--teacher-seconds", type=float, default=4.0, help="length of the teacher-forced runs (default 4: 24 latent frames)")
    p.add_argument("--out", metavar="DIR", help="write summary.json, plots and side-by-side mp4s here")
    p.add_argument("--truth-cache", metavar="DIR", help="keep the reference world's runs here and read them back on "
                   "the next evaluation of the same seeds (~20 MB a seed at 128x128 and the default lengths)")
    p.add_argument("--json", action="store_true", help="print the JSON summary instead of the table")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs)")
    p.add_argument("--show", metavar="JSON", help="print the table of a saved summary.json and exit")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="print two summary JSONs side by side and exit")
    p.set_defaults(func=run)


def subject_options(args) -> dict:
    options = {}
    if args.checkpoint:
        if args.renderer != "aapt":
            raise WorldsimUserError(f"--checkpoint is for --renderer aapt, not {args.renderer}")
        if not (Path(args.checkpoint) / "config.json").is_file():
            raise WorldsimUserError(f"--checkpoint {args.checkpoint}: no checkpoint there (config.json missing)")
        options["checkpoint"] = args.checkpoint
    if args.preset:
        if args.renderer != "aapt" or args.checkpoint:
            raise WorldsimUserError("--preset is for --renderer aapt without --checkpoint")
        options["preset"] = args.preset
    if args.device:
        options["device"] = args.device
    if args.window is not None:
        if args.renderer != "aapt" or args.window < 1:
            raise WorldsimUserError(f"--window is the aapt renderer's attention window, a positive number of "
                                    f"latent frames (got {args.window} for --renderer {args.renderer})")
        options["window"] = args.window
    if getattr(args, "renderer_option", None):
        from ..runtime.commands import parse_renderer_option
        extra = dict(parse_renderer_option(text) for text in args.renderer_option)
        twice = sorted(set(extra) & (set(options) | {"max_sessions"}))
        if twice:
            raise WorldsimUserError(f"--renderer-option sets {', '.join(twice)}, which eval sets itself "
                                    f"(--checkpoint, --preset, --device, --window; max_sessions: one per seed)")
        options.update(extra)
    return options


def make_subject(args, sessions: int):
    from ..runtime.registry import available_renderers, create_renderer
    names = available_renderers()
    if args.renderer not in names:
        raise WorldsimUserError(f"unknown renderer {args.renderer!r}; available: {', '.join(names)}")
    options = subject_options(args)
    if args.renderer == "aapt":
        options["max_sessions"] = sessions
    try:
        return create_renderer(args.renderer, **options)
    except (ValueError, KeyError, OSError, TypeError) as err:     # TypeError: an option it does not take
        raise WorldsimUserError(f"cannot build the {args.renderer} renderer: {err}") from None


def run(args) -> int:
    from .report import compare, dumps, load, table
    if args.compare:
        print(compare(load(args.compare[0]), load(args.compare[1])))
        return 0
    if args.show:
        print(table(load(args.show), markdown=args.markdown), end="")
        return 0
    if args.markdown and args.json:
        raise WorldsimUserError("--json and --markdown: pick one")
    cfg = EvalConfig(seeds=parse_seeds(args.seeds), seconds=args.seconds, drift_seconds=max(args.drift_seconds, args.seconds),
                     teacher_seconds=args.teacher_seconds, prompt=args.prompt)
    subject = make_subject(args, len(cfg.seeds))
    from .run import evaluate
    label = f"{args.renderer} {args.checkpoint}" if args.checkpoint else (
        f"{args.renderer} {args.preset} (random)" if args.preset else args.renderer)
    if args.renderer_option:
        label += " " + " ".join(args.renderer_option)
    cache = None
    if args.truth_cache:
        from .truth_cache import TruthCache
        cache = TruthCache(args.truth_cache)
    summary = evaluate(subject, cfg, out_dir=args.out, label=label, progress=sys.stderr.isatty(), truth_cache=cache)
    notes = []
    if args.out:
        from .plots import write_plots
        summary["plots"], note = write_plots(summary, args.out)
        notes += [note] if note else []
        Path(args.out, "summary.json").write_text(dumps(summary) + "\n")
    print(dumps(summary) if args.json else table(summary, markdown=args.markdown), end="" if not args.json else "\n")
    for note in notes:
        print(note, file=sys.stderr)
    return 0
