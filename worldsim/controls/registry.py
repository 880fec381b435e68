"""Control registry: built-ins and plugins through the entry-point group `worldsim.controls`.

A control is a `Control` object (see worldsim.controls.control); an entry point names it as
"module:attr". Entry points load lazily, so listing controls imports no control code.
Tests register a control directly (`register_control`, or the fixture in
worldsim.controls.testing) without installing a package.
"""
from __future__ import annotations

from importlib import import_module, metadata
from typing import Any

GROUP = "worldsim.controls"
_local: dict[str, Any] = {}          # name -> Control or "module:attr"
_loaded: dict[str, Any] = {}         # entry point value -> loaded Control


def register_control(control: Any, name: str | None = None) -> None:
    """Register a Control object (or a "module:attr" string, then `name` is required)."""
    if isinstance(control, str):
        if not name:
            raise ValueError("register_control('module:attr') needs a name")
        _local[name] = control
    else:
        _local[name or control.name] = control


def unregister_control(name: str) -> None:
    _local.pop(name, None)


_scanned: dict[str, str] | None = None   # entry points, scanned once (a scan costs milliseconds)


def _entry_points() -> dict[str, str]:
    global _scanned
    if _scanned is None:
        _scanned = {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}
    return _scanned


def refresh_controls() -> None:
    """Forget the scanned entry points (after installing a plugin into a running process)."""
    global _scanned
    _scanned = None


def _builtin() -> dict[str, str]:
    # Built-ins resolve even when worldsim is not pip-installed (a source checkout).
    from .builtin import BUILTIN_REFS
    return BUILTIN_REFS


def available_controls() -> list[str]:
    return sorted(set(_builtin()) | set(_entry_points()) | set(_local))


def _load(ref: str) -> Any:
    if ref not in _loaded:
        module, _, attr = ref.partition(":")
        obj: Any = import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        _loaded[ref] = obj
    return _loaded[ref]


def get_control(name: str) -> Any:
    """The Control registered as `name`; KeyError listing the available ones."""
    ref = _local.get(name) or _entry_points().get(name) or _builtin().get(name)
    if ref is None:
        raise KeyError(f"unknown control {name!r}; available: {', '.join(available_controls()) or 'none'}")
    return _load(ref) if isinstance(ref, str) else ref
