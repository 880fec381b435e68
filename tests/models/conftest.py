"""Model tests use tiny tensors: one intra-op thread is as fast and immune to a busy machine
(two spinning OpenMP threads on a loaded 2-core box make each small op ~20x slower)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
