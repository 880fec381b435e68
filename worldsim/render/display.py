"""The game window: pygame opens an OpenGL window, moderngl draws the latest frame and the HUD.

    display = Display(1280, 720)
    while running:
        for event in display.events(): ...      # all pygame events (resizes are handled here too)
        display.present(frame, hud={"fps": 24.0, "tick": 512})
"""
from __future__ import annotations

import os
import time

import moderngl
import numpy as np
import pygame

from worldsim.render.surface import GLSurface

_RESIZE_EVENTS = (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED)
_INVISIBLE_DRIVERS = ("offscreen", "dummy")  # chosen explicitly through SDL_VIDEODRIVER they are allowed


class DisplayUnavailableError(RuntimeError):
    """No window with an OpenGL context could be opened."""


def _init_video(attempts: int = 4, pause_s: float = 0.05) -> None:
    """Start pygame's video subsystem on a real screen.

    SDL silently falls back to an invisible driver when it cannot reach the screen; that is
    refused here. Opening the X connection can fail transiently (seen under Xvfb: about 1 in 100
    XOpenDisplay calls), so with DISPLAY set a failed start is retried a few times.
    """
    for _ in range(attempts):
        try:
            pygame.display.init()
            driver = pygame.display.get_driver()
        except pygame.error as error:  # SDL_VIDEODRIVER names a driver that cannot start
            problem = f"SDL could not start video: {error}"
        else:
            if driver not in _INVISIBLE_DRIVERS or os.environ.get("SDL_VIDEODRIVER") == driver:
                return
            problem = f"SDL fell back to its invisible {driver!r} video driver"
        pygame.display.quit()
        if not os.environ.get("DISPLAY"):
            break
        time.sleep(pause_s)
    raise DisplayUnavailableError(
        f"no screen to open a window on ({problem}; DISPLAY={os.environ.get('DISPLAY')!r}). "
        "Use the headless display (`worldsim play --headless`) or run under `xvfb-run -a`."
    )


class Display(GLSurface):
    """A resizable pygame window with an OpenGL 3.3 context; frames are shown letterboxed."""

    def __init__(self, width: int, height: int, title: str = "worldsim", fullscreen: bool = False,
                 vsync: bool = False, filter: str = "linear", hud_font_size: int = 18):
        if width <= 0 or height <= 0:
            raise ValueError(f"display size must be positive, got {width}x{height}")
        _init_video()
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MAJOR_VERSION, 3)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_MINOR_VERSION, 3)
        pygame.display.gl_set_attribute(pygame.GL_CONTEXT_PROFILE_MASK, pygame.GL_CONTEXT_PROFILE_CORE)
        flags = pygame.OPENGL | pygame.DOUBLEBUF | pygame.RESIZABLE
        try:
            pygame.display.set_mode((int(width), int(height)), flags, vsync=int(vsync))
            ctx = moderngl.create_context(require=330)
        except Exception as error:  # pygame.error or a moderngl context error
            pygame.display.quit()
            raise DisplayUnavailableError(
                f"cannot open an OpenGL window: {error}. Without a screen use the headless display "
                "(`worldsim play --headless`) or run under `xvfb-run -a`."
            ) from error
        pygame.display.set_caption(title)
        self.title = title
        self.fullscreen = False
        self.size = pygame.display.get_window_size()
        with ctx:
            super().__init__(ctx, filter, hud_font_size)
        if fullscreen:
            self.toggle_fullscreen()

    def events(self) -> list[pygame.event.Event]:
        """Pump pygame and return every pending event; window resizes are applied before returning."""
        events = pygame.event.get()
        if any(event.type in _RESIZE_EVENTS for event in events):
            self.size = pygame.display.get_window_size()
        return events

    def toggle_fullscreen(self) -> None:
        """Switch between windowed and fullscreen (desktop resolution); the frame stays letterboxed."""
        pygame.display.toggle_fullscreen()
        self.fullscreen = not self.fullscreen
        self.size = pygame.display.get_window_size()

    def _framebuffer(self) -> moderngl.Framebuffer:
        return self.ctx.screen

    def _swap(self) -> None:
        pygame.display.flip()

    def _read_back(self) -> np.ndarray:
        # After a swap the back buffer is undefined: draw the presented picture again (same
        # texture, same HUD, same size) into it and read that, without swapping.
        self._draw()
        return self.pipeline.read(self.ctx.screen, self._drawn_size)

    def close(self) -> None:
        if self.ctx is None:
            return
        with self.ctx:
            self.pipeline.release()
        self.ctx.release()
        self.ctx = None
        pygame.display.quit()
