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


def load_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("film_lease", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stages_cut_the_films_into_growing_films_of_consecutive_scenes():
    import pytest
    import torch

    lease = load_script()
    x0 = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3, 1, 1, 1)      # 2 films of 6 scenes
    prompts = [[f"f{i}s{j}" for j in range(6)] for i in range(2)]
    stages = lease.film_stages(x0, prompts, lease.parse_stages("1,3,6", 6), 3.0, 4, 100.0, 1.0)
    assert [name for name, *_ in stages] == ["3-s films", "9-s films", "18-s films"]
    assert [tuple(data.shape[:2]) for _, data, *_ in stages] == [(12, 1), (4, 3), (2, 6)]
    assert [batch for *_, batch in stages] == [24, 8, 4]                                # the same scenes a step
    assert [deadline for _, _, _, deadline, _ in stages] == [110.0, 130.0, 160.0]      # 1/6, 2/6, 3/6 of 60 s
    _, data, texts, _, _ = stages[1]
    assert texts[1] == ["f0s3", "f0s4", "f0s5"] and torch.equal(data[1], x0[0, 3:6])   # consecutive scenes
    assert lease.parse_stages(None, 3) == [1, 3] and lease.parse_stages(None, 1) == [1]
    for bad in ("1,4,6", "3,1,6", "1,3", "a,b"):
        with pytest.raises(SystemExit, match="--stages"):
            lease.parse_stages(bad, 6)
