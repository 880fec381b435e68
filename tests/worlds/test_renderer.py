"""The `reference` renderer: protocol behaviour, determinism, walking height, bad packets."""
from __future__ import annotations

import numpy as np
import pytest

from worldsim.controls.packets import PacketBuilder
from worldsim.runtime.registry import create_renderer
from worldsim.runtime.renderer import Renderer, RendererError
from worldsim.worlds.renderer import ReferenceRenderer


def _packets(n, **actions):
    builder = PacketBuilder(["camera"], mode="walk")
    return [builder.tick({"move_forward": 1.0, **actions}) for _ in range(n)]


def test_protocol_shapes_and_batching():
    r = ReferenceRenderer(width=32, height=24, compile=False)
    assert isinstance(r, Renderer) and r.spec.frames_per_step == 4 and r.spec.first_step_frames == 1
    assert "camera" in r.spec.control_kinds and "eye height" in r.spec.info["camera_height_rule"]
    a, b = r.open(1), r.open(2)
    packets = _packets(5)
    first = r.step([a, b], [packets[:1], packets[:1]])
    assert [f.shape for f in first] == [(1, 24, 32, 3)] * 2 and first[0].dtype == np.uint8
    frames = r.step([a, b], [packets[1:5], packets[1:5]])
    assert [f.shape for f in frames] == [(4, 24, 32, 3)] * 2
    assert not np.array_equal(frames[0], frames[1])               # two worlds, one call
    # a session rendered alone gives the same pixels as inside the batch
    alone = ReferenceRenderer(width=32, height=24, compile=False)
    c = alone.open(2)
    alone.step([c], [packets[:1]])
    np.testing.assert_array_equal(alone.step([c], [packets[1:5]])[0], frames[1])


def test_deterministic_across_renderers():
    packets = _packets(1, turn_left=1.0)
    frames = []
    for _ in range(2):
        r = ReferenceRenderer(width=32, height=32, compile=False)
        frames.append(r.step([r.open(7)], [packets])[0])
    np.testing.assert_array_equal(frames[0], frames[1])
    assert frames[0].std() > 5                                     # a picture, not a flat colour


def test_bad_packets_raise_renderer_error():
    r = ReferenceRenderer(width=16, height=16, compile=False)
    s = r.open(0)
    with pytest.raises(RendererError, match="takes 1 packets"):
        r.step([s], [_packets(4)])
    bad = {"camera": {"c2w": [1.0] * 16}}
    with pytest.raises(RendererError, match="bad packet"):
        r.step([s], [[bad]])
    with pytest.raises(RendererError, match="controls"):
        r.open(0, controls=["pose"])
    with pytest.raises(ValueError, match="multiples of 8"):
        ReferenceRenderer(width=30, height=16)


def test_registered_as_entry_point_or_factory():
    r = create_renderer("reference", width=16, height=16, compile=False)
    assert r.spec.name == "reference"
