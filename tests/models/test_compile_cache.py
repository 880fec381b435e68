"""Compiled graphs outlive the process: Inductor's caches go to ~/.cache/worldsim/inductor (torch's own default is
under /tmp, lost at a reboot) unless the user named a folder, and compiling the step points Inductor there."""
from __future__ import annotations

import os
from pathlib import Path

from worldsim.compile_cache import inductor_cache_dir, use_inductor_cache

from .test_generator import make_generator


def test_the_cache_is_under_the_users_cache_folder_unless_one_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "unset")      # recorded, so teardown restores what was there
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert inductor_cache_dir() == tmp_path / ".cache" / "worldsim" / "inductor"
    assert use_inductor_cache() == tmp_path / ".cache" / "worldsim" / "inductor"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / ".cache" / "worldsim" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert use_inductor_cache() == tmp_path / "mine" and inductor_cache_dir() == tmp_path / "mine"


def test_compiling_the_step_points_inductor_at_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "unset")      # recorded, so teardown restores what was there
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    make_generator().compile_step(backend="eager")
    assert Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) == tmp_path / ".cache" / "worldsim" / "inductor"
