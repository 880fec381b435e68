"""Test helpers for control authors: register a control without installing a package.

    from worldsim.controls.testing import registered_control, control_registry   # noqa: F401

    def test_my_control(control_registry):
        control_registry(MY_CONTROL)            # registered for this test only
        builder = PacketBuilder(["orbit"])

    with registered_control(MY_CONTROL):        # outside pytest
        ...

Both restore whatever was registered under that name before (renderers: worldsim.testing).
"""
from __future__ import annotations

from typing import Any

import pytest

from ..plugins import controls
from ..testing import _Stack, registered


def registered_control(control: Any, name: str | None = None) -> Any:
    return registered(controls, name or control.name, control)


@pytest.fixture
def control_registry():
    """Call it with a Control (and optionally a name) to register it for the current test."""
    stack = _Stack()
    yield lambda control, name=None: stack.enter(registered_control(control, name))
    stack.close()
