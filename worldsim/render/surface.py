"""What `Display` and `HeadlessDisplay` share above the GL pipeline: present, read back, screenshot."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import moderngl
import numpy as np
import pygame

from worldsim.render.gl_pipeline import FramePipeline
from worldsim.render.hud import HudOverlay


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Save uint8 [H, W, 3] pixels as a PNG file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"screenshot path must end in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width, _ = pixels.shape
    surface = pygame.image.frombuffer(np.ascontiguousarray(pixels).tobytes(), (width, height), "RGB")
    pygame.image.save(surface, str(path))


class GLSurface(ABC):
    """What `Display` and `HeadlessDisplay` share: present a frame (+ HUD), read back, screenshot.

    Each GL call runs inside `with self.ctx:` so the context is current only while it draws:
    glvnd refuses to make a GLX (window) context current on a thread that still holds an EGL
    (headless) one, so a window opened after a headless display would otherwise fail.

    A subclass provides the framebuffer (`_framebuffer`), its size (`size`), `_swap`, `_read_back`,
    `events`, `toggle_fullscreen` and `close`.
    """

    size: tuple[int, int]  # (width, height) of the drawing target in pixels

    def __init__(self, ctx: moderngl.Context, filter: str, hud_font_size: int):
        self.ctx = ctx
        self.pipeline = FramePipeline(ctx, filter)
        self.hud = HudOverlay(font_size=hud_font_size)
        self.hud_visible = True
        self._hud_given = False  # whether the last present() had a HUD dict
        self._drawn_size: tuple[int, int] | None = None
        self._drawn_hud = False

    @property
    def hud_rect(self) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of the HUD in the last presented picture (top-left origin), None if not shown."""
        return self.pipeline.hud_rect

    @property
    def frame_rect(self) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of the letterboxed frame in the last presented picture (top-left origin)."""
        return self.pipeline.frame_rect

    def present(self, frame: np.ndarray, hud: dict | None = None) -> None:
        """Show a uint8 [H, W, 3] frame letterboxed, with the HUD (label -> value) over it, then swap."""
        overlay = self.hud.render(hud) if hud is not None else None  # None when the text did not change
        with self.ctx:  # current only while drawing: a window and a headless display can coexist
            self.pipeline.upload_frame(frame)
            if overlay is not None:
                self.pipeline.upload_hud(overlay)
            self._hud_given = hud is not None
            self._drawn_size = self.size
            self._drawn_hud = self.hud_visible and self._hud_given
            self._draw()
            self._swap()

    def _draw(self) -> None:
        self._framebuffer().use()
        self.pipeline.draw(self._drawn_size, self._drawn_hud)

    def read_pixels(self) -> np.ndarray:
        """What the last present() put on screen, uint8 [H, W, 3] (black before the first present)."""
        if self._drawn_size is None:
            width, height = self.size
            return np.zeros((height, width, 3), dtype=np.uint8)
        with self.ctx:
            return self._read_back()

    def screenshot(self, path: str | Path) -> Path:
        """Save what is on screen (HUD included) as a PNG; returns the path."""
        write_png(path, self.read_pixels())
        return Path(path)

    @abstractmethod
    def _framebuffer(self) -> moderngl.Framebuffer:
        ...

    @abstractmethod
    def _swap(self) -> None:
        ...

    @abstractmethod
    def _read_back(self) -> np.ndarray:
        ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        ...
