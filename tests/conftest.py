"""Shared test set-up: `gpu` tests skip without CUDA; `display` tests skip without a display; a live
tiny checkpoint."""
from __future__ import annotations

import os

import pytest


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    cuda = _has_cuda()
    display = bool(os.environ.get("DISPLAY"))
    for item in items:
        if "gpu" in item.keywords and not cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
        if "display" in item.keywords and not display:
            item.add_marker(pytest.mark.skip(reason="needs a display (run under xvfb-run)"))


@pytest.fixture(scope="session")
def live_tiny_checkpoint(tmp_path_factory) -> str:
    """A saved `tiny` aapt checkpoint (camera controls) with every path live (zero_init=False): the
    preset's own initialisation zeroes the output layer, so its frames ignore prompts and ranks."""
    from worldsim.config import model_preset, replace_generator
    from worldsim.controls.encoding import control_channels
    from worldsim.models.checkpoint import save_checkpoint
    from worldsim.models.model import build_model
    from worldsim.models.renderer import DEFAULT_CONTROLS
    cfg = replace_generator(model_preset("tiny"), control_channels=control_channels(["camera"], DEFAULT_CONTROLS))
    model = build_model(cfg, seed=3, zero_init=False)
    return str(save_checkpoint(model, tmp_path_factory.mktemp("live") / "ckpt", controls=DEFAULT_CONTROLS))
