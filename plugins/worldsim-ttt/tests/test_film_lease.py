"""The lease driver's dry run (scripts/film_lease.py --dry-run: tiny preset, CPU): every stage, end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "film_lease.py"


def test_dry_run_trains_renders_and_benchmarks(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--work", str(tmp_path), "--dry-run"], env=env,
                          capture_output=True, text=True, timeout=300)
    log = (tmp_path / "driver.log").read_text()
    assert done.returncode == 0 and "FAILED" not in log and log.rstrip().endswith("done"), log + done.stderr
    assert (tmp_path / "model" / "train_state.json").is_file() and (tmp_path / "model_f16" / "ttt.safetensors").is_file()
    assert {p.name for p in tmp_path.glob("*.mp4")} == {"alpine_day.mp4", "autumn_journey.mp4", "lakeside_return.mp4"}
    rows = [json.loads(line) for line in (tmp_path / "bench_film.json").read_text().splitlines()]
    assert {r["variant"] for r in rows} == {"ttt-mlp", "local", "full"}
