"""A custom control plugin, registered in code (no package install): a compass heading from the turn keys.

    python examples/custom_control.py                     # check it, build packets, encode them

A control kind has two halves (docs/plugins.md): a rig in the game process turns named actions
into one small packet part per video frame; an encoder in the worker turns the parts into model
input channels. `check_control` runs worldsim's contract checker; `registered_control` puts it
in the registry, so `PacketBuilder` and the worker's `ControlEncoders` find it by name. The
packaged form (an entry point) is `plugins/worldsim-orbit`.
"""
from __future__ import annotations

import argparse

from worldsim.controls import Control, PacketBuilder, check_control, idle_actions, validate_packet
from worldsim.controls.encoding import ControlEncoders
from worldsim.controls.testing import registered_control

SCHEMA = {"fields": {"heading_deg": {"type": "float", "shape": []}}}


class CompassRig:
    """turn_left/turn_right (and the left stick x) turn the heading at `speed_deg` per second."""

    def __init__(self, fps: float = 24.0, speed_deg: float = 90.0):
        self.dt, self.speed = 1.0 / fps, speed_deg
        self.reset()

    def reset(self) -> None:
        self.heading = 0.0

    def tick(self, actions: dict[str, float]) -> dict:
        turn = actions.get("turn_right", 0.0) - actions.get("turn_left", 0.0) + actions.get("left_stick_x", 0.0)
        self.heading = (self.heading + turn * self.speed * self.dt) % 360.0
        return {"heading_deg": self.heading}


class CompassEncoder:
    """Each video frame's heading as (sin, cos), constant over the latent grid: 2 channels per frame."""

    def __init__(self, height: int, width: int, frames: int = 4):
        self.height, self.width, self.frames = height, width, frames
        self.channels = 2 * frames

    def reset(self) -> None:
        pass

    def encode(self, parts):
        import torch
        angles = torch.tensor([p["heading_deg"] for p in parts], dtype=torch.float32).deg2rad()
        angles = torch.cat([angles, angles[-1:].expand(self.frames - len(angles))])   # 1 frame: repeat it
        values = torch.stack([angles.sin(), angles.cos()], dim=1).reshape(-1)
        return values[:, None, None].expand(self.channels, self.height, self.width).clone()


COMPASS = Control("compass", SCHEMA, CompassRig, CompassEncoder, doc="a compass heading from the turn keys")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ticks", type=int, default=24, help="video frames to turn right")
    args = p.parse_args()

    check_control(COMPASS)                                      # rig, schema, encoder: or a ControlError
    print("check_control: ok")
    with registered_control(COMPASS):                           # findable by name until the block ends
        builder = PacketBuilder(["compass", "camera"], fps=24.0)     # with the built-in camera, as a game would
        turning = {**idle_actions(), "turn_right": 1.0}
        packets = [builder.tick(turning) for _ in range(args.ticks)]
        for packet in packets:
            validate_packet(packet, ["compass", "camera"])      # what the worker checks before a renderer
        encoders = ControlEncoders(["compass", "camera"], 8, 8)  # the worker side, per session
        channels = encoders.encode(packets[-4:])                # the last latent frame (4 video frames)
    print(f"after {args.ticks} frames turning right: heading {packets[-1]['compass']['heading_deg']:.1f} deg; "
          f"encoded {tuple(channels.shape)} (compass {encoders.slices['compass'].stop - encoders.slices['compass'].start}"
          f" + camera {encoders.encoders['camera'].channels} channels)")


if __name__ == "__main__":
    main()
