"""The terminal table, strict JSON, and two summaries side by side (`worldsim eval --compare A B`)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import WorldsimUserError


def strict(value):
    """The summary with every NaN/inf replaced by None, so json.dumps(allow_nan=False) holds."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(summary: dict) -> str:
    return json.dumps(strict(summary), indent=2, allow_nan=False)


def _get(d, *path):
    for key in path:
        if not isinstance(d, dict) or d.get(key) is None:
            return None
        d = d[key]
    return d


def _fmt(v, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def rows(s: dict) -> list[tuple[str, object, object, object]]:
    """(measure, subject, copy baseline, first-frame baseline) rows of one summary."""
    out = []
    tf = s.get("teacher_forced")
    for m, unit in (("psnr", "dB"), ("ssim", "")):
        out.append((f"teacher-forced next step {m.upper()} {unit}".strip(), _get(tf, "model", m), _get(tf, "copy", m), None))
    for h, v in (_get(s, "autoregressive", "horizons") or {}).items():
        for m in ("psnr", "ssim"):
            out.append((f"autoregressive {m.upper()} first {h}", _get(v, "model", m), _get(v, "copy", m), _get(v, "first", m)))
    for mode in ("teacher_forced", "autoregressive"):
        y = _get(s, "yaw", mode)
        out.append((f"yaw following % ({mode.replace('_', '-')})", _get(y, "following_pct"), None, None))
        out.append((f"  error % ({mode.replace('_', '-')})", _get(y, "error_pct"), None, None))
        out.append((f"  following %, least-squares shift ({mode.replace('_', '-')})",
                    _get(y, "following_least_squares_pct"), None, None))
    out.append(("  reference shift vs f·tan(Δyaw) %", _get(s, "yaw", "autoregressive", "reference_vs_analytic_pct"), None, None))
    d = s.get("drift") or {}
    out.append((f"drift: last/first {_fmt(d.get('window_s'), 0)} s of {_fmt(d.get('seconds'), 0)} s", _get(d, "model", "drift"),
                None, _get(d, "first", "drift")))
    for end, key in (("first", "d_first"), ("last", "d_last")):     # the ratio's parts: read them beside it
        out.append((f"  feature distance to truth, {end} {_fmt(d.get('window_s'), 0)} s", _get(d, "model", key),
                    None, _get(d, "first", key)))
    dt = s.get("detail") or {}
    scales = "/".join(map(str, dt.get("scales") or ()))
    out.append((f"detail vs truth at {scales or 'n/a'} px (autoregressive, first {_fmt(dt.get('seconds'), 0)} s; 1 = as sharp)",
                _per_scale(dt.get("autoregressive")), None, None))
    for end in ("first", "last"):
        out.append((f"  detail vs truth, walk's {end} {_fmt(_get(dt, 'walk', 'window_s'), 0)} s",
                    _per_scale(_get(dt, "walk", end)), None, None))
    for name, r in (s.get("revisit") or {}).items():
        out.append((f"{name}: revisit PSNR vs own first view", _get(r, "vs_first", "psnr"), None, None))
        out.append((f"{name}: revisit PSNR vs truth", _get(r, "vs_truth", "psnr"), None, None))
        out.append((f"{name}: PSNR vs truth on the way", _get(r, "away_psnr"), None, _get(r, "away_psnr_first_frame")))
    sp = s.get("speed") or {}
    out.append(("speed: frames/s (all sessions)", sp.get("frames_per_s"), None, None))
    out.append(("speed: step ms p50 / p99", f"{_fmt(sp.get('step_ms_p50'), 1)} / {_fmt(sp.get('step_ms_p99'), 1)}", None, None))
    return out


def _per_scale(values) -> str | None:
    return " / ".join(_fmt(v) for v in values) if values else None


def header(s: dict) -> str:
    sub = s.get("subject", {})
    seeds = s.get("seeds", [])
    return (f"{s.get('label')}: {sub.get('renderer')} {sub.get('width')}x{sub.get('height')} vs ground truth "
            f"`{_get(s, 'ground_truth', 'renderer')}`, seeds {', '.join(map(str, seeds))}, {s.get('date')}")


def table(s: dict, markdown: bool = False) -> str:
    lines = [] if markdown else [header(s), ""]
    body = [(m, _fmt(a), _fmt(b) if b is not None else "", _fmt(c) if c is not None else "") for m, a, b, c in rows(s)]
    titles = ("measure", s.get("label") or "subject", "copy", "first frame")
    if markdown:
        lines += ["| " + " | ".join(titles) + " |", "|---|---:|---:|---:|"]
        lines += ["| " + " | ".join((r[0].strip(),) + r[1:]) + " |" for r in body]
    else:
        width = max(len(r[0]) for r in body + [titles])
        lines += [f"{titles[0]:<{width}}  {titles[1]:>12}  {titles[2]:>8}  {titles[3]:>11}"]
        lines += [f"{m:<{width}}  {a:>12}  {b:>8}  {c:>11}" for m, a, b, c in body]
    lines += position_table(s, markdown)
    return "\n".join(lines) + "\n"


POSITION_ROWS = (("", "following_pct", "yaw following %"),
                 (", least-squares", "following_least_squares_pct", "yaw following %, least-squares shift"),
                 (", least-squares error %", "error_least_squares_pct", "yaw error %, least-squares shift"))


def position_table(s: dict, markdown: bool = False) -> list[str]:
    """Yaw following by latent-frame position: the phase gain, the least-squares gain and error %,
    autoregressive and teacher-forced (n/a where a summary predates a figure)."""
    by_pos = _get(s, "yaw", "autoregressive", "by_position") or []
    tf_pos = {r["positions"]: r for r in (_get(s, "yaw", "teacher_forced", "by_position") or [])}
    if not by_pos:
        return []
    heads = [f"{r['positions']}{'*' if r.get('beyond_window') else ''}" for r in by_pos]
    lines = []
    if markdown:
        lines += ["", "yaw following % by latent-frame position (autoregressive / teacher-forced; phase correlation "
                  "unless marked least-squares; * beyond the window):", "",
                  "| positions | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
        for suffix, key, _ in POSITION_ROWS:
            for mode, get in (("autoregressive", lambda r: r), ("teacher-forced", lambda r: tf_pos.get(r["positions"]))):
                lines.append(f"| {mode}{suffix} | " + " | ".join(_fmt((get(r) or {}).get(key), 0) for r in by_pos) + " |")
        return lines
    for _, key, title in POSITION_ROWS:
        pairs = [(r.get(key), (tf_pos.get(r["positions"]) or {}).get(key)) for r in by_pos]
        cells = ("  ".join(f"{h}: {_fmt(a, 0)}/{_fmt(t, 0)}" for h, (a, t) in zip(heads, pairs))
                 if any(v is not None for p in pairs for v in p) else "n/a (not in this summary)")
        lines += ["", f"{title} by latent-frame position (autoregressive / teacher-forced; * beyond the window):",
                  "  " + cells]
    return lines


def load(path: str | Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WorldsimUserError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:
        raise WorldsimUserError(f"{path}: not an eval summary JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != "worldsim-eval":
        raise WorldsimUserError(f"{path}: not a `worldsim eval --json` summary (format != worldsim-eval)")
    return data


def compare(a: dict, b: dict) -> str:
    """The subject columns of two summaries side by side, with B - A."""
    ra, rb = rows(a), rows(b)
    width = max(len(r[0]) for r in ra + rb)
    lines = [f"A: {header(a)}", f"B: {header(b)}", "",
             f"{'measure':<{width}}  {'A':>12}  {'B':>12}  {'B - A':>8}"]
    values_b = {r[0]: r[1] for r in rb}
    names = [r[0] for r in ra] + [r[0] for r in rb if r[0] not in {x[0] for x in ra}]
    values_a = {r[0]: r[1] for r in ra}
    for m in names:
        va, vb = values_a.get(m), values_b.get(m)
        diff = _fmt(vb - va) if isinstance(va, float) and isinstance(vb, float) else ""
        lines.append(f"{m:<{width}}  {_fmt(va):>12}  {_fmt(vb):>12}  {diff:>8}")
    if a.get("seeds") != b.get("seeds"):
        lines.append(f"note: the seeds differ (A {a.get('seeds')}, B {b.get('seeds')})")
    return "\n".join(lines)
