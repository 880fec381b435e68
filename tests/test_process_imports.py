"""What each process imports: the worker never loads the window (pygame, moderngl) or the CLI;
the game process, when a worker renders, never loads torch.

The processes are real: a game process spawns its private worker, steps it and shuts it down;
a sitecustomize on PYTHONPATH makes every Python process of the run (the game and the worker)
write the modules it ended with, at exit.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WINDOW_AND_CLI = ("pygame", "moderngl", "glcontext", "worldsim.cli", "worldsim.render.display")

SITECUSTOMIZE = """
import atexit, json, os, sys
def _dump():
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    role = spec.name if spec is not None else "game"
    with open(os.path.join(os.environ["WORLDSIM_MODULES_OUT"], f"{role}-{os.getpid()}.json"), "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(_dump)
"""


def run_and_collect(tmp_path: Path, code: str) -> dict[str, set[str]]:
    """Run `code` as the game process; {"game": modules, "worldsim.runtime.serve_main": modules}."""
    hook, out = tmp_path / "hook", tmp_path / "modules"
    hook.mkdir(), out.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, WORLDSIM_MODULES_OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(hook), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    game = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, stderr = game.communicate(timeout=120)
    assert game.returncode == 0, stderr[-2000:]
    dumps = {path.stem: set(json.loads(path.read_text())) for path in out.glob("*.json")}
    workers = [m for name, m in dumps.items() if name.startswith("worldsim.runtime.serve_main-")]
    assert f"game-{game.pid}" in dumps and len(workers) == 1, f"dumps: {sorted(dumps)}; {stderr[-2000:]}"
    return {"game": dumps[f"game-{game.pid}"], "worldsim.runtime.serve_main": workers[0]}


def loaded(modules: set[str], names) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_the_sdk_game_process_never_imports_torch_and_its_worker_no_window_or_cli(tmp_path):
    modules = run_and_collect(tmp_path, (
        "import worldsim\n"
        "with worldsim.open('testpattern', size=(64, 48)) as world:\n"
        "    for _ in range(3): frames = world.step({'move_forward': 1.0, 'look_dx': 2.0})\n"
        "assert frames.shape == (4, 48, 64, 3)\n"))
    worker = modules["worldsim.runtime.serve_main"]
    assert "worldsim.runtime.testpattern" in worker                  # it did render
    assert loaded(worker, WINDOW_AND_CLI) == []
    game = modules["game"]
    assert "worldsim.runtime.client" in game
    assert loaded(game, ("torch", "worldsim.controls.encoding", "worldsim.models.renderer")) == []


def test_worldsim_play_with_a_worker_keeps_torch_out_of_the_game_process(tmp_path):
    pytest.importorskip("pygame")
    modules = run_and_collect(tmp_path, (
        "import os, sys\n"
        "os.environ['SDL_VIDEODRIVER'] = 'dummy'\n"
        "from worldsim.cli import main\n"
        "sys.exit(main(['play', '--headless', '--renderer', 'testpattern', '--size', '64x48', '--ticks', '9', '--fast']))\n"))
    assert loaded(modules["game"], ("torch",)) == []
    assert "worldsim.cli" in modules["game"]
    assert loaded(modules["worldsim.runtime.serve_main"], WINDOW_AND_CLI) == []


def test_the_worker_modules_of_every_builtin_renderer_import_no_window_or_cli():
    code = ("import sys, worldsim.runtime.serve_main, worldsim.runtime.worker, worldsim.models.renderer, "
            "worldsim.worlds.renderer, worldsim.runtime.split; "
            f"print([m for m in {WINDOW_AND_CLI!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
