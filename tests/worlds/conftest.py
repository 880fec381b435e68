"""World tests render with one CPU thread: on a small shared CPU a second OpenMP thread makes the
ray-marcher's many small ops far slower whenever the other core is busy."""
from __future__ import annotations

import pytest

from worldsim.worlds.world import cpu_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with cpu_threads(1):
        yield
