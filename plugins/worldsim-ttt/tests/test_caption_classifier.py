"""The caption-agreement classifier: labels from the reference world, training, save/load, agreement, CLI."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from worldsim_ttt.caption_classifier import (ACTIONS, BIOMES, HEADS, MOVE_ACTION, TIMES, ClassifierConfig,
                                             agreement, evaluate, label_agreement, labels_from_text,
                                             load_classifier, reference_clips, save_classifier,
                                             train_classifier)

SMALL = dict(width=32, height=32, channels=(8, 16))


@pytest.fixture(scope="module")
def clips():
    return reference_clips([0, 1, 2], clips_per_world=2, width=32, height=32)      # 6 clips, ~3 s


def named(clips, i) -> dict[str, str]:
    return {h: c[int(clips.labels[i, k])] for k, (h, c) in enumerate(zip(HEADS, (BIOMES, TIMES, ACTIONS)))}


def test_labels_are_the_reference_worlds_own(clips):
    from worldsim.worlds.player import Player
    from worldsim.worlds.terrain import BIOMES as TERRAIN_BIOMES
    from worldsim.worlds.world import TIMES_OF_DAY, build_world

    assert BIOMES == TERRAIN_BIOMES and TIMES == tuple(TIMES_OF_DAY)
    assert set(MOVE_ACTION.values()) == set(ACTIONS)
    assert clips.frames.shape == (6, 12, 32, 32, 3) and clips.frames.dtype == torch.uint8
    assert clips.world_seeds == [0, 0, 1, 1, 2, 2]
    for i, (w, p) in enumerate(zip(clips.world_seeds, clips.player_seeds)):
        world, label = build_world(w), named(clips, i)
        x, z = clips.starts[i].tolist()
        assert label["time_of_day"] == world.sky.time_of_day
        assert label["biome"] == world.terrain.biome_at(x, z)
        sx, sz = world.spawn_point(p)
        assert abs(x - sx) < 1.0 and abs(z - sz) < 1.0                            # the walk's start
        first = Player(p).plan(12).moves[0]
        assert clips.moves[i] == first.name and label["action"] == MOVE_ACTION[first.name]
        assert first.end == 12                                                    # the clip is all first move
        # the caption the world wrote says the same, read back from its words
        assert labels_from_text(clips.captions[i]) == label, clips.captions[i]


def test_labels_from_text_reads_storyboard_style_text():
    assert labels_from_text("runs forward through an autumn forest at dusk, then turns left") == {
        "biome": "forest", "time_of_day": "dusk", "action": "run"}
    assert labels_from_text("looks around to the left along a sandy shore at noon")["action"] == "look"
    assert labels_from_text("walks forward, bearing left over dry grassland at dawn") == {
        "biome": "grass", "time_of_day": "dawn", "action": "walk"}
    assert labels_from_text("a castle in the clouds") == {"biome": None, "time_of_day": None, "action": None}


def test_training_lowers_the_loss_and_save_load_predicts_the_same(clips, tmp_path):
    model, losses = train_classifier(clips, ClassifierConfig(**SMALL), epochs=6, batch=3)
    assert len(losses) == 6 and losses[-1] < losses[0]
    save_classifier(model, tmp_path / "cls")
    loaded = load_classifier(tmp_path / "cls")
    assert json.loads((tmp_path / "cls" / "classifier.json").read_text())["channels"] == [8, 16]
    assert torch.equal(model.predict(clips.frames), loaded.predict(clips.frames))
    with torch.no_grad():
        a, b = model(clips.frames), loaded(clips.frames)
    assert all(torch.equal(a[h], b[h]) for h in HEADS)
    result = evaluate(loaded, clips)
    assert set(result) == set(HEADS) and all(0 <= r["accuracy"] <= 1 and r["clips"] == 6 for r in result.values())
    for r in result.values():                            # confusion: rows true, columns predicted
        c = torch.tensor(r["confusion"])
        assert int(c.sum()) == 6 and abs(float(c.diag().sum()) / 6 - r["accuracy"]) < 1e-6


def test_agreement_of_true_labels_is_one_and_of_shuffled_labels_lower(clips):
    true = [named(clips, i) for i in range(len(clips))]
    same = label_agreement(true, true)
    assert same["mean"] == {h: 1.0 for h in HEADS}
    assert all(v == 1.0 for seg in same["per_segment"] for v in seg.values())
    shuffled = true[1:] + true[:1]                       # each segment gets its neighbour's labels
    mixed = label_agreement(true, shuffled)
    assert all(mixed["mean"][h] <= 1.0 for h in HEADS) and min(mixed["mean"].values()) < 1.0
    # captions stand in for labels; what a caption does not say is left out of the mean
    assert label_agreement(true, clips.captions)["mean"] == {h: 1.0 for h in HEADS}
    from worldsim_ttt.storyboard import Scene
    scene = Scene("through an autumn forest at dusk", 3.0, camera=("turn_left", "walk"))
    assert label_agreement([{"biome": "forest", "time_of_day": "dusk", "action": "turn"}], [scene])["mean"] == {
        h: 1.0 for h in HEADS}
    partial = label_agreement(true[:2], [{"biome": true[0]["biome"]}, "a castle at " + true[1]["time_of_day"]])
    assert partial["mean"] == {"biome": 1.0, "time_of_day": 1.0, "action": None}


def test_agreement_judges_segment_frames_of_any_size_and_length(clips):
    model, _ = train_classifier(clips, ClassifierConfig(**SMALL), epochs=1, batch=6)
    pred = model.predict(clips.frames)
    own = [{h: model.cfg.classes[h][int(p[k])] for k, h in enumerate(HEADS)} for p in pred]
    # segments as a film renderer decodes them: numpy uint8, larger, longer, of unequal lengths
    big = torch.nn.functional.interpolate(clips.frames.permute(0, 1, 4, 2, 3).flatten(0, 1).float(),
                                          size=(48, 48), mode="nearest").round().byte()
    big = big.reshape(6, 12, 3, 48, 48).permute(0, 1, 3, 4, 2)
    segments = [torch.cat([s, s[-4:]]).numpy() if i % 2 else s.numpy() for i, s in enumerate(big)]
    out = agreement(model, segments, own)
    assert len(out["per_segment"]) == 6 and len(out["predicted"]) == 6
    assert agreement(model, clips.frames, own)["mean"] == {h: 1.0 for h in HEADS}
    with pytest.raises(ValueError):
        agreement(model, clips.frames, own[:3])
    with pytest.raises(ValueError):
        agreement(model, [clips.frames[0, :5]], own[:1])                          # too short a segment


@pytest.mark.parametrize("argv, says", [
    (["eval", "{tmp}/missing", "--world-seeds", "10000-10001"], "no such classifier folder"),
    (["eval", "{tmp}", "--world-seeds", "10000-10001"], "not a caption classifier"),
    (["eval", "{tmp}/broken", "--world-seeds", "1"], "unreadable caption classifier"),
    (["eval", "{tmp}/badweights", "--world-seeds", "1"], "unreadable caption classifier"),
    (["eval", "{tmp}", "--world-seeds", "9-3"], "--world-seeds must be seeds"),
    (["train", "--world-seeds", "a-b", "--out", "{tmp}/o"], "--world-seeds must be seeds"),
    (["train", "--world-seeds", "0-3", "--eval-seeds", "2-5", "--out", "{tmp}/o"], "overlap"),
    (["train", "--world-seeds", "0", "--epochs", "0", "--out", "{tmp}/o"], "--epochs must be > 0"),
])
def test_cli_errors_are_one_line(argv, says, tmp_path, capsys):
    from worldsim.cli import main

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "classifier.json").write_text("{not json")
    (tmp_path / "broken" / "classifier.safetensors").write_bytes(b"junk")
    (tmp_path / "badweights").mkdir()
    (tmp_path / "badweights" / "classifier.json").write_text(json.dumps(asdict(ClassifierConfig())))
    (tmp_path / "badweights" / "classifier.safetensors").write_bytes(b"junk")
    assert main(["ttt", "classifier", *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("worldsim: error: ") and says in err, err
    assert "Traceback" not in err
