"""The recycled-latent warp: the previous latent frame seen from where the camera now looks."""
import math

import numpy as np
import pytest
import torch

from worldsim.config import model_preset, replace_generator
from worldsim.controls.camera import CameraEncoder
from worldsim.controls.camera_rig import intrinsics, look_rotation
from worldsim.models.generator import Generator
from worldsim.models.warp import warp_recycled, warp_spec

H = W = 16
CAMERA = {"camera": {"kind": "od", "fovy_deg": 60.0, "scales": [0.2, 0.25, 0.25, 0.3, 0.3, 0.9]}}


def packet(yaw_deg: float, pitch_deg: float = 0.0) -> dict:
    c2w = np.eye(4)
    c2w[:3, :3] = look_rotation(yaw_deg, pitch_deg)
    c2w[:3, 3] = [1.0, -1.7, 2.0]
    return {"c2w": c2w.tolist()}


def controls_of_turn(yaw_deg: float, pitch_deg: float = 0.0) -> torch.Tensor:
    """The camera channels of a latent frame that ends `yaw_deg` left of the previous one's last pose."""
    cam = CAMERA["camera"]
    enc = CameraEncoder(H, W, cam["kind"], cam["fovy_deg"], cam["scales"])
    enc.encode([packet(0.0)])
    steps = [packet(yaw_deg * k / 4, pitch_deg * k / 4) for k in range(1, 5)]
    return enc.encode(steps)[None]                                   # (1, 25, h, w)


def warp(latent: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
    spec = warp_spec(CAMERA)
    return warp_recycled(latent, controls, spec["warp_channel"], spec["warp_scales"], spec["warp_focal"])


def test_a_standing_camera_recycles_the_latent_unchanged():
    latent = torch.randn(1, 8, H, W)
    torch.testing.assert_close(warp(latent, controls_of_turn(0.0)), latent, atol=1e-5, rtol=0)


@pytest.mark.parametrize("direction", [1, -1])
def test_a_turn_moves_the_content_the_way_the_view_moves(direction):
    fx = intrinsics(W, H, 60.0)[0, 0]
    yaw = direction * math.degrees(math.atan(2.0 / fx))             # the centre moves 2 latent pixels
    latent = torch.zeros(1, 1, H, W)
    latent[..., 6] = 1.0                                             # a vertical line in column 6
    out = warp(latent, controls_of_turn(yaw))
    row = out[0, 0, H // 2]
    assert int(row.argmax()) == 6 + 2 * direction                    # left turn: the world slides right
    assert row.max() > 0.9                                           # (off-centre: a little perspective)
    edge = 0 if direction > 0 else W - 1                             # the revealed side reads the latent mean
    assert out[0, 0, :, edge].abs().max() == 0


def test_a_pitch_moves_the_content_vertically():
    fy = intrinsics(W, H, 60.0)[1, 1]
    pitch = math.degrees(math.atan(1.0 / fy))                        # look up: the world slides down 1 px
    latent = torch.zeros(1, 1, H, W)
    latent[..., 7, :] = 1.0
    out = warp(latent, controls_of_turn(0.0, pitch))
    assert int(out[0, 0, :, W // 2].argmax()) == 8


def test_warp_spec_needs_camera_controls_and_finds_them_after_other_kinds():
    with pytest.raises(ValueError, match="camera"):
        warp_spec({"pose": {}})
    spec = warp_spec({"pose": {}, **CAMERA})
    assert spec["warp_channel"] == 68 + 21                           # pose heatmaps come first
    assert spec["warp_scales"] == (0.3, 0.3, 0.9) and spec["warp_focal"] == pytest.approx(math.sqrt(3))


@pytest.mark.parametrize("keep", [False, True])
def test_a_warping_generator_streams_exactly_as_it_trains(keep):
    """Step by step with the KV cache (play) equals the whole clip teacher-forced (training), the
    recycled latent warped in both (`keep`: beside the unwarped one); and the warp changes what the
    model sees."""
    torch.manual_seed(0)
    cfg = replace_generator(model_preset("tiny"), **warp_spec(CAMERA), warp_keep=keep).generator
    gen = Generator(cfg)
    gen.init_weights(zero_init=False)
    gen.eval()
    b, frames, hw = 2, 2 * cfg.window + 2, (4, 4)
    g = torch.Generator().manual_seed(1)
    first = torch.randn(b, cfg.latent_channels, *hw, generator=g)
    text = torch.randn(b, 8, cfg.text_dim, generator=g)
    controls = torch.randn(b, frames, cfg.control_channels, *hw, generator=g)
    controls[:, :, cfg.warp_channel + 2] = 3.0                       # rays ahead: a real re-projection
    noise = torch.randn(b, frames, cfg.latent_channels, *hw, generator=g)
    gen.setup_cache(b, hw, 8)
    with torch.no_grad():
        gen.start(first, text)
        latents = torch.stack([first] + [gen.step(controls[:, i], noise[:, i]) for i in range(1, frames)], dim=1)
        t = torch.ones(b, frames)
        t[:, 0] = 0
        v = gen.forward_clip(gen.clip_inputs(noise, latents, controls), t, text)
    torch.testing.assert_close(latents[:, 1:], noise[:, 1:] - v[:, 1:], rtol=1e-5, atol=1e-5)
    warped = gen.frame_inputs(noise[:, 1], latents[:, 0], controls[:, 1])
    assert warped.shape[-3] == gen.cfg.in_channels == gen.first_inputs(first).shape[-3]
    gen.cfg = replace_generator(model_preset("tiny")).generator
    plain = gen.frame_inputs(noise[:, 1], latents[:, 0], controls[:, 1])
    c = cfg.latent_channels
    assert not torch.equal(warped[:, c:2 * c], plain[:, c:2 * c]) if not keep else \
        torch.equal(warped[:, :plain.shape[1]], plain) and not torch.equal(warped[:, -c:], plain[:, c:2 * c])
