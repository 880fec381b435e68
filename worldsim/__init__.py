"""worldsim: turn a neural video model into a game renderer.

Public API (small on purpose):
    RendererSpec, Renderer         the renderer protocol (worldsim.runtime.renderer)
    create_renderer, register_renderer, available_renderers
"""
from .runtime.registry import available_renderers, create_renderer, register_renderer
from .runtime.renderer import Renderer, RendererError, RendererSpec

__version__ = "0.1.0"
__all__ = ["Renderer", "RendererError", "RendererSpec", "available_renderers", "create_renderer",
           "register_renderer", "__version__"]
