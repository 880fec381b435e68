"""The heads-up display: a few `label  value` lines rendered with pygame.font into an RGBA image.

pygame.font works without a window, so the headless display uses the same HUD. The text is
re-rendered only when one of its formatted lines changes.
"""
from __future__ import annotations

import numpy as np
import pygame

TEXT_COLOR = (255, 255, 255)
BACKGROUND_RGBA = (0, 0, 0, 160)
WIDTH_STEP = 32  # the overlay's width is rounded up to a multiple of this


def format_value(value) -> str:
    """How a HUD value is shown: floats with one decimal, everything else with str()."""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


class HudOverlay:
    """Turns a dict of label -> value into an RGBA overlay image, uint8 [h, w, 4], top row first."""

    def __init__(self, font_size: int = 18, padding: int = 6):
        if not pygame.font.get_init():
            pygame.font.init()
        self.font = pygame.font.Font(None, font_size)  # pygame's bundled default font
        self.padding = padding
        self._lines: tuple[str, ...] | None = None

    def lines(self, values: dict) -> tuple[str, ...]:
        if not isinstance(values, dict):
            raise TypeError(f"hud must be a dict of label -> value, got {type(values).__name__}")
        return tuple(f"{label}  {format_value(value)}" for label, value in values.items())

    def render(self, values: dict) -> np.ndarray | None:
        """The new overlay image, or None when the text is unchanged since the last call."""
        lines = self.lines(values)
        if lines == self._lines:
            return None
        self._lines = lines
        texts = [self.font.render(line, True, TEXT_COLOR) for line in lines] or [self.font.render(" ", True, TEXT_COLOR)]
        line_height = self.font.get_linesize()
        width = max(text.get_width() for text in texts) + 2 * self.padding
        width = -(-width // WIDTH_STEP) * WIDTH_STEP  # steady size while digits change: no new texture
        height = line_height * len(texts) + 2 * self.padding
        surface = pygame.Surface((width, height), pygame.SRCALPHA)
        surface.fill(BACKGROUND_RGBA)
        for row, text in enumerate(texts):
            surface.blit(text, (self.padding, self.padding + row * line_height))
        data = pygame.image.tobytes(surface, "RGBA")
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 4)
