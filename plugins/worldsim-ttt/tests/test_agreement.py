"""`worldsim ttt agreement FILM STORYBOARD --classifier DIR`: a real mp4 of reference-world clips whose
labels are known, a classifier trained on them, storyboards whose captions say the true or wrong labels."""
from __future__ import annotations

import json

import pytest

from worldsim_ttt.caption_classifier import CLASSES, HEADS, ClassifierConfig, labels_from_text, reference_clips, \
    save_classifier, train_classifier
from worldsim_ttt.render import scene_frames, write_film
from worldsim_ttt.storyboard import Scene

WORLDS = [0, 1, 2, 3]                    # one walk each: a scene each
SPS = "0.5"                              # --seconds-per-segment: 0.5 s scenes are 13 frames at 24 fps
PLACE = {"water": "across a lake", "sand": "along a sandy shore", "grass": "over green meadows",
         "forest": "through a forest", "rock": "over rocky slopes", "snow": "among snowy peaks"}
MOVE = {"walk": "walk", "run": "run", "turn": "turn_left", "look": "look_around", "stand": "stop"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A film of the worlds' walks, 13 frames each, and a classifier trained on those walks (~10 s)."""
    tmp = tmp_path_factory.mktemp("agreement")
    clips = reference_clips(WORLDS, clips_per_world=1, width=32, height=32, frames=13)
    model, _ = train_classifier(clips, ClassifierConfig(width=32, height=32, channels=(8, 16)), epochs=40, batch=4)
    save_classifier(model, tmp / "cls")
    film = write_film(tmp / "film.mp4", clips.frames.flatten(0, 1).numpy(), 24)
    truth = [{h: CLASSES[h][int(clips.labels[i, k])] for k, h in enumerate(HEADS)} for i in range(len(clips))]
    return tmp, film, truth


def board(path, labels: list[dict], seconds: float = 0.5):
    """A storyboard whose scene i says labels[i] in the reference world's words."""
    rows = [f'[[segment]]\ntext = "{PLACE[lab["biome"]]} at {lab["time_of_day"]}"\nseconds = {seconds}\n'
            f'camera = ["{MOVE[lab["action"]]}"]\n' for lab in labels]
    path.write_text("\n".join(rows))
    return path


def wrong(labels: dict) -> dict:
    """Another class for every head."""
    return {h: CLASSES[h][(CLASSES[h].index(labels[h]) + 1) % len(CLASSES[h])] for h in HEADS}


def score(cli, capsys, film, storyboard, classifier) -> dict:
    assert cli(["ttt", "agreement", str(film), str(storyboard), "--classifier", str(classifier),
                "--seconds-per-segment", SPS, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_scene_frames_follow_the_renderer():
    scenes = [Scene("a", 0.5), Scene("b", 1.0), Scene("c", 0.1)]
    assert scene_frames(scenes, 0.5, 24) == [13, 26, 13]          # as test_render_writes_the_film renders them
    assert scene_frames([Scene("a", 6.0), Scene("b", 4.0)], 3.0, 24) == [146, 73]


def test_true_captions_agree_at_least_as_well_as_wrong_ones(made, tmp_path, cli, capsys):
    tmp, film, truth = made
    right = score(cli, capsys, film, board(tmp_path / "right.toml", truth), tmp / "cls")
    other = score(cli, capsys, film, board(tmp_path / "wrong.toml", [wrong(t) for t in truth]), tmp / "cls")
    for result, labels in ((right, truth), (other, [wrong(t) for t in truth])):
        assert result["frames"] == [13] * len(WORLDS) and result["fps"] == 24.0
        assert len(result["per_segment"]) == len(result["predicted"]) == len(result["captions"]) == len(WORLDS)
        assert [labels_from_text(c) for c in result["captions"]] == labels     # the captions say what we meant
        assert all(set(seg) == set(HEADS) and set(seg.values()) <= {0.0, 1.0} for seg in result["per_segment"])
    assert right["predicted"] == other["predicted"]                            # the same film, read once each
    hits = 0
    for pred, t, r, o in zip(right["predicted"], truth, right["per_segment"], other["per_segment"]):
        for h in HEADS:
            assert r[h] == float(pred[h] == t[h])
            if pred[h] == t[h]:                     # read right: the true caption agrees, the wrong one not
                assert (r[h], o[h]) == (1.0, 0.0)
                hits += 1
    assert hits > 0                                  # the classifier read at least something right
    for h in HEADS:
        assert right["mean"][h] >= other["mean"][h], h


def test_without_a_classifier_the_shipped_one_judges(made, tmp_path, cli, capsys):
    tmp, film, truth = made
    assert cli(["ttt", "agreement", str(film), str(board(tmp_path / "b.toml", truth)), "--seconds-per-segment", SPS,
                "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["predicted"]) == len(WORLDS) and set(result["mean"]) == set(HEADS)


def test_the_table(made, tmp_path, cli, capsys):
    tmp, film, truth = made
    assert cli(["ttt", "agreement", str(film), str(board(tmp_path / "b.toml", truth)), "--classifier",
                str(tmp / "cls"), "--seconds-per-segment", SPS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{film}: 52 frames at 24 fps, 4 scenes")
    assert len(lines) == 2 + len(WORLDS) + 1 and lines[-1].split()[0] == "mean"
    assert lines[2].split()[0] == "1" and PLACE[truth[0]["biome"]] in lines[2]


def test_errors_are_one_line(made, tmp_path, cli, capsys):
    tmp, film, truth = made
    good = board(tmp_path / "good.toml", truth)
    longer = board(tmp_path / "longer.toml", truth + truth[:1])               # 65 frames said, 52 there
    # 2.25 s + 0.25 s at 0.25 s per segment: 45 + 5 frames said, 52 there (within a frame per scene),
    # so the last scene gets 7 frames, fewer than the classifier's 12
    short = tmp_path / "short.toml"
    short.write_text('[[segment]]\ntext = "a"\nseconds = 2.25\n[[segment]]\ntext = "b"\nseconds = 0.25\n')
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    cases = [
        ([str(tmp_path / "none.mp4"), str(good), "--classifier", str(tmp / "cls")], "no such film"),
        ([str(tmp_path / "junk.mp4"), str(good), "--classifier", str(tmp / "cls")], "not a readable video"),
        ([str(film), str(longer), "--classifier", str(tmp / "cls")], "52 frames, but its storyboard's 5 scenes make 65"),
        ([str(film), str(good), "--classifier", str(tmp_path / "nocls")], "no such classifier folder"),
        ([str(film), str(good), "--classifier", str(tmp_path)], "not a caption classifier"),
        ([str(film), str(tmp_path / "none.toml"), "--classifier", str(tmp / "cls")], "no such storyboard file"),
        ([str(film), str(short), "--classifier", str(tmp / "cls"), "--seconds-per-segment", "0.25"],
         "scene 2 ('b') is 7 frames; the classifier reads its first 12"),
    ]
    for argv, says in cases:
        argv = argv if "--seconds-per-segment" in argv else argv + ["--seconds-per-segment", SPS]
        assert cli(["ttt", "agreement", *argv]) == 2, says
        captured = capsys.readouterr()
        err = captured.err
        assert err.count("\n") == 1 and err.startswith("worldsim: error: ") and says in err, err
        assert "Traceback" not in err and captured.out == ""
