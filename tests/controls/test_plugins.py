"""Control plugin API: entry-point discovery, the contract checker, the registration fixture."""
from dataclasses import replace
from importlib import metadata

import pytest
import torch

from worldsim.controls import (Control, ControlError, PacketBuilder, available_controls, check_control,
                               get_control, idle_actions, validate_packet)
from worldsim.controls import registry
from worldsim.controls.testing import control_registry, registered_control  # noqa: F401  (fixture)


class ClockRig:
    """A tiny control: the tick counter, as a packet part {"t": float}."""

    def __init__(self, fps: float = 24.0):
        self.fps, self.n = fps, 0

    def tick(self, actions):
        self.n += 1
        return {"t": self.n / self.fps}

    def reset(self):
        self.n = 0


class ClockEncoder:
    def __init__(self, height, width):
        self.height, self.width, self.channels = height, width, 4

    def encode(self, parts):
        x = torch.zeros(4, self.height, self.width)
        for i, p in enumerate(parts):
            x[i] = p["t"]
        return x

    def reset(self):
        pass


CLOCK = Control("clock", {"fields": {"t": {"type": "float", "shape": []}}}, ClockRig, ClockEncoder)


def test_a_good_control_passes_the_checker_and_works_everywhere(control_registry):
    check_control(CLOCK)
    control_registry(CLOCK)
    assert "clock" in available_controls()
    b = PacketBuilder(["camera", "clock"], fps=12.0)
    p = b.tick(idle_actions())
    assert p["clock"] == {"t": 1 / 12}
    validate_packet(p, ["camera", "clock"])
    with pytest.raises(ControlError, match=r"packet\['clock'\]\['t'\]: nan is not finite"):
        validate_packet({"clock": {"t": float("nan")}}, ["clock"])


def test_the_fixture_unregisters_after_the_test():
    assert "clock" not in available_controls()
    with registered_control(CLOCK):
        assert get_control("clock") is CLOCK
    with pytest.raises(KeyError, match="unknown control 'clock'"):
        get_control("clock")


class WrongShape(ClockEncoder):
    def encode(self, parts):
        return torch.zeros(3, self.height, self.width)


class Drifting(ClockRig):
    runs = 0

    def __init__(self, fps: float = 24.0):
        super().__init__(fps)
        Drifting.runs += 1
        self.n = Drifting.runs


class NotMsgpack(ClockRig):
    def tick(self, actions):
        return {"t": (1.0,)}


@pytest.mark.parametrize("control, message", [
    (replace(CLOCK, name="my control"), "must be an identifier"),
    (replace(CLOCK, schema={"fields": {"t": {"type": "complex"}}}), "needs 'type' in"),
    (replace(CLOCK, make_encoder=WrongShape), r"encode returned torch.Size\(\[3, 4, 6\]\), expected \(4, 4, 6\)"),
    (replace(CLOCK, make_rig=Drifting), "reset|not deterministic"),
    (replace(CLOCK, make_rig=NotMsgpack), "expected float, got tuple"),
    ("not a control", "must be an identifier"),
])
def test_the_checker_names_what_breaks_the_contract(control, message):
    with pytest.raises(ControlError, match=message):
        check_control(control)


def test_builtin_controls_pass_the_checker():
    for name in ("camera", "pose", "actions"):
        check_control(get_control(name))


def test_controls_are_discovered_through_entry_points(monkeypatch):
    fake = metadata.EntryPoint(name="clockwork", value="tests_fake_module:CLOCK", group=registry.GROUP)
    monkeypatch.setattr(registry.metadata, "entry_points",
                        lambda group: [fake] if group == registry.GROUP else [])
    import sys
    import types
    module = types.ModuleType("tests_fake_module")
    module.CLOCK = CLOCK
    monkeypatch.setitem(sys.modules, "tests_fake_module", module)
    registry.refresh_controls()
    assert "clockwork" in available_controls() and "camera" in available_controls()
    assert get_control("clockwork") is CLOCK
    monkeypatch.undo()
    registry.refresh_controls()
    assert "clockwork" not in available_controls()
