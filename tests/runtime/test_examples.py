"""The examples in examples/ run as documented."""
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_embed_example_renders_through_a_worker(tmp_path):
    out = tmp_path / "last.png"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "embed_in_your_game.py"), "--frames", "9",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "9 frames rendered" in done.stdout
    from PIL import Image
    image = np.asarray(Image.open(out))
    assert image.shape == (416, 736, 3) and image.std() > 10      # a real picture, not a blank
