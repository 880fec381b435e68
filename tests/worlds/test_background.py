"""The reference renderer starts on the eager kernels while the CPU packages build in the
background, switches when they are ready (same frames), and stays eager if the build fails."""
from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from worldsim.controls.packets import PacketBuilder
from worldsim.worlds import background
from worldsim.worlds.raymarch import EAGER
from worldsim.worlds.renderer import ReferenceRenderer


def _packets(n):
    builder = PacketBuilder(["camera"], mode="walk")
    return [builder.tick({"move_forward": 1.0, "look_yaw": 0.3}) for _ in range(n)]


def _counting_kernels(calls):
    """EAGER under another name, counting calls: what the packages would be, minus the build."""
    def wrap(fn):
        def counted(*args):
            calls.append(fn.__name__)
            return fn(*args)
        return counted
    return SimpleNamespace(march_chunk=wrap(EAGER.march_chunk), bisect=wrap(EAGER.bisect), shade=wrap(EAGER.shade))


@pytest.fixture
def slow_build(monkeypatch):
    """A build that finishes only when the test says so; no package on disk."""
    monkeypatch.setattr(background, "packages_ready", lambda *a: False)
    monkeypatch.setattr(background, "_shared", None)
    done, calls, log = threading.Event(), [], io.StringIO()
    shared = background.BackgroundKernels(build=done.wait, load=lambda: _counting_kernels(calls), log=log)
    monkeypatch.setattr(background, "_shared", shared)
    return SimpleNamespace(done=done, calls=calls, log=log, shared=shared)


def test_renders_eagerly_before_the_build_then_switches(slow_build):
    r = ReferenceRenderer(width=64, height=64, compile=True)
    eager = ReferenceRenderer(width=64, height=64, compile=False)
    s, e = r.open(3), eager.open(3)
    packets = _packets(9)
    first = r.step([s], [packets[:1]])[0]                  # the build has not finished: eager
    assert slow_build.calls == [] and r.kernels is EAGER and slow_build.log.getvalue() == ""
    slow_build.done.set()
    slow_build.shared.thread.join()
    switched = r.step([s], [packets[1:5]])[0]              # now the "packages"
    assert slow_build.calls, "the built kernels were not used after the build"
    later = r.step([s], [packets[5:9]])[0]
    lines = slow_build.log.getvalue().splitlines()
    assert len(lines) == 1 and "switching from eager" in lines[0]
    reference = np.concatenate([eager.step([e], [packets[:1]])[0], eager.step([e], [packets[1:5]])[0],
                                eager.step([e], [packets[5:9]])[0]])
    assert np.array_equal(np.concatenate([first, switched, later]), reference)


def test_failed_build_stays_eager_and_says_so_once(monkeypatch):
    monkeypatch.setattr(background, "packages_ready", lambda *a: False)

    def broken():
        raise RuntimeError("no compiler")
    log = io.StringIO()
    shared = background.BackgroundKernels(build=broken, load=lambda: pytest.fail("loaded after a failed build"),
                                          log=log)
    shared.thread.join()
    monkeypatch.setattr(background, "_shared", shared)
    r = ReferenceRenderer(width=64, height=64, compile=True)
    s = r.open(3)
    packets = _packets(9)
    r.step([s], [packets[:1]])
    r.step([s], [packets[1:5]])
    r.step([s], [packets[5:9]])
    assert r.kernels is EAGER
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and "failed" in lines[0] and "no compiler" in lines[0] and "eager" in lines[0]


def test_cached_packages_load_at_once_without_a_build(monkeypatch):
    monkeypatch.setattr(background, "packages_ready", lambda *a: True)
    monkeypatch.setattr(background, "BackgroundKernels", lambda *a, **k: pytest.fail("built with a cache"))
    import worldsim.worlds.compiled as compiled
    monkeypatch.setattr(compiled, "packaged_kernels", lambda *a, **k: "packages")
    assert background.kernels_soon("cpu", True).current() == "packages"
    assert background.kernels_soon("cpu", False).current() is EAGER


@pytest.mark.skipif(not background.packages_ready(), reason="CPU kernel packages not built on this machine")
def test_packaged_frames_equal_eager_frames():
    packaged = ReferenceRenderer(width=64, height=64, compile=True)
    eager = ReferenceRenderer(width=64, height=64, compile=False)
    assert packaged.kernels is not EAGER
    packets = _packets(9)
    for seed in (0, 5):
        s, e = packaged.open(seed), eager.open(seed)
        for chunk in (packets[:1], packets[1:5], packets[5:9]):
            assert np.array_equal(packaged.step([s], [chunk])[0], eager.step([e], [chunk])[0])
