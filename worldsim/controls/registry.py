"""Control registry: built-ins and plugins through the entry-point group `worldsim.controls`.

A control is a `Control` object (see worldsim.controls.control); an entry point names it as
"module:attr". A thin face over worldsim.plugins (one mechanism for renderers, controls and
plugins): entry points load lazily, so listing controls imports no control code. Tests register
a control directly (`register_control`, or the fixture in worldsim.controls.testing) without
installing a package.
"""
from __future__ import annotations

from importlib import metadata  # noqa: F401  (tests patch metadata.entry_points through here)
from typing import Any

from ..plugins import CONTROLS, controls, load_ref, refresh

GROUP = CONTROLS
_local = controls.local              # name -> Control or "module:attr"


def register_control(control: Any, name: str | None = None) -> None:
    """Register a Control object (or a "module:attr" string, then `name` is required)."""
    if isinstance(control, str) and not name:
        raise ValueError("register_control('module:attr') needs a name")
    controls.register(name or control.name, control)


def unregister_control(name: str) -> None:
    controls.unregister(name)


def refresh_controls() -> None:
    """Forget the scanned entry points (after installing a plugin into a running process)."""
    refresh()


def available_controls() -> list[str]:
    return controls.names()


def _load(ref: str) -> Any:
    return load_ref(ref, "control")


def get_control(name: str) -> Any:
    """The Control registered as `name`; UnknownPluginError (a KeyError and a WorldsimUserError)
    listing the available ones."""
    return controls.get(name)
