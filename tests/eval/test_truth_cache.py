"""`worldsim eval --truth-cache DIR`: the ground truth's runs kept and read back."""
from __future__ import annotations

import numpy as np

from worldsim.eval.config import EvalConfig
from worldsim.eval.run import evaluate
from worldsim.eval.trajectories import build_trajectories
from worldsim.eval.truth_cache import TruthCache

FAST = EvalConfig(seeds=(100000, 100001), seconds=2.0, drift_seconds=4.0, teacher_seconds=1.0, video_seconds=0)


def measures(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("wall_s", "speed", "ground_truth", "date")}


def test_a_second_evaluation_reads_the_truth_back_and_measures_the_same(synthetic, tmp_path):
    truth = synthetic["panorama"]()
    steps = []
    step = truth.step
    truth.step = lambda states, packets: steps.append(1) or step(states, packets)
    cache = TruthCache(tmp_path / "truth")
    first = evaluate(synthetic["lagging"](), FAST, truth_renderer=truth, truth_cache=cache, progress=False)
    rendered = len(steps)
    assert rendered > 0 and first["ground_truth"]["runs_read_back"] == 0
    kept = sorted(p.name for p in (tmp_path / "truth").iterdir())
    assert len(kept) == 6 and all(p.endswith(".npz") for p in kept)        # one a trajectory, no leftovers
    second = evaluate(synthetic["lagging"](), FAST, truth_renderer=truth, truth_cache=cache, progress=False)
    assert len(steps) == rendered and second["ground_truth"]["runs_read_back"] == 6   # nothing rendered again
    assert measures(second) == measures(first)


def test_other_seeds_a_damaged_file_or_another_size_render_anew(synthetic, tmp_path):
    cache = TruthCache(tmp_path)
    traj = build_trajectories(FAST, 24.0, kinds=["camera"])[0]
    options = {"width": 32, "height": 32, "fps": 24.0, "fovy_deg": 60.0}
    path = cache.path("panorama", options, [100000], traj)
    assert path != cache.path("panorama", options, [100001], traj)
    assert path != cache.path("panorama", {**options, "width": 64}, [100000], traj)
    assert path != cache.path("reference", options, [100000], traj)
    assert cache.load(path) is None                                       # nothing kept yet
    path.write_bytes(b"PK\x03\x04 not a whole archive")
    assert cache.load(path) is None                                       # damaged: render again
    frames = np.zeros((1, 3, 4, 4, 3), np.uint8)
    from worldsim.eval.rollout import Run
    cache.save(path, Run(frames, np.array([0, 0, 0])))
    back = cache.load(path)
    assert back is not None and np.array_equal(back.frames, frames) and back.positions.tolist() == [0, 0, 0]


def test_a_cache_folder_that_cannot_be_made_is_one_line(tmp_path):
    import pytest

    from worldsim.errors import WorldsimUserError
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WorldsimUserError, match="--truth-cache .*cannot make that folder"):
        TruthCache(blocker / "truth")


def test_a_run_that_cannot_be_kept_costs_one_line_not_the_evaluation(tmp_path, capsys):
    from worldsim.eval.rollout import Run
    cache = TruthCache(tmp_path)
    taken = tmp_path / "walk-taken.npz"
    taken.mkdir()                                                          # a folder where the file should go
    cache.save(taken, Run(np.zeros((1, 1, 2, 2, 3), np.uint8), np.array([0])))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not keep the truth" in err[0]
    assert [p.name for p in tmp_path.iterdir()] == ["walk-taken.npz"]      # no part file left behind
