"""The caption classifier shipped with the plugin (`worldsim ttt agreement`'s default judge) loads and reads
reference-world walks of worlds it never saw well above the majority class on its usable heads."""
from __future__ import annotations

from worldsim_ttt.caption_classifier import SHIPPED, evaluate, load_classifier, reference_clips


def test_the_shipped_classifier_reads_unseen_worlds():
    model = load_classifier(SHIPPED)                          # trained on worlds 0-399 (docs/ttt.md)
    result = evaluate(model, reference_clips(range(30000, 30012), clips_per_world=1))
    # measured 0.67 (majority 0.42) and 0.92 (0.33) on these 12 walks; a broken or random judge reads ~chance
    assert result["biome"]["accuracy"] >= 0.6 > result["biome"]["majority"]
    assert result["time_of_day"]["accuracy"] >= 0.8 > result["time_of_day"]["majority"]
