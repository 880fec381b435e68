"""Pillow is optional (pictures in and out): one place that imports it or says how to install it."""
from __future__ import annotations

from .errors import WorldsimUserError

INSTALL = "pip install pillow"


def pillow_image(purpose: str):
    """`PIL.Image`, or a one-line WorldsimUserError: `{purpose} needs pillow: pip install pillow`."""
    try:
        from PIL import Image
    except ImportError:
        raise WorldsimUserError(f"{purpose} needs pillow: {INSTALL}") from None
    return Image
