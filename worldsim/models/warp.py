"""The recycled latent, seen from the new camera: a rotation warp for camera models.

A camera model's frame i >= 1 gets the previous latent frame as input (generator.py). With
`GeneratorConfig.warp_channel` set, that latent is first re-projected to where the camera now
looks: the control channels already hold, per latent pixel, the ray direction d = R·d_cam of the
latent frame's last video frame in the previous latent frame's camera (controls/camera.py, "od"
and "plucker" alike), so the pixel that ray lands on in the previous view is

    u' = fx·dx/dz + cx,  v' = fy·dy/dz + cy       (grid_sample: x = (h/w)·f·dx/dz, y = f·dy/dz, f = 1/tan(fovy/2))

and the warp is one bilinear `grid_sample` of the previous latent at (u', v'): exact for a turn
(rotation, any depth), the identity for a standing camera, and no help for translation (walking
needs depth, which the model has to supply). Pixels whose source lies outside the previous view
read 0, the latent mean: what a turn reveals is left for the model to make. The warp needs no
state of its own: the same function runs in training (`clip_inputs`) and in play (`step`), so
both see the same inputs.

    spec = warp_spec(controls_config)             # the bank's / checkpoint's control encoding
    cfg = replace(gen_cfg, **spec)                # warp_channel, warp_scales, warp_focal
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def warp_spec(controls: dict, frames_per_latent: int = 4) -> dict:
    """GeneratorConfig fields that warp the recycled latent for a camera control encoding
    (`controls`: {"camera": {"kind", "fovy_deg", "scales"}, ...} as a bank's info or a checkpoint
    stores it, kinds in channel order). ValueError without a camera."""
    from ..controls.camera import DEFAULT_SCALES
    from ..controls.encoding import ControlEncoders

    camera = controls.get("camera") if isinstance(controls, dict) else None
    if camera is None:
        kinds = ", ".join(sorted(controls)) if isinstance(controls, dict) and controls else "none"
        raise ValueError(f"the recycled-latent warp needs camera controls; these clips carry {kinds}")
    encoders = ControlEncoders(list(controls), 1, 1, controls)
    last = encoders.slices["camera"].start + 6 * (frames_per_latent - 1)   # the last video frame's [o|o×d, d]
    scales = [float(v) for v in camera.get("scales") or DEFAULT_SCALES[camera.get("kind", "od")]]
    fovy = float(camera.get("fovy_deg", 60.0))
    return {"warp_channel": last + 3, "warp_scales": tuple(scales[3:6]),
            "warp_focal": 1.0 / math.tan(math.radians(fovy) / 2.0)}


def warp_recycled(recycled: Tensor, controls: Tensor, channel: int, scales, focal: float) -> Tensor:
    """recycled (..., C, h, w) re-projected by the ray directions in controls[..., channel:channel+3]
    (scaled by 1/scales, as the encoders store them); same shape and dtype."""
    h, w = recycled.shape[-2:]
    d = controls[..., channel:channel + 3, :, :].float()
    sx, sy, sz = (float(s) for s in scales)             # Python constants: nothing made on the device per step
    z = d[..., 2, :, :] * sz
    ahead = z > 1e-3                                     # rays behind the old camera: nothing to read
    z = torch.where(ahead, z, torch.ones_like(z))
    gx = torch.where(ahead, d[..., 0, :, :] * sx / z * (focal * h / w), torch.full_like(z, 2.0))
    gy = torch.where(ahead, d[..., 1, :, :] * sy / z * focal, torch.full_like(z, 2.0))
    grid = torch.stack([gx, gy], dim=-1).reshape(-1, h, w, 2)
    flat = recycled.reshape(-1, *recycled.shape[-3:]).float()
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(recycled.shape).to(recycled.dtype)
