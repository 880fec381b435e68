"""The examples in examples/ run as documented: each as a subprocess with a small argument set,
checked on what it really produced (files, printed figures), not only its exit code."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_example(name, *args, cwd=None, check=True, **env):
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}        # this checkout's worldsim
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True,
                          text=True, timeout=180, cwd=cwd, env=environ)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_every_example_is_short_documented_and_tested():
    source = Path(__file__).read_text()
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) < 100, path.name
        assert text.startswith('"""') and f"python examples/{path.name}" in text, path.name
        assert f'"{path.name}"' in source, f"{path.name} has no test here"


def test_embed_example_renders_through_a_worker(tmp_path):
    out = tmp_path / "last.png"
    done = run_example("embed_in_your_game.py", "--frames", "9", "--out", out)
    assert "9 frames rendered" in done.stdout
    from PIL import Image
    image = np.asarray(Image.open(out))
    assert image.shape == (416, 736, 3) and image.std() > 10      # a real picture, not a blank


def test_embed_example_draws_its_hud_over_the_frames_in_its_window(tmp_path):
    out = tmp_path / "hud.png"
    done = run_example("embed_in_your_game.py", "--ticks", "9", "--screenshot", out, SDL_VIDEODRIVER="dummy")
    assert re.search(r"9 frames shown; HUD 'step 3 .* fps", done.stdout), done.stdout
    from PIL import Image
    window = np.asarray(Image.open(out).convert("RGB")).astype(int)
    bar, below = window[:26], window[30:60]
    assert window.shape == (416, 736, 3)
    assert (bar.min(axis=2) > 200).sum() > 50                      # white HUD text ...
    assert np.median(bar) < np.median(below) * 0.6                # ... on a dark bar over the frame


def test_remote_play_example_starts_a_server_and_plays_on_it():
    done = run_example("remote_play.py", "--renderer", "testpattern", "--size", "64x48", "--steps", "4")
    assert re.search(r"connected to tcp://127\.0\.0\.1:\d+: testpattern 64x48, worker worldsim-worker pid \d+",
                     done.stdout), done.stdout
    assert "4 steps, 13 frames" in done.stdout                     # 1 + 3 x 4


def test_custom_control_example_checks_builds_and_encodes():
    done = run_example("custom_control.py", "--ticks", "24")
    assert "check_control: ok" in done.stdout
    assert "heading 90.0 deg" in done.stdout                        # 24 frames at 90 deg/s, 24 fps
    assert "encoded (33, 8, 8) (compass 8 + camera 25 channels)" in done.stdout


def test_custom_renderer_example_registers_in_code_and_plays(tmp_path):
    out = tmp_path / "stripes.png"
    done = run_example("custom_renderer.py", "--out", out, "--steps", "5")
    assert "check_renderer: ok" in done.stdout and "stripes" in done.stdout.split("renderers:")[1].split("\n")[0]
    changed = int(re.search(r"(\d+)% of the pixels changed", done.stdout).group(1))
    assert changed > 20                                            # the stripes slid as the camera turned
    from PIL import Image
    assert np.asarray(Image.open(out)).shape == (64, 96, 3)


def test_gamepad_example_with_simulated_stick_events_walks():
    done = run_example("gamepad.py", "--simulate", "--size", "32x24", "--steps", "7")
    rows = re.findall(r"left stick y ([+-][\d.]+), right stick x ([+-][\d.]+) -> camera x=([+-][\d.]+) "
                      r"z=([+-][\d.]+)", done.stdout)
    assert len(rows) == 7, done.stdout
    sticks = [(float(a), float(b)) for a, b, _, _ in rows]
    assert all(y > 0.8 for y, _ in sticks)                          # -0.9 on axis 1: inverted, past the deadzone
    assert [x > 0 for _, x in sticks] == [False, False, True, True, True, False, False]
    z = [float(r[3]) for r in rows]
    assert all(b < a for a, b in zip(z, z[1:])) and float(rows[-1][2]) > 0.1   # walked forward, turned right


def test_gamepad_example_without_a_pad_says_so_in_one_line():
    done = run_example("gamepad.py", check=False, SDL_JOYSTICK_DEVICE="/nonexistent")
    if "step 0" in done.stdout:
        pytest.skip("this machine has a gamepad")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == ("gamepad.py: no gamepad found: plug one in (pygame sees none), "
                                                   "or run with --simulate")


def test_snapshot_example_rewinds_to_identical_frames(tmp_path):
    snap = tmp_path / "here.safetensors"
    done = run_example("snapshot_rewind.py", "--size", "32x24", "--steps", "3", "--save", snap)
    assert "rewound 3 steps: 3/3 steps gave identical frames" in done.stdout
    assert f"from {snap}: identical True" in done.stdout and snap.stat().st_size > 0


@pytest.mark.parametrize("envs", [1, 3])
def test_gym_random_agent_example(envs):
    pytest.importorskip("gymnasium")
    done = run_example("gym_random_agent.py", "--size", "32x24", "--envs", envs, "--episodes", "2", "--steps", "3")
    if envs == 1:
        returns = [float(r) for r in re.findall(r"episode \d: 3 steps, return ([\d.]+)", done.stdout)]
        assert len(returns) == 2 and all(0 < r < 3 for r in returns), done.stdout
    else:
        m = re.search(r"3 envs x 3 steps on one worker: observations \(3, 24, 32, 3\), batch sizes \[([\d, ]+)\]",
                      done.stdout)
        assert m and all(1 <= int(b) <= 3 for b in m.group(1).split(",")), done.stdout


def test_record_example_writes_a_real_mp4(tmp_path):
    out = tmp_path / "walk.mp4"
    done = run_example("record_mp4.py", "--out", out, "--size", "32x24", "--steps", "5")
    assert "walk.mp4: 17 frames of 32x24 at 24 fps" in done.stdout          # 1 + 4 x 4
    from worldsim.render.video import read_video
    video = read_video(out)
    assert video.shape == (17, 24, 32, 3) and video.std() > 5
    assert out.with_suffix(".ctl.msgpack").stat().st_size > 0


def test_train_tiny_example_trains_on_engine_frames_and_steps_the_checkpoint(tmp_path):
    done = run_example("train_tiny.py", "--out", tmp_path / "run", "--steps", "3", "--clips", "2")
    assert "bank: 2 clips of 9 frames, controls (2, 3, 25, 4, 4)" in done.stdout
    for stage in ("vae", "adapt"):
        losses = [float(v) for v in re.findall(rf"{stage} step +\d+ +loss ([\d.]+)", done.stdout)]
        assert len(losses) == 3 and all(np.isfinite(losses)), done.stdout
    assert re.search(r"adapt/model steps: \[\(1, 32, 32, 3\), \(4, 32, 32, 3\), \(4, 32, 32, 3\)\]", done.stdout)
    from worldsim.models.checkpoint import read_config
    assert read_config(tmp_path / "run" / "adapt" / "model")["controls"]["camera"]["kind"] == "od"
