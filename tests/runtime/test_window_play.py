"""`worldsim play` in a real pygame/OpenGL window under Xvfb, driven by real key presses (xdotool).

The screenshots taken with the screenshot key must show the picture moving the way the player
turned: holding Right slides the world left, holding Left slides it right.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.display,
              pytest.mark.skipif(shutil.which("xdotool") is None, reason="needs xdotool")]


def horizontal_shift(a: np.ndarray, b: np.ndarray) -> int:
    """How far (pixels, + = right) the content of `a` moved to reach `b`: the shift with the
    smallest mean difference over the overlap, searched up to half the width."""
    ga, gb = a.mean(-1), b.mean(-1)
    w = ga.shape[1]
    errors = {}
    for s in range(-w // 2, w // 2 + 1):
        lo, hi = max(0, s), w + min(0, s)
        errors[s] = np.abs(gb[:, lo:hi] - ga[:, lo - s:hi - s]).mean()
    return min(errors, key=errors.get)


def load_png(path: Path) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], check=True, capture_output=True, text=True, timeout=20).stdout


def find_window(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worldsim play exited early:\n{proc.stderr.read()}")
        found = subprocess.run(["xdotool", "search", "--pid", str(proc.pid)], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.split()[0]
        time.sleep(0.2)
    pytest.fail("the worldsim window never appeared")


def hold(window: str, key: str, seconds: float) -> None:
    xdotool("keydown", key)                         # XTEST: real key events, not XSendEvent
    time.sleep(seconds)
    xdotool("keyup", key)


def screenshot(window: str, folder: Path, count: int) -> np.ndarray:
    xdotool("key", "F12")
    path = folder / f"shot-{count}.png"
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)                                   # let the PNG writer finish
    image = load_png(path)
    h, w, _ = image.shape
    return image[h // 4: h // 2, :]                   # sky band: below the HUD, above the ground


@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["worker", "in-process"])
def test_key_presses_turn_the_view(tmp_path, mode):
    stats = tmp_path / "stats.json"
    cmd = [sys.executable, "-m", "worldsim.cli", "play", "--renderer", "testpattern", "--size", "320x192",
           "--window", "640x384", "--screenshot", str(tmp_path / "shot.png"), "--stats", str(stats), *mode]
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        window = find_window(proc)
        xdotool("windowfocus", "--sync", window)   # no window manager under Xvfb: focus directly
        time.sleep(1.0)
        still = screenshot(window, tmp_path, 1)
        hold(window, "Right", 0.4)
        time.sleep(0.5)
        after_right = screenshot(window, tmp_path, 2)
        hold(window, "Left", 0.4)
        time.sleep(0.5)
        after_left = screenshot(window, tmp_path, 3)
        xdotool("key", "Escape")
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    right_shift = horizontal_shift(still, after_right)
    left_shift = horizontal_shift(after_right, after_left)
    assert right_shift < -20, f"turning right should slide the picture left, moved {right_shift:+.0f} px"
    assert left_shift > 20, f"turning left should slide the picture right, moved {left_shift:+.0f} px"
    summary = json.loads(stats.read_text())
    assert summary["frames_shown"] > 24 and summary["display_fps"] > 5
    assert (tmp_path / "shot.png").exists()          # the last screen, saved at exit
