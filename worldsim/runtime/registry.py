"""Renderer registry: built-ins and plugins through the entry-point group `worldsim.renderers`.

A thin face over worldsim.plugins (one mechanism for renderers, controls and plugins): entry
points load lazily ("module:attr"), so listing renderers imports no model code. Tests register a
factory directly with `register_renderer` or the fixture in worldsim.testing (no package install).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from ..plugins import RENDERERS, refresh, renderers
from ..rendering import Renderer

GROUP = RENDERERS


def register_renderer(name: str, factory: Callable[..., Renderer] | str) -> None:
    """Register a renderer factory (a callable or a "module:attr" string) under `name`."""
    renderers.register(name, factory)


def unregister_renderer(name: str) -> None:
    renderers.unregister(name)


def refresh_renderers() -> None:
    """Forget the scanned entry points (after installing a plugin into a running process)."""
    refresh()


def available_renderers() -> list[str]:
    return renderers.names()


def create_renderer(name: str, **options: Any) -> Renderer:
    """Build the renderer `name` with `options` (e.g. width, height, checkpoint, device).

    An unknown name or an entry that does not import: WorldsimUserError (one line, listing the
    available renderers); an option the factory has no parameter for: ValueError."""
    return checked_factory(name, options)(**options)


def checked_factory(name: str, options: dict) -> Callable[..., Renderer]:
    """The factory of renderer `name`; ValueError (one line) for an option it has no parameter for."""
    factory = renderers.get(name)
    unknown = unknown_options(factory, options)
    if unknown:
        raise ValueError(f"renderer {name!r} takes no option {', '.join(unknown)}")
    return factory


def unknown_options(factory: Callable[..., Renderer], options: dict) -> list[str]:
    """The options `factory` has no parameter for (none when it takes **kwargs or hides its signature)."""
    names = factory_parameters(factory)
    return [] if names is None else sorted(set(options) - set(names))


def factory_parameters(factory: Callable[..., Renderer]) -> list[str] | None:
    """The keyword options `factory` takes, in its order (None: any, it takes **kwargs or hides its signature)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
