"""While nothing is on screen yet, worldsim says what it is doing: on a terminal only, and erased after."""
import io

import numpy as np

from worldsim.runtime.renderer import RendererSpec
from worldsim.runtime.status import show_waiting, starting_text, status_line


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_status_line_is_shown_on_a_terminal_and_erased_after():
    term = Terminal()
    with status_line("starting the aapt renderer", term):
        assert term.getvalue().startswith("worldsim: starting the aapt renderer")
    assert term.getvalue().endswith("\r\033[K")


def test_no_status_line_in_a_pipe_or_log():
    pipe = io.StringIO()
    with status_line("starting", pipe):
        pass
    assert pipe.getvalue() == ""


def test_the_starting_text_names_the_checkpoint_being_loaded():
    assert "loading ckpt/" in starting_text("aapt", {"checkpoint": "ckpt/"}, None)
    assert starting_text("aapt", {}, "tcp://h:5555") == "connecting to tcp://h:5555"


def test_the_window_shows_what_it_waits_for_before_the_first_frame():
    class Display:
        def present(self, frame, hud):
            self.frame, self.hud = frame, hud
    display = Display()
    show_waiting(display, RendererSpec("aapt", 64, 48))
    assert display.frame.shape == (48, 64, 3) and display.frame.dtype == np.uint8
    assert display.hud["status"] == "waiting for the first frame"
