"""One plugin registry: renderers, controls and plugins through entry points, loaded lazily.

    group                 an entry is                                           registry
    worldsim.renderers    a renderer factory (class), "module:attr"             renderers
    worldsim.controls     a Control object, "module:attr"                       controls
    worldsim.plugins      a callable; called with the CLI's subparsers it may   plugins
                          add `worldsim <command>`s, called bare it may return a description dict

Each group is scanned once per process (`refresh()` forgets the scans and loads, after installing a plugin
into a running process); an entry is imported only when its name is asked for, and then kept.
Registering in code (`Registry.register`, the fixtures in worldsim.testing) overrides an entry
point of the same name. Unknown names and entries that fail to import raise a WorldsimUserError
whose one line lists what is available, so the CLI prints it without a traceback.

This module imports nothing heavy (no torch, pygame, CLI): the worker and the game process both use it.
"""
from __future__ import annotations

import inspect
from importlib import import_module, metadata
from typing import Any, Callable, Iterator

from .errors import WorldsimUserError

RENDERERS, CONTROLS, PLUGINS = "worldsim.renderers", "worldsim.controls", "worldsim.plugins"


class UnknownPluginError(WorldsimUserError, KeyError):
    """No entry of that name (a KeyError too, for callers written against the older registries)."""

    def __str__(self) -> str:          # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginLoadError(WorldsimUserError):
    """An entry point names a module or attribute that does not import."""


_scans: dict[str, dict[str, metadata.EntryPoint]] = {}   # group -> name -> entry point, scanned once
_loaded: dict[str, Any] = {}                              # "module:attr" -> the object, imported once


def entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    """The group's installed entry points by name (scanned at the first call in this process)."""
    if group not in _scans:
        found: dict[str, metadata.EntryPoint] = {}
        for ep in metadata.entry_points(group=group):
            found.setdefault(ep.name, ep)             # two packages, one name: the first wins
        _scans[group] = found
    return _scans[group]


def refresh() -> None:
    """Forget the scanned entry points and the loaded objects (imported modules stay imported)."""
    _scans.clear()
    _loaded.clear()


def load_ref(ref: str, what: str = "entry") -> Any:
    """Import "module:attr" (attr may be dotted), once per process; PluginLoadError if it does not."""
    if ref not in _loaded:
        module, sep, attr = ref.partition(":")
        if not module or not sep or not attr:
            raise PluginLoadError(f"{what}: {ref!r} is not \"module:attr\"")
        try:
            obj: Any = import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as err:   # noqa: BLE001 - any import-time failure is the plugin's, say which
            raise PluginLoadError(" ".join(f"{what} ({ref}) failed to load: {type(err).__name__}: {err}".split())) from err
        _loaded[ref] = obj
    return _loaded[ref]


def _package(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f" from package {dist.name}" if dist is not None and getattr(dist, "name", None) else ""


class Registry:
    """The names of one kind of plugin: code registrations, then entry points, then built-ins."""

    def __init__(self, group: str, kind: str, builtin: Callable[[], dict[str, str]] | None = None):
        self.group, self.kind = group, kind
        self._builtin = builtin or dict          # name -> "module:attr" that resolve without an install
        self.local: dict[str, Any] = {}          # name -> object or "module:attr"

    def register(self, name: str, obj: Any) -> None:
        self.local[name] = obj

    def unregister(self, name: str) -> None:
        self.local.pop(name, None)

    def names(self) -> list[str]:
        return sorted(set(self._builtin()) | set(entry_points(self.group)) | set(self.local))

    def __contains__(self, name: str) -> bool:
        return name in self.local or name in entry_points(self.group) or name in self._builtin()

    def describe(self, name: str) -> str:
        """Where `name` comes from, without importing it: "module:attr from package P" or "registered in code"."""
        if name in self.local:
            obj = self.local[name]
            return obj if isinstance(obj, str) else "registered in code"
        if name in entry_points(self.group):
            ep = entry_points(self.group)[name]
            return ep.value + _package(ep)
        return self._builtin()[name] + " (built in)"

    def get(self, name: str) -> Any:
        """The object registered as `name`, imported now if it was not yet."""
        if name in self.local:
            obj = self.local[name]
            return load_ref(obj, f"{self.kind} {name!r}") if isinstance(obj, str) else obj
        ep = entry_points(self.group).get(name)
        if ep is not None:
            return load_ref(ep.value, f"{self.kind} {name!r}{_package(ep)}")
        ref = self._builtin().get(name)
        if ref is None:
            raise UnknownPluginError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}")
        return load_ref(ref, f"{self.kind} {name!r}")


