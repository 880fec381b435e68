"""Camera guidance: follow the camera controls more than the model does on its own.

    r = create_renderer("aapt", checkpoint="ckpt/", guidance=1.0)   # worldsim play --renderer-option guidance=1.0

A step with guidance w runs the generator twice on the same noise and the same past: once with the
camera held still (every pose of the latent frame equal to the last one: the ray embedding of the
identity), once with the player's camera, and plays

    x = x_camera + w · (x_camera − x_still)

the classifier-free-guidance extrapolation, with "the camera held still" as the negative: what the
controls change in the frame is amplified (1 + w)×. Measured on the shipped model the camera
moves the picture far less than the controls say (docs/QUALITY.md, yaw following); this pushes it
further at the price of a second forward per step. w = 0 is the model alone (one forward).

The still pass writes the frame's keys and values into the KV cache and advances the rows' frame
counters like any step; they are put back, and the camera pass then writes the same cache
positions again, so the cache holds what a plain step with the player's camera leaves there. The
recycled latent (the next step's input) is the guided one: the frame the player sees.
"""
from __future__ import annotations

from typing import Sequence

import torch


class CameraGuidance:
    """Guidance of weight `weight` for a model whose camera channels are `camera` of its controls; `still`
    (C, h, w) is those channels' encoding with the camera held still, in the controls' dtype and device."""

    def __init__(self, weight: float, camera: slice, still: torch.Tensor):
        self.weight, self.camera, self.still = weight, camera, still

    @torch.no_grad()
    def step(self, gen, controls: torch.Tensor, noise: torch.Tensor, slots: Sequence[int]) -> torch.Tensor:
        """`gen.step(controls, noise, slots)` guided away from the camera held still (the module docstring)."""
        still = controls.clone()
        still[:, self.camera] = self.still
        _, index = gen._rows(slots, gen.prev_latent.device)        # the generator's own, made once per set of rows
        frame_index, prev = gen.frame_index[index].clone(), gen.prev_latent[index].clone()
        host = [gen._host_frames[r] for r in slots]
        x_still = gen.step(still, noise, slots=slots)
        gen.frame_index[index], gen.prev_latent[index] = frame_index, prev       # the still pass undone
        for r, frames in zip(slots, host):
            gen._host_frames[r] = frames
        x_camera = gen.step(controls, noise, slots=slots)                        # the same cache positions again
        latent = x_camera + self.weight * (x_camera - x_still)
        gen.prev_latent[index] = latent.to(gen.prev_latent.dtype)
        return latent


def camera_guidance(weight, controls: dict, latent_hw: tuple[int, int], dtype, device) -> CameraGuidance | None:
    """The aapt option `guidance` for a model with these controls (kind -> encoder config): None at 0;
    ValueError (one line) for a weight outside 0..10 or a model without a camera."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 10.0:
        raise ValueError(f"aapt guidance must be a number from 0 to 10, got {weight!r}")
    if not weight:
        return None
    if "camera" not in controls:
        raise ValueError(f"aapt guidance steers the camera; this model takes {sorted(controls)}")
    from ..controls.encoding import ControlEncoders
    encoders = ControlEncoders(list(controls), *latent_hw, controls)
    still = encoders.encoders["camera"].still().to(device=device, dtype=dtype)
    return CameraGuidance(float(weight), encoders.slices["camera"], still)
