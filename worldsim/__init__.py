"""worldsim: turn a neural video model into a game renderer.

Public API (small on purpose; docs/sdk.md):
    open(renderer=None, ...) -> World   step with named actions, get uint8 frames (worldsim.world)
    RendererSpec, Renderer         the renderer protocol (worldsim.rendering)
    create_renderer, register_renderer, available_renderers
"""
from .runtime.registry import available_renderers, create_renderer, register_renderer
from .rendering import Renderer, RendererError, RendererSpec

__version__ = "0.1.0"
__all__ = ["Renderer", "RendererError", "RendererSpec", "World", "WorldsimUserError", "available_renderers",
           "create_renderer", "load_snapshot", "open", "register_renderer", "__version__"]

_LAZY = {"open": ".world", "World": ".world", "load_snapshot": ".world", "WorldsimUserError": ".errors"}   # imported on first use


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
