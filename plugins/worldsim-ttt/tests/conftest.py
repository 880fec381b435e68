"""The plugin's tests run on their own too (`pytest plugins/worldsim-ttt/tests`): `gpu` tests skip without CUDA."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's worldsim_ttt, no install needed


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CUDA (skipped without it)")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture
def cli():
    """worldsim's `main` with this checkout's `worldsim ttt` commands."""
    from worldsim.cli import main
    from worldsim.plugins import plugins
    from worldsim.testing import registered

    with registered(plugins, "ttt", "worldsim_ttt.plugin:register"):     # as the pyproject's entry point
        yield main


@pytest.fixture
def script():
    """A module of the plugin's scripts/ folder by name (they are no package), loaded from its file."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
