"""The real pygame window (run under `xvfb-run -a -s '-screen 0 1280x720x24'`)."""
from __future__ import annotations

import ctypes
import time

import numpy as np
import pygame
import pytest

from worldsim.render.display import Display

pytestmark = pytest.mark.display


def gradient(height: int, width: int) -> np.ndarray:
    """uint8 [H, W, 3] with distinct columns and rows, so any flip or shift shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 255 // (width - 1), ys * 255 // (height - 1), np.full_like(xs, 90)], -1).astype(np.uint8)


class _XImage(ctypes.Structure):  # the head of Xlib's XImage, up to the colour masks
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_ubyte)), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int)]


def x_window_pixels(width: int, height: int) -> np.ndarray:
    """What the X server shows in the pygame window, uint8 [H, W, 3], read with XGetImage."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XGetImage.restype = ctypes.POINTER(_XImage)
    x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                              ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x11.XSync.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    for _ in range(5):  # opening an X connection fails now and then under Xvfb
        connection = x11.XOpenDisplay(None)
        if connection:
            break
        time.sleep(0.05)
    assert connection, "cannot connect to the X server"
    try:
        x11.XSync(connection, 0)
        image = x11.XGetImage(connection, pygame.display.get_wm_info()["window"], 0, 0, width, height,
                              0xFFFFFFFF, 2).contents  # 2 = ZPixmap
        assert image.bits_per_pixel == 32 and image.byte_order == 0  # 24-bit screen: B, G, R, X bytes
        rows = np.ctypeslib.as_array(image.data, shape=(height * image.bytes_per_line,)).reshape(height, -1)
        return rows[:, :width * 4].reshape(height, width, 4)[..., 2::-1].copy()
    finally:
        x11.XCloseDisplay(connection)


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


def test_the_x_server_shows_what_screenshot_saves(tmp_path):
    frame = gradient(30, 40)
    with Display(160, 60, filter="nearest") as display:  # 40x30 frame scaled 2x, pillarboxed
        display.present(frame, hud={"tick": 7})
        on_screen = x_window_pixels(160, 60)
        assert np.array_equal(on_screen, load_png(display.screenshot(tmp_path / "shot.png")))
        expected = np.zeros((60, 160, 3), dtype=np.uint8)
        expected[:, 40:120] = frame.repeat(2, axis=0).repeat(2, axis=1)
        x, y, w, h = display.hud_rect
        outside_hud = np.ones((60, 160), dtype=bool)
        outside_hud[y:y + h, x:x + w] = False
        assert np.array_equal(on_screen[outside_hud], expected[outside_hud])
        assert (on_screen[y:y + h, x:x + w] != expected[y:y + h, x:x + w]).any()  # the HUD is drawn


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
