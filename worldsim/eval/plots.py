"""Plots of a summary (matplotlib, the `eval` extra): PSNR over time and yaw following by position."""
from __future__ import annotations

from pathlib import Path


def write_plots(summary: dict, out_dir: str | Path) -> tuple[list[str], str | None]:
    """-> (file names written, a one-line note when matplotlib is missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "plots skipped: matplotlib is missing (pip install 'worldsim[eval]')"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = ", ".join(map(str, summary.get("seeds", [])))
    label = summary.get("label")
    written = []

    fig, ax = plt.subplots(figsize=(7, 4))
    per = summary["autoregressive"]["per_second"]
    secs = list(range(1, len(per["model"]["psnr"]) + 1))
    for who, style in (("model", "-o"), ("copy", "--"), ("first", ":")):
        name = label if who == "model" else f"{who} baseline"
        ax.plot(secs, [v if v is not None else float("nan") for v in per[who]["psnr"]], style, label=name)
    walk = summary.get("walk_psnr_per_second") or []
    if len(walk) > len(secs):
        ax.plot(range(1, len(walk) + 1), walk, "-", alpha=0.5, label=f"{label}, walk to {len(walk)} s")
    ax.set_xlabel("second of the rollout")
    ax.set_ylabel("PSNR vs ground truth (dB)")
    ax.set_title(f"autoregressive PSNR per second (seeds {seeds})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "psnr.png", dpi=110)
    plt.close(fig)
    written.append("psnr.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    for mode, colour in (("autoregressive", "C0"), ("teacher_forced", "C1")):
        rows = ((summary.get("yaw") or {}).get(mode) or {}).get("by_position") or []
        for key, style, name in (("following_pct", "-o" if mode == "autoregressive" else "--s", ", phase"),
                                 ("following_least_squares_pct", "-^" if mode == "autoregressive" else "--^",
                                  ", least-squares")):
            values = [r.get(key) for r in rows]
            if any(v is not None for v in values):          # summaries before the least-squares rows lack them
                ax.plot([r["positions"] for r in rows], [v if v is not None else float("nan") for v in values],
                        style, color=colour, alpha=0.6 if key == "following_pct" else 1.0, label=mode.replace("_", "-") + name)
    window = (summary.get("subject", {}).get("info") or {}).get("window")
    if window:
        ax.axvline((window - 1) // 4 + 0.5, color="grey", lw=0.8, ls=":", label=f"window ({window})")
    ax.axhline(100, color="black", lw=0.6)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("latent-frame position after the session opened")
    ax.set_ylabel("yaw following (%)")
    ax.set_title(f"{label}: yaw following by position (seeds {seeds})", fontsize=9)
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "yaw.png", dpi=110)
    plt.close(fig)
    written.append("yaw.png")
    return written, None
