"""The plugin is discoverable through its entry point and describes itself without heavy imports."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import worldsim_ttt
from worldsim_ttt.plugin import available_backends


def test_entry_point_loads_the_description():
    eps = {ep.name: ep for ep in metadata.entry_points(group="worldsim.plugins")}
    assert "ttt" in eps, "install the plugin: pip install -e plugins/worldsim-ttt"
    info = eps["ttt"].load()()
    assert info["version"] == worldsim_ttt.__version__ == metadata.version("worldsim-ttt")
    assert info["renderers"] == []
    for ref in info["ops"] + info["modules"]:
        module, attr = ref.split(":")
        assert callable(getattr(__import__(module, fromlist=[attr]), attr))


def test_no_fake_renderer_is_registered():
    names = [ep.value for ep in metadata.entry_points(group="worldsim.renderers")]
    assert not any(v.startswith("worldsim_ttt") for v in names)


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
