"""scripts/walk_strip.py: the README's strip puts each moment's reference half above its model half."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("walk_strip", ROOT / "scripts" / "walk_strip.py")
walk_strip = importlib.util.module_from_spec(spec)
spec.loader.exec_module(walk_strip)


def test_each_column_is_one_moment_reference_above_model():
    video = np.zeros((50, 4, 8, 3), np.uint8)                 # 50 frames of 4x8: left half 10 + i, right half 100 + i
    for i in range(50):
        video[i, :, :4], video[i, :, 4:] = 10 + i, 100 + i
    out = walk_strip.strip(video, fps=10, moments=(0, 1, 2.5, 60))
    assert out.shape == (8, 16, 3)
    for col, frame in enumerate((0, 10, 25, 49)):            # 60 s is past the end: the last frame
        block = out[:, col * 4:(col + 1) * 4]
        assert (block[:4] == 10 + frame).all() and (block[4:] == 100 + frame).all()


def test_a_missing_video_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["walk_strip.py", str(tmp_path / "none.mp4"), str(tmp_path / "s.jpg")])
    assert walk_strip.main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("walk_strip: no video at") and "\n" not in err
