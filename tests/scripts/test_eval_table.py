"""scripts/eval_table.py: the drift ratio seed by seed beside its mean, which one seed can carry."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("eval_table", ROOT / "scripts" / "eval_table.py")
eval_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_table)


def test_drift_per_seed_names_each_seed_and_the_median():
    summary = {"drift": {"per_seed": [6.98, 1.17, 2.08, 1.05], "model": {"drift": 2.82}}}
    assert eval_table.drift_seeds(summary, "m") == "m drift per seed: 6.98 1.17 2.08 1.05 (median 1.62)"
    assert eval_table.drift_seeds({"drift": {"model": {"drift": 1.0}}}, "old") == "old drift per seed: n/a"
    summary["drift"]["per_seed_distances"] = [[0.1, 0.7], [0.5, 0.6], [0.4, 0.8], [0.6, 0.6]]
    assert eval_table.drift_seeds(summary, "m").endswith("(median 1.62); distance first → last 5 s: "
                                                          "0.10→0.70 0.50→0.60 0.40→0.80 0.60→0.60")
