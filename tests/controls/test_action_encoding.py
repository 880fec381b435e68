"""Discrete actions -> multi-hot + mouse per video frame -> one vector per latent frame."""
import pytest
import torch

from worldsim.controls import BUTTONS, ControlError, PacketBuilder, idle_actions
from worldsim.controls.action_encoding import ActionEncoder, action_vector
from worldsim.controls.encoding import ControlEncoders, control_channels


def test_action_vector_is_multi_hot_keys_plus_scaled_mouse_per_frame():
    parts = [{"keys": ["move_forward", "sprint"], "mouse": [10.0, -400.0]}, {"keys": [], "mouse": [0.0, 0.0]}]
    v = action_vector(parts, frames=4, mouse_scale=20.0, mouse_clip=5.0).reshape(4, 16)
    assert v[0, BUTTONS.index("move_forward")] == 1 and v[0, BUTTONS.index("sprint")] == 1
    assert v[0, :14].sum() == 2 and v[1:, :14].sum() == 0
    assert v[0, 14:].tolist() == [0.5, -5.0]                            # dx / 20, dy clipped
    assert torch.all(v[2:] == 0)


def test_encoder_gives_zeros_for_the_first_latent_frame_then_constant_planes():
    b, enc = PacketBuilder(["actions"]), ActionEncoder(3, 5)
    first = enc.encode([b.tick(idle_actions() | {"jump": 1.0})["actions"]])
    assert first.shape == (64, 3, 5) and torch.all(first == 0)
    x = enc.encode([b.tick(idle_actions() | {"jump": 1.0, "look_dx": 4.0})["actions"] for _ in range(4)])
    assert torch.all(x == x[:, :1, :1])                                 # constant over the grid
    assert x[BUTTONS.index("jump"), 0, 0] == 1 and x[14, 0, 0] == pytest.approx(0.2)
    enc.reset()
    assert torch.all(enc.encode([{"keys": ["jump"], "mouse": [1.0, 1.0]}]) == 0)


def test_control_encoders_concatenate_kinds_in_order():
    kinds = ["camera", "pose", "actions"]
    b = PacketBuilder(kinds)
    enc = ControlEncoders(kinds, 4, 6, config={"camera": {"kind": "plucker", "fovy_deg": 70.0}})
    assert enc.channels == 25 + 68 + 64 == control_channels(kinds)
    assert enc.slices["pose"] == slice(25, 93)
    x0 = enc.encode([b.tick(idle_actions())])
    x1 = enc.encode([b.tick(idle_actions() | {"move_forward": 1.0}) for _ in range(4)])
    assert x0.shape == x1.shape == (157, 4, 6)
    assert torch.all(x0[24] == 1) and torch.all(x1[24] == 0)
    assert enc.encoders["camera"].kind == "plucker"
    with pytest.raises(ControlError, match="not in"):
        ControlEncoders(["camera"], 4, 4, config={"pose": {}})
    with pytest.raises(TypeError):
        ControlEncoders(["camera"], 4, 4, config={"camera": {"warp": 2}})
