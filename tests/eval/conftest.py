"""Synthetic renderers with known answers: a panorama world and subjects that freeze or lag.

`Panorama` shows a 32x32 crop of a periodic texture 384 px around: a camera yaw of 3.75° (one
frame of turn_left) moves the content exactly 4 px right, walking moves it vertically; so a 360°
turn or a return to the start pose shows frame 0's picture again, exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from worldsim.controls.packets import PACKET_SCHEMAS
from worldsim.runtime.renderer import RendererSpec

AROUND, TALL, SIZE = 384, 96, 32


def texture(seed: int = 0) -> np.ndarray:
    """(TALL, AROUND, 3) uint8, periodic, with detail at every scale phase correlation uses."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(TALL)[:, None], np.fft.fftfreq(AROUND)[None]
    spectrum = np.fft.fft2(rng.normal(size=(3, TALL, AROUND))) * np.exp(-(fx ** 2 + fy ** 2) / (2 * 0.15 ** 2))
    img = np.real(np.fft.ifft2(spectrum)).transpose(1, 2, 0)
    return np.clip(128 + 40 * img / img.std(), 0, 255).astype(np.uint8)


class Panorama:
    def __init__(self, width: int = SIZE, height: int = SIZE):
        self.spec = RendererSpec("panorama", width, height, 24.0, 4, 1, {"camera": PACKET_SCHEMAS["camera"]},
                                 {"fovy_deg": 60.0})
        self.pano = texture()

    def open(self, seed, prompt="", first_frame=None, controls=()):
        return {"seed": seed, "steps": 0}

    def view(self, packet: dict) -> np.ndarray:
        m = np.asarray(packet["camera"]["c2w"]).reshape(4, 4)
        yaw = math.degrees(math.atan2(-m[0, 2], -m[2, 2]))                   # + left
        x = round(-yaw * AROUND / 360.0) % AROUND
        y = round(2.0 * (m[0, 3] + m[2, 3])) % TALL
        rows = np.arange(y, y + self.spec.height) % TALL
        cols = np.arange(x, x + self.spec.width) % AROUND
        return self.pano[rows][:, cols]

    def step(self, states, packets):
        for s in states:
            s["steps"] += 1
        return [np.stack([self.view(p) for p in plist]) for plist in packets]

    def close(self, state):
        pass


class Frozen(Panorama):
    """Shows the first frame it was given forever."""

    def open(self, seed, prompt="", first_frame=None, controls=()):
        return {"first": first_frame, "steps": 0}

    def step(self, states, packets):
        return [np.stack([s["first"]] * len(p)) for s, p in zip(states, packets)]


class Lagging(Panorama):
    """The true pictures, one step (4 frames) late."""

    def open(self, seed, prompt="", first_frame=None, controls=()):
        return {"shown": [], "steps": 0}

    def step(self, states, packets):
        out = []
        for s, plist in zip(states, packets):
            start = len(s["shown"])
            s["shown"] += [self.view(p) for p in plist]
            out.append(np.stack([s["shown"][max(0, t - 4)] for t in range(start, len(s["shown"]))]))
        return out


@pytest.fixture
def synthetic():
    return {"panorama": Panorama, "frozen": Frozen, "lagging": Lagging}
