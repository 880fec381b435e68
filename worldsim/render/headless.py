"""An offscreen display: the window's drawing code on a moderngl EGL context (tests, CI, servers).

Mesa's llvmpipe provides EGL without any display server. On Debian/Ubuntu the libraries come
from the packages `libegl1`, `libgl1` and `libegl-mesa0` (plus `libgl1-mesa-dri` for the
software driver); the -dev packages are not needed.
"""
from __future__ import annotations

import sys

import moderngl
import numpy as np
import pygame

from worldsim.render.surface import GLSurface

EGL_PACKAGES = "libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri"


class HeadlessUnavailableError(RuntimeError):
    """No offscreen OpenGL context could be created."""


def create_offscreen_context() -> moderngl.Context:
    """A standalone OpenGL 3.3+ context: EGL on Linux, the platform default elsewhere."""
    backend = "egl" if sys.platform.startswith("linux") else None
    try:
        if backend is None:
            return moderngl.create_standalone_context(require=330)
        return moderngl.create_standalone_context(require=330, backend=backend)
    except Exception as error:  # glcontext raises plain Exception subclasses per backend
        hint = f" On Debian/Ubuntu install: apt-get install {EGL_PACKAGES}." if backend == "egl" else ""
        raise HeadlessUnavailableError(
            f"cannot create an offscreen OpenGL context ({backend or 'default'} backend): {error}.{hint}"
        ) from error


class HeadlessDisplay(GLSurface):
    """Same interface as `Display`, drawing into an offscreen framebuffer of a fixed size."""

    def __init__(self, width: int, height: int, title: str = "worldsim", fullscreen: bool = False,
                 vsync: bool = False, filter: str = "linear", hud_font_size: int = 18):
        if width <= 0 or height <= 0:
            raise ValueError(f"display size must be positive, got {width}x{height}")
        self.title = title
        self.fullscreen = fullscreen  # recorded only: an offscreen target has no screen to fill
        self.size = (int(width), int(height))
        ctx = create_offscreen_context()
        with ctx:  # creation left it current; leaving the block releases it from this thread
            self._color = ctx.renderbuffer(self.size, 4)
            self._fbo = ctx.framebuffer(color_attachments=[self._color])
            super().__init__(ctx, filter, hud_font_size)

    def events(self) -> list[pygame.event.Event]:
        return []

    def toggle_fullscreen(self) -> None:
        self.fullscreen = not self.fullscreen

    def _framebuffer(self) -> moderngl.Framebuffer:
        return self._fbo

    def _swap(self) -> None:
        pass  # the offscreen framebuffer keeps what was drawn; read_pixels reads it

    def _read_back(self) -> np.ndarray:
        return self.pipeline.read(self._fbo, self.size)

    def close(self) -> None:
        if self.ctx is None:
            return
        with self.ctx:
            self.pipeline.release()
            self._fbo.release()
            self._color.release()
        self.ctx.release()
        self.ctx = None
