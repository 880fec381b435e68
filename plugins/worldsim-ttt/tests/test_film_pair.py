"""scripts/film_pair.py: the quality pair's table, on real mp4s of reference-world walks: run A's film revisits its
places, run B's has the revisits replaced by walks through other worlds, so A's consistency gap must be the larger."""
from __future__ import annotations

import numpy as np

from worldsim_ttt.render import write_film

PLACES = [0, 1, 2, 0, 3, 1]                              # world seed per scene (test_consistency.py's film)
WALKS = [(0, 0), (1, 1009), (2, 2018), (0, 1), (3, 3027), (1, 1010)]
ELSEWHERE = {3: (6, 6054), 5: (7, 7063)}                 # B's revisits: worlds not in the film



def test_a_row_per_storyboard_and_run_and_the_revisiting_film_is_more_consistent(tmp_path, capsys, script):
    from worldsim.worlds.dataset import camera_clips

    walks = WALKS + list(ELSEWHERE.values())
    clips = {walk: clip.frames.numpy() for walk, clip in zip(walks, camera_clips(walks, 13, 32, 32, "cpu"))}
    board = tmp_path / "walk.toml"
    board.write_text("\n".join(f'[[segment]]\ntext = "through a forest at dawn"\nseconds = 0.5\nplace = "p{p}"\n'
                               for p in PLACES))
    for run, walks_of_run in (("a", WALKS), ("b", [ELSEWHERE.get(i, w) for i, w in enumerate(WALKS)])):
        (tmp_path / run).mkdir()
        write_film(tmp_path / run / "walk.mp4", np.concatenate([clips[w] for w in walks_of_run]), 24)
    pair = script("film_pair")
    assert pair.main([str(tmp_path / "a"), str(tmp_path / "b"), "--labels", "revisits", "elsewhere",
                      "--storyboards", str(board), "--seconds-per-segment", "0.5"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split(" | ")[:2] for r in rows[2:]] == [["| walk", "revisits"], ["| walk", "elsewhere"],
                                                     ["| all scenes", "revisits"], ["| all scenes", "elsewhere"]]
    # every scene names a biome (forest) and a time of day (dawn); no action: n/a
    assert all(r.split(" | ")[k].split("/")[1].startswith("6 (") for r in rows[2:] for k in (2, 3))
    assert rows[2].split(" | ")[4] == "n/a"
    gaps = [float(r.split(" | ")[5].split(" / ")[0]) for r in rows[2:4]]
    assert gaps[0] > gaps[1]                             # the revisit looks like its place only in film a


def test_a_missing_run_is_one_line(tmp_path, capsys, script):
    assert script("film_pair").main([str(tmp_path / "none"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder of films" in err
