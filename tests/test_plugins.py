"""One plugin registry (worldsim.plugins): discovery through entry points (fake metadata, no
install), lazy loading, one-line errors, plugin CLI commands, and the renderer checker."""
from __future__ import annotations

import sys
import types
from dataclasses import replace
from importlib import metadata

import numpy as np
import pytest

import worldsim
from worldsim import plugins
from worldsim.cli import main
from worldsim.controls import get_control
from worldsim.errors import WorldsimUserError
from worldsim.rendering import RendererContractError, RendererError, check_renderer
from worldsim.runtime.registry import available_renderers, create_renderer
from worldsim.runtime.testpattern import TestPatternRenderer
from worldsim.testing import renderer_registry, registered_renderer  # noqa: F401  (fixture)


@pytest.fixture
def entry_points(monkeypatch):
    """Install fake entry points: entry_points({group: {name: "module:attr"}}); counts the scans per group."""
    scans: dict[str, int] = {}

    def install(table: dict[str, dict[str, str]]):
        def fake(group):
            scans[group] = scans.get(group, 0) + 1
            return [metadata.EntryPoint(name=n, value=v, group=group) for n, v in table.get(group, {}).items()]
        monkeypatch.setattr(metadata, "entry_points", fake)
        plugins.refresh()
        return scans
    yield install
    monkeypatch.undo()
    plugins.refresh()


@pytest.fixture
def fake_module(monkeypatch):
    def make(name: str, **attrs):
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
        return module
    return make


def small_testpattern(**options):
    return TestPatternRenderer(**({"width": 32, "height": 24} | options))


def test_a_renderer_is_discovered_once_and_imported_only_when_asked(entry_points, fake_module):
    scans = entry_points({"worldsim.renderers": {"tiny": "fake_renderers:small_testpattern",
                                                 "later": "module_that_is_never_imported:X"}})
    fake_module("fake_renderers", small_testpattern=small_testpattern)
    assert {"tiny", "later"} <= set(available_renderers()) and "tiny" in worldsim.available_renderers()
    renderer = create_renderer("tiny", width=40)
    assert (renderer.spec.width, renderer.spec.height) == (40, 24)
    create_renderer("tiny")
    assert scans["worldsim.renderers"] == 1                       # one scan per process
    assert "module_that_is_never_imported" not in sys.modules     # listed, never loaded


def test_an_unknown_name_is_one_line_listing_what_is_available(entry_points):
    entry_points({"worldsim.renderers": {"tiny": "fake_renderers:small_testpattern"}})
    with pytest.raises(WorldsimUserError,
                       match=r"^unknown renderer 'nope'; available: aapt, reference, split, testpattern, tiny$"):
        create_renderer("nope")
    with pytest.raises(KeyError) as err:                          # older callers catch KeyError
        get_control("smell")
    assert str(err.value).startswith("unknown control 'smell'; available: actions, camera, pose")


def test_the_builtin_renderers_resolve_without_an_install(entry_points):
    """A source checkout on PYTHONPATH (no package metadata, e.g. a GPU server's image) still has
    worldsim's own renderers; the table is the one pyproject.toml declares."""
    import tomllib
    from pathlib import Path
    entry_points({})
    assert set(available_renderers()) == {"aapt", "reference", "split", "testpattern"}
    assert create_renderer("testpattern", width=32, height=24).spec.width == 32
    declared = tomllib.loads((Path(worldsim.__file__).parent.parent / "pyproject.toml").read_text())
    assert declared["project"]["entry-points"]["worldsim.renderers"] == plugins.BUILTIN_RENDERERS


