"""The control contract: what a control kind (built-in or plugin) provides.

    Control(
        name="orbit",
        schema={...},                      # packet schema (worldsim.controls.schema), msgpack-able
        make_rig=OrbitRig,                 # client side: rig.tick(actions) -> part (dict); rig.reset()
        make_encoder=OrbitEncoder,         # worker side: make_encoder(height, width, **config) -> encoder
        check=None,                        # optional extra validation of one part (raise ControlError)
    )

An encoder serves one session: `encoder.channels` (int), `encoder.encode(parts) -> Tensor[C, h, w]`
for the parts of the video frames of one latent frame (1 for latent frame 0, then 4), on the
latent grid (h, w) given to make_encoder, and `encoder.reset()`. It reads packets only.
`check_control(control)` runs the whole contract; plugin authors run it in their tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import msgpack

from .actions import idle_actions
from .schema import ControlError, check_schema, validate_part


@dataclass(frozen=True)
class Control:
    name: str
    schema: dict
    make_rig: Callable[..., Any]
    make_encoder: Callable[..., Any]
    check: Callable[[dict], None] | None = None
    doc: str = ""

    def validate(self, part: object) -> None:
        validate_part(self.name, part, self.schema)
        if self.check is not None:
            self.check(part)


def check_control(control: Any, height: int = 4, width: int = 6, latent_frames: int = 3) -> None:
    """Verify the control contract end to end; raise ControlError listing what is wrong.

    Builds a rig with default options, ticks it on idle and on busy actions, validates and
    msgpack-round-trips every part, then encodes latent frames (1 part, then 4 parts each) and
    checks shape (channels, height, width), dtype, finiteness and determinism."""
    import torch

    problems: list[str] = []
    name = getattr(control, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ControlError(f"control name must be an identifier string, got {name!r}")
    for attr in ("schema", "make_rig", "make_encoder", "validate"):
        if not hasattr(control, attr):
            problems.append(f"missing attribute {attr!r}")
    if problems:
        raise ControlError(f"control {name!r} breaks the contract: " + "; ".join(problems))
    check_schema(name, control.schema)
    try:
        msgpack.packb(control.schema)
    except (TypeError, ValueError) as e:
        raise ControlError(f"control {name!r}: schema is not msgpack-able: {e}") from None

    busy = idle_actions() | {"move_forward": 1.0, "turn_left": 1.0, "look_dx": 3.0, "left_stick_x": 0.5}

    def roll() -> list[dict]:
        rig = control.make_rig()
        parts = []
        for i in range(1 + 4 * (latent_frames - 1)):
            part = rig.tick(busy if i % 2 else idle_actions())
            control.validate(part)
            if msgpack.unpackb(msgpack.packb(part)) != part:
                raise ControlError(f"control {name!r}: part does not survive a msgpack round trip: {part!r}")
            parts.append(part)
        rig.reset()
        if rig.tick(idle_actions()) != parts[0]:
            problems.append("rig.reset() does not bring the rig back to its start")
        return parts

    def encode(parts: list[dict]) -> list:
        enc = control.make_encoder(height, width)
        groups = [parts[:1]] + [parts[1 + 4 * k: 5 + 4 * k] for k in range(latent_frames - 1)]
        out = []
        for g in groups:
            x = enc.encode(g)
            want = (enc.channels, height, width)
            if not isinstance(x, torch.Tensor) or tuple(x.shape) != want:
                raise ControlError(f"control {name!r}: encode returned {getattr(x, 'shape', type(x))}, expected {want}")
            if not x.is_floating_point() or not torch.isfinite(x).all():
                problems.append("encode must return finite floating-point values")
            out.append(x)
        return out

    parts = roll()
    if roll() != parts:
        problems.append("the rig is not deterministic: two rollouts of the same actions differ")
    first, again = encode(parts), encode(parts)
    if any(not torch.equal(a, b) for a, b in zip(first, again)):
        problems.append("the encoder is not deterministic: encoding the same parts twice differs")
    if problems:
        raise ControlError(f"control {name!r} breaks the contract: " + "; ".join(problems))
