"""scripts/film_strip.py: a captioned frame per model segment, rows of films of one storyboard."""
from __future__ import annotations

import numpy as np

from worldsim_ttt.render import write_film
from worldsim_ttt.storyboard import load_storyboard

BOARD = """
[[segment]]
text = "through a pine forest at dawn"
seconds = 0.5
place = "forest"
[[segment]]
text = "over golden meadows at noon"
seconds = 1.0
"""



def test_one_captioned_frame_per_segment(tmp_path, capsys, script):
    from PIL import Image

    strip = script("film_strip")
    board = tmp_path / "board.toml"
    board.write_text(BOARD)
    # 3 model segments of 0.5 s at 24 fps, 13 frames each: segment k is grey level 60 k
    frames = np.concatenate([np.full((13, 32, 32, 3), 60 * k + 30, np.uint8) for k in range(3)])
    write_film(tmp_path / "a.mp4", frames, 24)
    write_film(tmp_path / "b.mp4", 255 - frames, 24)
    scenes = load_storyboard(board)
    picked = strip.segment_frames(str(tmp_path / "a.mp4"), scenes, 0.5, 0.5)
    assert np.allclose([f.mean() for f in picked], [30, 90, 150], atol=3)     # one frame from each segment (codec)
    assert strip.segment_captions(scenes, 0.5) == ["1 [forest]\nthrough a pine forest at dawn",
                                                   "2 (1/2)\nover golden meadows at noon",
                                                   "3 (2/2)\nover golden meadows at noon"]
    out = tmp_path / "strip.png"
    assert strip.main([str(tmp_path / "a.mp4"), str(board), "-o", str(out), "--seconds-per-segment", "0.5",
                       "--row", f"other={tmp_path / 'b.mp4'}", "--label", "first", "--columns", "2"]) == 0
    img = Image.open(out)
    assert img.mode == "P" and img.width > 2 * 32 and img.height > 2 * 2 * 32      # 2 bands of 2 rows
    assert "3 segments x 2 rows" in capsys.readouterr().out


def test_mistakes_are_one_line_errors(tmp_path, capsys, script):
    strip = script("film_strip")
    board = tmp_path / "board.toml"
    board.write_text(BOARD)
    assert strip.main([str(tmp_path / "missing.mp4"), str(board), "-o", str(tmp_path / "s.png")]) == 2
    assert strip.main([str(tmp_path / "missing.mp4"), str(board), "-o", str(tmp_path / "s.jpg")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "no such film" in err[0] and ".png" in err[1]
