"""Test helpers for plugin authors: register a renderer (or a control) without installing a package.

    from worldsim.testing import renderer_registry   # noqa: F401  (a pytest fixture)

    def test_my_renderer(renderer_registry):
        renderer_registry("checkerboard", CheckerboardRenderer)   # registered for this test only
        world = worldsim.open("checkerboard", in_process=True)

    with registered_renderer("checkerboard", CheckerboardRenderer):   # outside pytest
        ...

Both restore whatever was registered under that name before. Controls have the same pair in
worldsim.controls.testing. A renderer registered this way lives in this process: use it
in-process (`worldsim.open(..., in_process=True)`, `create_renderer`); a spawned worker
finds only installed entry points.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest

from .plugins import Registry, renderers

_MISSING = object()


@contextmanager
def registered(registry: Registry, name: str, obj: Any) -> Iterator[Any]:
    """Register `obj` as `name` in `registry` for the `with` block, then restore the previous one."""
    previous = registry.local.get(name, _MISSING)
    registry.register(name, obj)
    try:
        yield obj
    finally:
        if previous is _MISSING:
            registry.unregister(name)
        else:
            registry.register(name, previous)


def registered_renderer(name: str, factory: Callable[..., Any] | str) -> Any:
    return registered(renderers, name, factory)


class _Stack:
    def __init__(self):
        self.exits: list = []

    def enter(self, cm) -> Any:
        self.exits.append(cm)
        return cm.__enter__()

    def close(self) -> None:
        while self.exits:
            self.exits.pop().__exit__(None, None, None)


@pytest.fixture
def renderer_registry():
    """Call it with a name and a renderer factory (class, callable or "module:attr") to register it for this test."""
    stack = _Stack()
    yield lambda name, factory: stack.enter(registered_renderer(name, factory))
    stack.close()
