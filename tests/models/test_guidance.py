"""Camera guidance (`aapt` option guidance=w, models/guidance.py): a guided step is the camera step
extrapolated away from the camera-held-still step, and leaves the session's state as the camera step
alone would, but for the recycled latent, which is the guided frame."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.controls.camera import CameraEncoder

from .test_renderer import camera_packets, make_renderer


def test_a_guided_step_extrapolates_from_the_still_camera_and_keeps_the_camera_steps_cache():
    r = make_renderer(max_sessions=2, guidance=0.5)
    gen = r.model.generator
    s = r.open(seed=3)
    for k in range(5):                                          # past the tiny window of 3: the ring wraps
        r.step([s], [camera_packets(0, 1) if k == 0 else camera_packets(1 + 4 * (k - 1), 4)])
    before, packets = r.snapshot(s), camera_packets(17, 4)
    last_pose = camera_packets(16, 1)                           # the previous step's last pose
    guided_frames = r.step([s], [packets])
    guided, guided_state = gen.prev_latent[s.slot].clone(), r.snapshot(s)

    guidance, r.guidance = r.guidance, None                     # the same renderer, unguided
    r.restore(s, before)
    camera_frames = r.step([s], [packets])
    camera, camera_state = gen.prev_latent[s.slot].clone(), r.snapshot(s)
    r.restore(s, before)
    r.step([s], [last_pose * 4])                                # the camera held still
    held = gen.prev_latent[s.slot].clone()
    r.guidance = guidance

    torch.testing.assert_close(guided, camera + 0.5 * (camera - held), rtol=0, atol=1e-5)
    assert not torch.allclose(camera, held, atol=1e-3)          # the camera changes the frame
    assert guided_state["frame_index"] == camera_state["frame_index"] == before["frame_index"] + 1
    assert guided_state["host_frames"] == camera_state["host_frames"]
    for a, b in zip(guided_state["kv"], camera_state["kv"], strict=True):
        for name in ("keys", "values", "first_keys"):
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert guided_frames[0].shape == camera_frames[0].shape == (4, 32, 32, 3)
    assert np.abs(guided_frames[0].astype(int) - camera_frames[0].astype(int)).max() > 0


def test_guidance_zero_is_one_plain_step_and_bad_values_are_one_line_errors():
    r = make_renderer(guidance=0)
    assert r.guidance is None and r.spec.info["guidance"] == 0.0
    assert make_renderer(guidance=0.5).spec.info["guidance"] == 0.5
    for bad in (-1, 11, "1", True, float("nan")):
        with pytest.raises(ValueError, match="aapt guidance must be a number from 0 to 10"):
            make_renderer(guidance=bad)
    with pytest.raises(ValueError, match="aapt guidance steers the camera; this model takes"):
        make_renderer(guidance=1.0, controls=["pose"])


def test_the_still_encoding_is_the_encoding_of_a_camera_held_still():
    enc = CameraEncoder(4, 4, kind="od")
    pose = camera_packets(5, 1)[0]["camera"]
    enc.encode([pose])                                          # the first latent frame: the reference pose
    held = [pose] * 4
    torch.testing.assert_close(enc.encode(held), enc.still(), rtol=0, atol=1e-6)
    assert enc.still()[-1].abs().max() == 0                     # not a first latent frame
