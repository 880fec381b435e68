"""docs/getting-started.md, run as written: its ```python blocks saved under the name on their first
line, its ```bash blocks run in order in one shell (the install line aside: this suite runs in an
installed environment; it must be README's set-up), in a fresh folder holding the clone's examples/."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "getting-started.md"

pytestmark = pytest.mark.display             # step 2 opens a real window (Xvfb in CI)


def blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(bash|python)\n(.*?)```", text, flags=re.S)


def test_the_install_line_is_readmes_set_up():
    install = blocks(PAGE.read_text())[0]
    readme = re.search(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S).group(1)
    assert install[0] == "bash" and readme.startswith(install[1].strip() + " && "), (install, readme)


def test_getting_started_runs_as_written(tmp_path):
    (install_kind, _), *rest = blocks(PAGE.read_text())
    script = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for kind, body in rest:
        if kind == "python":
            name = body.splitlines()[0].removeprefix("# ").strip()
            assert name.endswith(".py"), f"a python block starts with '# NAME.py', not {name!r}"
            (tmp_path / name).write_text(body)
        else:
            script.append(body)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "SDL_AUDIODRIVER": "dummy"}       # this checkout's worldsim
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    plays = [json.loads(line) for line in done.stderr.splitlines() if line.startswith('{"renderer"')]
    assert len(plays) == 3, done.stderr                              # window, recording, remote
    window, recording, remote = plays
    assert window["renderer"] == "aapt" and window["frames_shown"] > 12, window       # a window played
    assert remote["frames_shown"] > 12, remote

    from PIL import Image
    screen = np.asarray(Image.open(tmp_path / "last.png").convert("RGB"))
    assert screen.shape[0] >= 128 and screen.std() > 10               # the window's last screen, not blank
    from worldsim.render.video import read_video
    video = read_video(tmp_path / "walk.mp4")
    assert video.shape == (25, 128, 128, 3) and video.std() > 10 and recording["frames_dropped"] == 0
    assert "25/25 frames identical" in done.stdout, done.stdout      # replay
    assert re.search(r"aapt 128 128 24\.0\nlast step: \(4, 128, 128, 3\)", done.stdout), done.stdout
    assert "identical after restore: True" in done.stdout, done.stdout