def test_an_entry_that_does_not_import_names_itself_and_why(entry_points, capsys):
    entry_points({"worldsim.renderers": {"broken": "no_such_plugin_module:Renderer"}})
    with pytest.raises(plugins.PluginLoadError,
                       match=r"renderer 'broken' \(no_such_plugin_module:Renderer\) failed to load: "
                             r"ModuleNotFoundError: No module named 'no_such_plugin_module'"):
        create_renderer("broken")
    assert main(["plugins", "check-renderer", "broken"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("worldsim: error: renderer 'broken'") and err.count("\n") == 1


def test_registered_in_code_wins_and_the_fixture_cleans_up(renderer_registry):
    renderer_registry("testpattern", small_testpattern)
    assert create_renderer("testpattern").spec.width == 32
    with worldsim.open("testpattern", in_process=True) as world:
        assert world.step({}).shape == (1, 24, 32, 3)
    with registered_renderer("testpattern", "worldsim.runtime.testpattern:TestPatternRenderer"):
        assert create_renderer("testpattern").spec.width == 736
    assert create_renderer("testpattern").spec.width == 32        # the outer registration is back


def test_the_fixture_unregistered_after_the_last_test():
    assert create_renderer("testpattern").spec.width == 736


def add_hello(subparsers):
    p = subparsers.add_parser("hello", help="say hello")
    p.add_argument("--name", default="world")
    p.set_defaults(func=lambda args: print(f"hello {args.name}"))


def describe():                                   # a plugin that only describes itself (like worldsim-ttt)
    return {"name": "quiet"}


def test_plugin_commands_are_looked_up_only_for_a_command_that_is_not_built_in(entry_points, fake_module, capsys):
    entry_points({"worldsim.plugins": {"hello": "fake_plugin:add_hello", "quiet": "fake_plugin:describe"}})
    calls = []
    fake_module("fake_plugin", add_hello=lambda sub: calls.append(add_hello(sub)), describe=describe)
    assert main(["hello", "--name", "you"]) == 0 and len(calls) == 1
    assert capsys.readouterr().out == "hello you\n"
    assert main(["plugins", "list"]) == 0 and len(calls) == 1   # built in: plugins listed, not called
    out = capsys.readouterr().out
    assert "plugin    hello          fake_plugin:add_hello\nplugin    quiet          fake_plugin:describe" in out
    assert "control   camera         worldsim.controls.builtin:CAMERA (built in)" in out
    with pytest.raises(SystemExit):
        main(["hello-typo"])
    assert "invalid choice: 'hello-typo'" in capsys.readouterr().err


def test_a_broken_plugin_does_not_hide_the_others_and_explains_an_unknown_command(entry_points, fake_module, capsys):
    entry_points({"worldsim.plugins": {"hello": "fake_plugin:add_hello", "broken": "no_such_plugin_module:add"}})
    fake_module("fake_plugin", add_hello=add_hello)
    assert main(["hello"]) == 0 and capsys.readouterr().out == "hello world\n"
    assert main(["goodbye"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'goodbye'; plugin 'broken' (no_such_plugin_module:add) failed" in err


# --- check_renderer ---------------------------------------------------------------------------------

def test_the_builtin_renderers_pass_the_checker():
    assert check_renderer(TestPatternRenderer, {"width": 32, "height": 24}).spec.name == "testpattern"
    check_renderer(small_testpattern())                   # an instance too
    check_renderer(worldsim.plugins.renderers.get("reference"), {"width": 32, "height": 24}, steps=2)


class ZeroWide(TestPatternRenderer):
    def __init__(self):
        super().__init__(32, 24)
        self.spec = replace(self.spec, width=0, control_kinds={"camera": {}, "smell": {}})


class TupleInfo(TestPatternRenderer):
    def __init__(self):
        super().__init__(32, 24)
        self.spec = replace(self.spec, info={"size": (32, 24)})


class StepWithoutPackets(TestPatternRenderer):
    def step(self, states):
        return []


class FloatFrames(TestPatternRenderer):
    def step(self, states, packets):
        return [f.astype(np.float32) for f in super().step(states, packets)]


class Lenient(TestPatternRenderer):
    def step(self, states, packets):
        return super().step(states, [p[:self.spec.frames_for_step(s.steps)] for s, p in zip(states, packets)])


class OneForAll(TestPatternRenderer):
    def step(self, states, packets):
        return super().step(states, packets)[:1]


class NoSpec:
    def open(self, seed, prompt="", first_frame=None, controls=()): ...
    def step(self, states, packets): ...


@pytest.mark.parametrize("renderer, message", [
    (ZeroWide, r"spec.width must be a positive int, got 0; spec.control_kinds names unknown controls \['smell'\]"),
    (TupleInfo, "does not survive a msgpack round trip"),
    (StepWithoutPackets, r"step\(states\) cannot be called as step\(states, packets\)"),
    (FloatFrames, r"step 0 must return uint8 arrays \(1, 24, 32, 3\) \(frames, height, width, RGB\), got float32"),
    (Lenient, "step 1 with 5 packets per session \\(it takes 4\\) must raise worldsim.rendering.RendererError"),
    (OneForAll, r"step 0 must return one frame array per session \(2\), got 1"),
    (NoSpec, r"missing method close\(state\); spec must be a worldsim.rendering.RendererSpec, got NoneType"),
    (lambda: 1 / 0, "building it with {} raised ZeroDivisionError"),
])
def test_the_checker_names_what_breaks_the_protocol_in_one_line(renderer, message):
    options = {"width": 32, "height": 24} if renderer in (StepWithoutPackets, FloatFrames, Lenient, OneForAll) else None
    with pytest.raises(RendererContractError, match=message) as err:
        check_renderer(renderer, options)
    assert "\n" not in str(err.value) and isinstance(err.value, WorldsimUserError)


def test_renderer_error_is_the_bad_request_signal():
    r = small_testpattern()
    state = r.open(0, controls=["camera"])
    with pytest.raises(RendererError) as err:
        r.step([state], [[]])
    assert err.value.index == 0


def test_check_renderer_command(capsys):
    assert main(["plugins", "check-renderer", "testpattern", "--size", "32x24", "--steps", "2"]) == 0
    assert capsys.readouterr().out.startswith("testpattern: ok (32x24, controls camera")
    assert main(["plugins", "check-renderer", "testpattern", "--size", "big"]) == 2
    assert "--size must look like 64x48" in capsys.readouterr().err
