"""Shared test set-up: `gpu` tests skip without CUDA; `display` tests skip without a display."""
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
