"""Renderer registry: built-ins and plugins through the entry-point group `worldsim.renderers`.

Entry points are loaded lazily ("module:attr"), so listing renderers imports no model code.
Tests register a factory directly with `register_renderer` (no package install needed).
"""
from __future__ import annotations

from importlib import import_module, metadata
from typing import Any, Callable

from .renderer import Renderer

GROUP = "worldsim.renderers"
_local: dict[str, Callable[..., Renderer] | str] = {}


def register_renderer(name: str, factory: Callable[..., Renderer] | str) -> None:
    """Register a renderer factory (a callable or a "module:attr" string) under `name`."""
    _local[name] = factory


def unregister_renderer(name: str) -> None:
    _local.pop(name, None)


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}


def available_renderers() -> list[str]:
    return sorted(set(_entry_points()) | set(_local))


def _load(ref: str) -> Callable[..., Renderer]:
    module, _, attr = ref.partition(":")
    obj: Any = import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def create_renderer(name: str, **options: Any) -> Renderer:
    """Build the renderer `name` with `options` (e.g. width, height, checkpoint, device)."""
    factory = _local.get(name) or _entry_points().get(name)
    if factory is None:
        raise KeyError(f"unknown renderer {name!r}; available: {', '.join(available_renderers()) or 'none'}")
    if isinstance(factory, str):
        factory = _load(factory)
    unknown = unknown_options(factory, options)
    if unknown:
        raise ValueError(f"renderer {name!r} takes no option {', '.join(unknown)}")
    return factory(**options)


def unknown_options(factory: Callable[..., Renderer], options: dict) -> list[str]:
    """The options `factory` has no parameter for (none when it takes **kwargs or hides its signature)."""
    import inspect
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return []
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return sorted(set(options) - names)
