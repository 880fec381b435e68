"""The docs/QUALITY.md rows of `worldsim eval` summaries: one table row a summary, then its yaw following by position.

    python scripts/eval_table.py runs/lease10/eval_runs_lease10_camera_ship_adapt/summary.json [more summary.json ...]

Row: name | TF PSNR | AR PSNR 1 s / 5 s / 10 s | yaw following %, least-squares TF / AR | drift 60 s (distance first ->
last 5 s) | revisit 14 s vs truth | turn360 vs truth | detail (1 = as sharp as the world) at scales 1/2/4 px over the
autoregressive trajectories; the walk's first -> last 5 s; the first summary's baselines (copy, first frame) follow the table,
then each summary's yaw following by latent-frame position and its drift ratio seed by seed.
"""
import json
import statistics
import sys
from pathlib import Path


def row(summary: dict, name: str) -> str:
    ar = summary["autoregressive"]["horizons"]
    yaw, drift, revisit = summary["yaw"], summary["drift"]["model"], summary["revisit"]
    return (f"| {name} | {summary['teacher_forced']['model']['psnr']:.1f} | "
            + " / ".join(f"{ar[h]['model']['psnr']:.1f}" for h in ("1s", "5s", "10s"))
            + f" | {yaw['teacher_forced']['following_least_squares_pct']:.0f} / "
              f"{yaw['autoregressive']['following_least_squares_pct']:.0f} | "
              f"{drift['drift']:.2f} ({drift['d_first']:.2f} → {drift['d_last']:.2f}) | "
              f"{revisit['revisit']['vs_truth']['psnr']:.1f} | {revisit['turn360']['vs_truth']['psnr']:.1f} | "
              f"{detail(summary)} |")


def detail(summary: dict) -> str:
    """'AR / walk first -> last' detail ratios, or n/a for a summary from before the measure."""
    d = summary.get("detail")
    if not d:
        return "n/a"
    f = lambda values: "/".join(f"{v:.2f}" for v in values)
    return f"{f(d['autoregressive'])}; {f(d['walk']['first'])} → {f(d['walk']['last'])}"


def positions(summary: dict, name: str, n: int = 15) -> str:
    by = summary["yaw"]["autoregressive"]["by_position"][:n]
    return (f"{name} by position: "
            + " ".join(b["positions"] + ("*" if b["beyond_window"] else "") for b in by)
            + "\n  following % " + " ".join(f"{b['following_least_squares_pct']:.0f}" for b in by)
            + "\n  error %     " + " ".join(f"{b['error_least_squares_pct']:.0f}" for b in by))


def drift_seeds(summary: dict, name: str) -> str:
    """The drift ratio seed by seed: its mean (the table's) can rest on one seed (the held-out 100000: ~7, the rest 1-2)."""
    ratios = summary["drift"].get("per_seed") or []
    if not ratios:
        return f"{name} drift per seed: n/a"
    line = f"{name} drift per seed: " + " ".join(f"{r:.2f}" for r in ratios) + f" (median {statistics.median(ratios):.2f})"
    distances = summary["drift"].get("per_seed_distances")            # summaries since 2026-12-02
    return line + ("; distance first → last 5 s: " + " ".join(f"{a:.2f}→{b:.2f}" for a, b in distances)
                   if distances else "")


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    summaries = []
    for path in paths:
        try:
            summaries.append((json.loads(Path(path).read_text()), Path(path).parent.name))
        except (OSError, ValueError) as err:
            print(f"eval_table: {path}: {err}", file=sys.stderr)
            return 2
    print("| model | TF PSNR | AR PSNR 1 s / 5 s / 10 s | yaw following %, least-squares TF / AR | "
          "drift 60 s (distance first → last 5 s) | revisit 14 s vs truth | turn360 vs truth | "
          "detail at 1/2/4 px: AR; walk first → last 5 s |")
    print("|---|---|---|---|---|---|---|---|")
    for summary, name in summaries:
        print(row(summary, name))
    first = summaries[0][0]
    ar = first["autoregressive"]["horizons"]
    print(f"\nbaselines ({', '.join(map(str, first['seeds']))}): first frame AR "
          + " / ".join(f"{ar[h]['first']['psnr']:.1f}" for h in ("1s", "5s", "10s"))
          + f" dB; copy TF {first['teacher_forced']['copy']['psnr']:.1f} dB; "
            f"first-frame drift {first['drift']['first']['drift']:.2f}\n")
    for summary, name in summaries:
        print(positions(summary, name))
    for summary, name in summaries:
        print(drift_seeds(summary, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
