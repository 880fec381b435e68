"""The offscreen display draws frames letterboxed, overlays the HUD in its own corner, and reads back."""
from __future__ import annotations

import numpy as np
import pygame
import pytest

from worldsim.render.gl_pipeline import letterbox
from worldsim.render.headless import HeadlessDisplay

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants(height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3]: red top-left, green top-right, blue bottom-left, white bottom-right."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    h, w = height // 2, width // 2
    frame[:h, :w], frame[:h, w:], frame[h:, :w], frame[h:, w:] = RED, GREEN, BLUE, WHITE
    return frame


@pytest.fixture
def display():
    with HeadlessDisplay(200, 100, filter="nearest") as display:
        yield display


def test_wide_window_pillarboxes_a_square_frame(display):
    display.present(quadrants(50, 50))
    pixels = display.read_pixels()  # (100, 200, 3)
    assert pixels.shape == (100, 200, 3)
    assert display.frame_rect == (50, 0, 100, 100)
    assert not pixels[:, :50].any() and not pixels[:, 150:].any()  # black bars left and right
    # the 50x50 frame appears scaled 2x with nearest filtering, top row first
    assert np.array_equal(pixels[:, 50:150], quadrants(50, 50).repeat(2, 0).repeat(2, 1))


def test_wide_frame_in_a_tall_window_is_letterboxed():
    with HeadlessDisplay(60, 120, filter="nearest") as display:
        display.present(quadrants(20, 60))
        pixels = display.read_pixels()
    # 60x20 frame in a 60x120 window: 60x20 band centred vertically, rows 50..69
    assert not pixels[:50].any() and not pixels[70:].any()
    assert np.array_equal(pixels[50:70], quadrants(20, 60))


def test_frame_size_changes_between_presents(display):
    display.present(quadrants(50, 50))
    display.present(np.full((10, 40, 3), 77, dtype=np.uint8))  # 4:1 -> 200x50 band
    pixels = display.read_pixels()
    assert display.frame_rect == (0, 25, 200, 50)
    assert (pixels[25:75] == 77).all() and not pixels[:25].any() and not pixels[75:].any()


def test_hud_toggle_changes_pixels_only_in_the_hud_area(display):
    frame = quadrants(50, 50)
    hud = {"fps": 24.0, "latency": "120 ms", "tick": 512, "renderer": "testpattern"}
    display.present(frame, hud=hud)
    with_hud = display.read_pixels()
    x, y, w, h = display.hud_rect
    display.hud_visible = False
    display.present(frame, hud=hud)
    without_hud = display.read_pixels()
    assert display.hud_rect is None
    changed = (with_hud != without_hud).any(axis=-1)  # (100, 200)
    assert changed.sum() > 100  # the text and its backdrop are visible
    outside = changed.copy()
    outside[y:y + h, x:x + w] = False
    assert not outside.any()


def test_hud_is_rerendered_only_when_its_text_changes(display):
    frame = quadrants(50, 50)
    display.present(frame, hud={"tick": 1})
    texture, first = display.pipeline.hud_texture, display.read_pixels()
    first_width = texture.width
    assert display.hud.render({"tick": 1}) is None  # same text: nothing to draw
    display.present(frame, hud={"tick": 2})
    assert display.pipeline.hud_texture is texture  # same size: written in place
    assert not np.array_equal(display.read_pixels(), first)
    display.present(frame, hud={"tick": 1, "renderer": "a much longer line of text"})
    assert display.pipeline.hud_texture is not texture  # bigger overlay: new texture
    assert display.hud_rect[2] > first_width


def test_screenshot_writes_what_read_pixels_shows(display, tmp_path):
    display.present(quadrants(50, 50), hud={"fps": 30.0})
    path = display.screenshot(tmp_path / "shot.png")
    image = pygame.image.load(str(path))
    saved = np.frombuffer(pygame.image.tobytes(image, "RGB"), dtype=np.uint8).reshape(100, 200, 3)
    assert np.array_equal(saved, display.read_pixels())


def test_odd_sized_frame_and_linear_filter():
    with HeadlessDisplay(37, 23) as display:
        display.present(np.full((7, 13, 3), 200, dtype=np.uint8))
        pixels = display.read_pixels()
        x, y, w, h = display.frame_rect
    assert (pixels[y + 1:y + h - 1, x + 1:x + w - 1] == 200).all()


def test_bad_frames_are_rejected_with_clear_errors(display):
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 3\]"):
        display.present(np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        display.present(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        display.present([[0, 0, 0]])
    with pytest.raises(ValueError, match="filter"):
        HeadlessDisplay(8, 8, filter="cubic")


def test_read_pixels_before_present_is_black(display):
    assert display.read_pixels().shape == (100, 200, 3)
    assert display.events() == []


@pytest.mark.parametrize("frame, target, expected", [
    ((736, 416), (736, 416), (0, 0, 736, 416)),
    ((736, 416), (1280, 720), (3, 0, 1274, 720)),  # 1280/736*416 = 723 > 720: height-bound
    ((100, 100), (300, 100), (100, 0, 100, 100)),
])
def test_letterbox_rectangles(frame, target, expected):
    assert letterbox(frame, target) == expected


def test_window_without_a_screen_is_refused_clearly(monkeypatch):
    # SDL would otherwise fall back to an invisible offscreen window
    from worldsim.render.display import Display, DisplayUnavailableError

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    with pytest.raises(DisplayUnavailableError, match="headless"):
        Display(32, 32)


def test_missing_egl_library_names_the_packages(monkeypatch):
    from worldsim.render.headless import HeadlessUnavailableError

    monkeypatch.setenv("GLCONTEXT_LINUX_LIBEGL", "libEGL-not-installed.so.1")  # glcontext's override
    with pytest.raises(HeadlessUnavailableError, match="apt-get install libegl1 libgl1 libegl-mesa0"):
        HeadlessDisplay(8, 8)
