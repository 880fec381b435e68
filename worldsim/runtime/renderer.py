"""The Renderer protocol now lives in `worldsim.rendering` (imported by runtime, models and worlds alike);
this path stays as a re-export."""
from worldsim.rendering import Renderer, RendererError, RendererSpec, check_renderer

__all__ = ["Renderer", "RendererError", "RendererSpec", "check_renderer"]
