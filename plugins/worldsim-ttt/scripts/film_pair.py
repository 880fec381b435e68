"""The long-form quality pair as a table: films of the same storyboards from two runs (issue 17: the TTT-MLP model and
the segment-local baseline trained the same way), each judged by caption agreement (`worldsim ttt agreement`'s shipped
classifier) and, where a storyboard revisits a place, scene consistency (`worldsim ttt consistency`).

    python plugins/worldsim-ttt/scripts/film_pair.py runs/lease17/ttt runs/lease17/ttt-local --labels TTT-MLP local

Each run folder holds `<storyboard name>.mp4` for the storyboards it rendered (film_lease.py renders the examples);
`--storyboards` names others (default: plugins/worldsim-ttt/examples/*.toml). Prints one Markdown row per storyboard
and run, then one per run over all scenes: agreement as matched scenes / scenes that name the head, consistency as
the revisit's gap over other places (histogram intersection; thumbnail PSNR in dB). Films are cut as the CLI cuts
them (`--seconds-per-segment`, default 3).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent
HEADS = ("biome", "time_of_day", "action")


def judge(film: Path, storyboard: Path, model, seconds_per_segment: float) -> dict:
    """Agreement counts per head and, with revisits, the consistency gaps of one film."""
    from worldsim_ttt.caption_classifier import agreement
    from worldsim_ttt.consistency import consistency, revisits
    from worldsim_ttt.render import film_scenes
    from worldsim_ttt.storyboard import load_storyboard

    scenes = load_storyboard(storyboard)
    _, _, cuts = film_scenes(film, scenes, seconds_per_segment)
    per_segment = agreement(model, cuts, scenes)["per_segment"]
    counts = {h: (sum(s[h] == 1.0 for s in per_segment), sum(s[h] is not None for s in per_segment)) for h in HEADS}
    gap = consistency(cuts, scenes)["mean"]["gap"] if revisits(scenes) else None
    return {"agreement": counts, "gap": gap}


def cell(matched: int, named: int) -> str:
    return f"{matched}/{named} ({matched / named:.3f})" if named else "n/a"


def gap_cell(gap: dict | None) -> str:
    return "n/a" if gap is None else f"{gap['histogram']:+.3f} / {gap['psnr_db']:+.2f} dB"


def table(runs: list[Path], labels: list[str], storyboards: list[Path], model, seconds_per_segment: float) -> list[str]:
    rows = ["| storyboard | run | biome | time of day | action | consistency gap (histogram / PSNR) |",
            "|---|---|---|---|---|---|"]
    totals = {label: {h: [0, 0] for h in HEADS} for label in labels}
    for board in storyboards:
        films = [run / f"{board.stem}.mp4" for run in runs]
        if not all(f.is_file() for f in films):
            continue
        for label, film in zip(labels, films):
            result = judge(film, board, model, seconds_per_segment)
            for h, (matched, named) in result["agreement"].items():
                totals[label][h][0] += matched
                totals[label][h][1] += named
            rows.append(f"| {board.stem} | {label} | " + " | ".join(cell(*result["agreement"][h]) for h in HEADS)
                        + f" | {gap_cell(result['gap'])} |")
    for label in labels:
        rows.append(f"| all scenes | {label} | " + " | ".join(cell(*totals[label][h]) for h in HEADS) + " | |")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs=2, type=Path, help="two folders of films, <storyboard name>.mp4 each")
    p.add_argument("--labels", nargs=2, default=None, help="the runs' names in the table (default: the folders')")
    p.add_argument("--storyboards", nargs="+", type=Path, default=None, help="default: the plugin's examples/*.toml")
    p.add_argument("--classifier", type=Path, default=None, help="default: the shipped judge")
    p.add_argument("--seconds-per-segment", type=float, default=3.0)
    args = p.parse_args(argv)
    sys.path[:0] = [str(PLUGIN.parent.parent), str(PLUGIN)]
    from worldsim.errors import WorldsimUserError
    from worldsim_ttt.caption_classifier import SHIPPED, load_classifier

    labels = args.labels or [run.name for run in args.runs]
    storyboards = args.storyboards or sorted((PLUGIN / "examples").glob("*.toml"))
    try:
        for run in args.runs:
            if not run.is_dir():
                raise WorldsimUserError(f"{run}: no such folder of films")
        model = load_classifier(args.classifier or SHIPPED)
        rows = table(args.runs, labels, storyboards, model, args.seconds_per_segment)
    except WorldsimUserError as err:
        print(f"film_pair: {err}", file=sys.stderr)
        return 2
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
