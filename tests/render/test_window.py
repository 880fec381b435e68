"""The real pygame window (run under `xvfb-run -a -s '-screen 0 1280x720x24'`)."""
from __future__ import annotations

import numpy as np
import pygame
import pytest

from worldsim.render.display import Display

pytestmark = pytest.mark.display


def gradient(height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3] with distinct columns and rows, so any flip or shift shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 255 // (width - 1), ys * 255 // (height - 1), np.full_like(xs, 90)], -1).astype(np.uint8)


def load_png(path) -> np.ndarray:
    image = pygame.image.load(str(path))
    width, height = image.get_size()
    return np.frombuffer(pygame.image.tobytes(image, "RGB"), dtype=np.uint8).reshape(height, width, 3)


def test_window_screenshot_returns_the_presented_picture(tmp_path):
    frame = gradient(60, 80)
    with Display(80, 60, title="worldsim test", filter="nearest") as display:
        display.events()
        display.present(frame)
        shot = load_png(display.screenshot(tmp_path / "window.png"))
        assert shot.shape == (60, 80, 3)
        assert np.array_equal(shot, frame)
        display.present(frame, hud={"fps": 24.0, "tick": 3})
        with_hud = load_png(display.screenshot(tmp_path / "hud.png"))
        x, y, w, h = display.hud_rect
        assert (with_hud[y:y + h, x:x + w] != frame[y:y + h, x:x + w]).any()


def test_fullscreen_toggle_keeps_presenting():
    frame = gradient(40, 40)
    with Display(64, 48) as display:
        display.present(frame)
        display.toggle_fullscreen()
        assert display.fullscreen
        display.events()
        display.present(frame)
        width, height = display.size
        assert display.read_pixels().shape == (height, width, 3)
        x, y, w, h = display.frame_rect
        assert w == h  # still aspect-correct at the new size
        display.toggle_fullscreen()
        display.events()
        display.present(frame)
        assert not display.fullscreen


def test_resize_event_updates_the_drawing_size():
    with Display(64, 48) as display:
        pygame.display.set_mode((100, 50), pygame.OPENGL | pygame.DOUBLEBUF | pygame.RESIZABLE)
        pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, w=100, h=50, size=(100, 50)))
        events = display.events()
        assert any(event.type == pygame.VIDEORESIZE for event in events)  # passed on to the caller
        assert display.size == (100, 50)
        display.present(gradient(10, 10))
        assert display.read_pixels().shape == (50, 100, 3)
        assert display.frame_rect == (25, 0, 50, 50)


def test_window_and_headless_display_coexist_in_one_process():
    # glvnd refuses a GLX make-current while an EGL context is current on the thread
    from worldsim.render.headless import HeadlessDisplay

    frame = gradient(20, 20)
    with HeadlessDisplay(20, 20, filter="nearest") as headless:
        headless.present(frame)
        with Display(20, 20, filter="nearest") as window:
            window.present(frame)
            headless.present(frame)
            assert np.array_equal(window.read_pixels(), frame)
            assert np.array_equal(headless.read_pixels(), frame)
