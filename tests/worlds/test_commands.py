"""`worldsim world render | export` from the command line."""
from __future__ import annotations

from PIL import Image

from worldsim.cli import main
from worldsim.worlds.shards import iter_shards, read_video


def test_render_mp4_and_png(tmp_path, capsys):
    mp4, png = tmp_path / "walk.mp4", tmp_path / "strip.png"
    assert main(["world", "render", "--seed", "2", "--frames", "5", "--size", "16x16", "--no-compile",
                 "--out", str(mp4)]) == 0
    assert read_video(mp4).shape == (5, 16, 16, 3)
    assert main(["world", "render", "--seed", "2", "--frames", "5", "--size", "16x16", "--no-compile",
                 "--out", str(png)]) == 0
    assert Image.open(png).size == (4 * 16, 16)                       # 4 frames side by side
    assert "walk.mp4: 5 frames 16x16;" in capsys.readouterr().out


def test_export_then_read_back(tmp_path):
    out = tmp_path / "data"
    assert main(["world", "export", "--clips", "3", "--frames", "4", "--size", "16x16", "--no-compile",
                 "--clips-per-shard", "2", "--out", str(out)]) == 0
    clips = list(iter_shards(out))
    assert len(clips) == 3 and all(c.frames.shape == (4, 16, 16, 3) for c in clips)


def test_bad_options_are_user_errors(tmp_path, capsys):
    assert main(["world", "render", "--size", "30x16", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "multiples of 8" in capsys.readouterr().err
    assert main(["world", "render", "--frames", "2", "--size", "16x16", "--out", str(tmp_path / "x.gif")]) == 2
    assert main(["world", "export", "--clips", "0", "--out", str(tmp_path)]) == 2
