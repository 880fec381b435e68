"""What `worldsim play` says while nothing is on screen yet: a terminal line while the renderer
starts, a placeholder picture in the window until the first frame arrives."""
from __future__ import annotations

import contextlib
import sys

import numpy as np


@contextlib.contextmanager
def status_line(text: str, stream=None):
    """Show `text` on a terminal while the block runs, then erase it (nothing when not a terminal,
    so logs and pipes keep only what matters)."""
    stream = stream or sys.stderr
    shown = hasattr(stream, "isatty") and stream.isatty()
    if shown:
        stream.write(f"worldsim: {text}…")
        stream.flush()
    try:
        yield
    finally:
        if shown:
            stream.write("\r\033[K")
            stream.flush()


def starting_text(renderer: str, options: dict, connect: str | None) -> str:
    if connect:
        return f"connecting to {connect}"
    checkpoint = options.get("checkpoint")
    return f"starting the {renderer} renderer" + (f" (loading {checkpoint})" if checkpoint else "")


def show_waiting(display, spec) -> None:
    """Present a dark frame of the renderer's size with the HUD saying what it waits for."""
    if display is None:
        return
    display.present(np.full((spec.height, spec.width, 3), 16, np.uint8),
                    {"renderer": spec.name, "status": "waiting for the first frame"})
