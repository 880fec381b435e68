"""`worldsim ttt consistency FILM STORYBOARD`: real mp4s of reference-world walks, where a revisit is
another walk through the same world seed (another spawn point and heading: the same place, not the
same frames), against the same film with the revisits replaced by walks through worlds not in it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from worldsim_ttt.consistency import MEASURES, consistency, revisits
from worldsim_ttt.render import write_film
from worldsim_ttt.storyboard import Scene, load_storyboard

SPS = "0.5"                                          # 0.5 s scenes: 13 frames at 24 fps
PLACES = [0, 1, 2, 0, 3, 1]                          # world seed per scene: scene 4 revisits 1, scene 6 revisits 2
WALKS = [(0, 0), (1, 1009), (2, 2018), (0, 1), (3, 3027), (1, 1010)]
ELSEWHERE = {3: (6, 6054), 5: (7, 7063)}             # the revisits' walks replaced by worlds 6 and 7


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """The true film, the one with its revisits replaced, and the storyboard both were 'rendered' from (~5 s)."""
    from worldsim.worlds.dataset import camera_clips

    tmp = tmp_path_factory.mktemp("consistency")
    walks = WALKS + list(ELSEWHERE.values())
    clips = {walk: clip.frames.numpy() for walk, clip in zip(walks, camera_clips(walks, 13, 32, 32, "cpu"))}
    true = write_film(tmp / "true.mp4", np.concatenate([clips[w] for w in WALKS]), 24)
    other = [ELSEWHERE.get(i, w) for i, w in enumerate(WALKS)]
    replaced = write_film(tmp / "replaced.mp4", np.concatenate([clips[w] for w in other]), 24)
    board = tmp / "board.toml"
    board.write_text("\n".join(f'[[segment]]\ntext = "place {p}"\nseconds = 0.5\nplace = "p{p}"\n' for p in PLACES))
    return true, replaced, board


def measure(cli, capsys, film, board) -> dict:
    assert cli(["ttt", "consistency", str(film), str(board), "--seconds-per-segment", SPS, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_revisits_pair_each_later_scene_with_its_earlier_visits():
    scenes = [Scene("a", 1, place="x"), Scene("b", 1), Scene("c", 1, place="x"), Scene("d", 1, place="y"),
              Scene("e", 1, place="x")]
    assert revisits(scenes) == [(0, 2), (0, 4), (2, 4)]
    assert revisits([Scene("a", 1), Scene("b", 1)]) == []           # no place: no claim of one
    assert revisits([Scene("a", 1, seed=3), Scene("b", 1, seed=3)]) == []   # a shared seed is shared noise, not a place


def test_a_revisit_is_closer_to_its_place_than_to_the_others(films, cli, capsys):
    true, replaced, board = films
    right, moved = measure(cli, capsys, true, board), measure(cli, capsys, replaced, board)
    for r in (right, moved):
        assert r["frames"] == [13] * 6 and r["fps"] == 24.0 and r["measures"] == list(MEASURES)
        assert [(p["earlier"], p["revisit"], p["place"]) for p in r["pairs"]] == [(1, 4, "p0"), (2, 6, "p1")]
        assert all(p["other_scenes"] == 4 for p in r["pairs"])       # 6 scenes: not its own place's 2
    hist = "histogram"
    assert all(p["gap"][hist] > 0.2 for p in right["pairs"])          # each revisit: its own place's colours
    assert right["mean"]["gap"][hist] > 0.3
    # revisits replaced by other places: the gap shrinks to a quarter or less (one stand-in, world 6,
    # happens to share colours with world 0, so it does not vanish on every pair)
    assert moved["mean"]["gap"][hist] < right["mean"]["gap"][hist] / 4
    assert min(p["gap"][hist] for p in moved["pairs"]) < 0
    assert moved["pairs"][1]["gap"][hist] < right["pairs"][1]["gap"][hist]
    # the baseline is read off the same other scenes' frames with the same measure
    assert right["mean"]["non_revisit"][hist] < right["mean"]["revisit"][hist]


def test_the_measure_is_deterministic_and_identical_frames_are_the_same_place():
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8) for _ in range(2))
    scenes = [Scene("a", 1, place="1"), Scene("b", 1, place="2"), Scene("a again", 1, place="1")]
    r = consistency([a, b, a.copy()], scenes)
    assert r == consistency([a, b, a.copy()], scenes)
    assert r["pairs"][0]["same_place"] == {"histogram": 1.0, "psnr_db": 99.0}


def test_the_table(films, cli, capsys):
    true, _, board = films
    assert cli(["ttt", "consistency", str(true), str(board), "--seconds-per-segment", SPS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{true}: 78 frames at 24 fps, 6 scenes, 2 revisits")
    assert len(lines) == 2 + 2 + 1 and lines[2].split()[:3] == ["1", "4", "p0"] and lines[-1].split()[0] == "mean"


def test_the_example_storyboard_has_revisits():
    from pathlib import Path

    from worldsim_ttt.storyboard import scene_parts

    scenes = load_storyboard(Path(__file__).parents[1] / "examples" / "lakeside_return.toml")
    assert len(scenes) >= 8 and sum(scene_parts(scenes, 3.0)) * 3 >= 30
    assert len({scenes[b].place for _, b in revisits(scenes)}) >= 2
    seeds = [s.seed for s in scenes if s.seed is not None]
    assert len(seeds) == len(set(seeds))                         # a revisit does not reuse its visit's noise


def test_errors_are_one_line(films, tmp_path, cli, capsys):
    true, _, board = films
    plain = tmp_path / "plain.toml"
    plain.write_text('[[segment]]\ntext = "a"\nseconds = 0.5\nplace = "x"\n[[segment]]\ntext = "b"\nseconds = 0.5\n')
    longer = tmp_path / "longer.toml"
    longer.write_text(board.read_text() + '[[segment]]\ntext = "more"\nseconds = 0.5\nplace = "p0"\n')
    alone = tmp_path / "alone.toml"
    alone.write_text("\n".join('[[segment]]\ntext = "here"\nseconds = 1.5\nplace = "x"\n' for _ in range(2)))
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    cases = [
        ([str(tmp_path / "none.mp4"), str(board)], "no such film"),
        ([str(tmp_path / "junk.mp4"), str(board)], "not a readable video"),
        ([str(true), str(plain)], "no scene revisits an earlier one"),
        ([str(true), str(longer)], "78 frames, but its storyboard's 7 scenes make 91"),
        ([str(true), str(tmp_path / "none.toml")], "no such storyboard file"),
        ([str(true), str(alone)], "every scene shows the same place"),
    ]
    for argv, says in cases:
        assert cli(["ttt", "consistency", *argv, "--seconds-per-segment", SPS]) == 2, says
        captured = capsys.readouterr()
        err = captured.err
        assert err.count("\n") == 1 and err.startswith("worldsim: error: ") and says in err, err
        assert "Traceback" not in err and captured.out == ""
