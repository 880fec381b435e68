"""Test helpers for control authors: register a control without installing a package.

    from worldsim.controls.testing import registered_control, control_registry   # noqa: F401

    def test_my_control(control_registry):
        control_registry(MY_CONTROL)            # registered for this test only
        builder = PacketBuilder(["orbit"])

    with registered_control(MY_CONTROL):        # outside pytest
        ...

Both restore whatever was registered under that name before.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from . import registry


@contextmanager
def registered_control(control: Any, name: str | None = None) -> Iterator[Any]:
    key = name or control.name
    previous = registry._local.get(key)
    registry.register_control(control, key)
    try:
        yield control
    finally:
        if previous is None:
            registry.unregister_control(key)
        else:
            registry._local[key] = previous


@pytest.fixture
def control_registry():
    """Call it with a Control (and optionally a name) to register it for the current test."""
    stack: list = []

    def register(control: Any, name: str | None = None) -> Any:
        cm = registered_control(control, name)
        stack.append(cm)
        return cm.__enter__()

    yield register
    while stack:
        stack.pop().__exit__(None, None, None)