def _builtin_controls() -> dict[str, str]:
    # Built-ins resolve even when worldsim is not pip-installed (a source checkout).
    from .controls.builtin import BUILTIN_REFS
    return BUILTIN_REFS


# The renderers worldsim itself ships; pyproject.toml declares the same names as entry points.
BUILTIN_RENDERERS = {"testpattern": "worldsim.runtime.testpattern:TestPatternRenderer",
                     "aapt": "worldsim.models.renderer:AaptRenderer",
                     "reference": "worldsim.worlds.renderer:ReferenceRenderer",
                     "split": "worldsim.runtime.split:SplitRenderer"}


def _builtin_renderers() -> dict[str, str]:
    return BUILTIN_RENDERERS


renderers = Registry(RENDERERS, "renderer", _builtin_renderers)
controls = Registry(CONTROLS, "control", _builtin_controls)
plugins = Registry(PLUGINS, "plugin")


# --- `worldsim.plugins`: plugin commands for the CLI ------------------------------------------------

def call_plugin(plugin: Callable, subparsers: Any) -> Any:
    """Call a `worldsim.plugins` entry: with the subparsers if it takes an argument, else bare."""
    try:
        takes_argument = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                             for p in inspect.signature(plugin).parameters.values())
    except (TypeError, ValueError):
        takes_argument = True
    return plugin(subparsers) if takes_argument else plugin()


def add_plugin_commands(subparsers: Any) -> list[str]:
    """Let every `worldsim.plugins` entry add its commands; the one-line reasons of those that failed."""
    failures = []
    for name in plugins.names():
        try:
            call_plugin(plugins.get(name), subparsers)
        except Exception as err:   # noqa: BLE001 - a broken plugin must not take the other commands down
            failures.append(str(err) if isinstance(err, WorldsimUserError)
                            else " ".join(f"plugin {name!r} failed to add its commands: {type(err).__name__}: {err}".split()))
    return failures


def iter_all() -> Iterator[tuple[str, str, str]]:
    """(kind, name, where it comes from) of every renderer, control and plugin, importing none."""
    for registry in (renderers, controls, plugins):
        for name in registry.names():
            yield registry.kind, name, registry.describe(name)


# --- `worldsim plugins list | check-renderer` --------------------------------------------------------

def register(sub) -> None:
    p = sub.add_parser("plugins", help="renderer, control and command plugins: list them, check a renderer")
    psub = p.add_subparsers(dest="plugins_command", metavar="ACTION")
    psub.required = True
    listing = psub.add_parser("list", help="every renderer, control and plugin, and where it comes from (imports none)")
    listing.set_defaults(func=_list)
    check = psub.add_parser("check-renderer", help="build a renderer and run the protocol checker on it")
    check.add_argument("renderer", help="a renderer name (`worldsim plugins list`) or module:attr")
    check.add_argument("--size", default="64x48", help="WxH to build it at, for renderers that take it (default 64x48)")
    check.add_argument("--steps", type=int, default=3, help="batched steps of two sessions to run (default 3; 0: no run)")
    check.set_defaults(func=_check_renderer)


def _list(args) -> int:
    for kind, name, where in iter_all():
        print(f"{kind:9s} {name:14s} {where}")
    return 0


def _check_renderer(args) -> int:
    from .rendering import check_renderer
    from .runtime.registry import unknown_options
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise WorldsimUserError(f"--size must look like 64x48, got {args.size!r}") from None
    factory = load_ref(args.renderer, "renderer") if ":" in args.renderer else renderers.get(args.renderer)
    options = {"width": width, "height": height}
    options = {k: v for k, v in options.items() if k not in unknown_options(factory, options)}
    renderer = check_renderer(factory, options, steps=args.steps)
    print(f"{args.renderer}: ok ({renderer.spec.width}x{renderer.spec.height}, controls "
          f"{', '.join(renderer.spec.control_kinds) or 'none'}; spec, signatures, {args.steps} batched steps)")
    return 0
