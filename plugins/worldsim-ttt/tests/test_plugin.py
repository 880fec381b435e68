"""The plugin is discoverable through its entry point and describes itself without heavy imports."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import worldsim_ttt
import worldsim_ttt.plugin
from worldsim_ttt.plugin import available_backends


def test_entry_point_adds_the_ttt_commands():
    import argparse
    import tomllib
    from pathlib import Path

    from worldsim.plugins import call_plugin, load_ref

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    ref = pyproject["project"]["entry-points"]["worldsim.plugins"]["ttt"]
    sub = argparse.ArgumentParser().add_subparsers()
    call_plugin(load_ref(ref), sub)                       # as worldsim's CLI calls it
    assert "ttt" in sub.choices
    renderers = pyproject["project"]["entry-points"]["worldsim.renderers"]
    assert renderers == {"ttt-film": "worldsim_ttt.film_renderer:FilmRenderer"}
    info = worldsim_ttt.plugin.describe()
    assert info["version"] == worldsim_ttt.__version__ == metadata.version("worldsim-ttt")
    assert info["renderers"] == list(renderers.values())
    for ref in info["ops"] + info["modules"] + info["renderers"]:
        module, attr = ref.split(":")
        assert callable(getattr(__import__(module, fromlist=[attr]), attr))


def test_the_installed_renderer_entry_is_only_ttt_film():
    """An install from before `ttt-film` has none; a current one exactly the pyproject's."""
    ours = {ep.name: ep.value for ep in metadata.entry_points(group="worldsim.renderers")
            if ep.value.startswith("worldsim_ttt")}
    assert ours in ({}, {"ttt-film": "worldsim_ttt.film_renderer:FilmRenderer"})


def test_module_main_prints_backends():
    out = subprocess.run([sys.executable, "-m", "worldsim_ttt"], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    assert info["name"] == "ttt" and info["backends_here"] == available_backends()
    assert "torch" in info["backends_here"]


def test_the_module_command_honours_help(capsys):
    import pytest
    from worldsim_ttt.__main__ import main
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m worldsim_ttt") and "backends_here" not in out
