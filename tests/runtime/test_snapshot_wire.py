"""Snapshots over the protocol: a worker process sends a session's state and takes it back, bit-exact."""
from __future__ import annotations

import numpy as np
import pytest

import worldsim
from worldsim.errors import WorldsimUserError
from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client, RequestError
from worldsim.runtime.process import WorkerProcess
from worldsim.snapshot import FORMAT, dumps, loads

MOVES = [{"move_forward": 1.0, "look_dx": 3.0}, {"turn_left": 1.0}, {"strafe_right": 1.0, "look_dy": -2.0}]


@pytest.fixture(scope="module")
def reference():
    process = WorkerProcess(["reference"], {"width": 32, "height": 32}).start()
    yield process
    process.stop()


def _check_round_trip(world, tmp_path):
    world.step({})
    world.step({"move_forward": 1.0})
    snap = world.snapshot()
    after = [world.step(m) for m in MOVES]
    world.restore(snap)
    assert world.steps == 2
    assert all(np.array_equal(a, world.step(m)) for a, m in zip(after, MOVES))
    world.save_snapshot(tmp_path / "snap.safetensors")      # the file form is the same
    world.reset(seed=world.seed + 1)
    world.step({})
    world.restore(worldsim.load_snapshot(tmp_path / "snap.safetensors"))
    assert world.steps == 5


def test_a_connected_world_snapshots_and_restores_bit_exact(reference, tmp_path):
    with worldsim.open("reference", connect=reference.address, seed=1) as world:
        _check_round_trip(world, tmp_path)


def test_an_in_process_snapshot_restores_on_a_worker_and_back(reference):
    with worldsim.open("reference", size=(32, 32), seed=2, in_process=True) as here:
        here.step({})
        snap = here.snapshot()
        expected = [here.step(m) for m in MOVES]
    with worldsim.open("reference", connect=reference.address, seed=5) as there:
        there.restore(snap)                                  # another seed: reopened on the snapshot's
        assert there.seed == 2
        assert all(np.array_equal(a, there.step(m)) for a, m in zip(expected, MOVES))


def test_bad_snapshots_are_coded_errors_and_the_worker_serves_on(reference):
    with Client.connect(reference.address) as client:
        session = client.open("reference", seed=1, controls=["camera"])
        good = client.snapshot(session)
        assert loads(good)["renderer"] == "reference"
        wrong = loads(good)
        cases = {b"": "not a worldsim snapshot", b"\x00" * 64: "not a worldsim snapshot",
                 good[:-7] + b"garbage": "not a worldsim snapshot",
                 dumps({**wrong, "renderer": "aapt"}): "the snapshot is of aapt 32x32, this session is reference 32x32",
                 dumps({**wrong, "size": [64, 32]}): "is of reference 64x32",
                 dumps({**wrong, "format": 99}): "not a session snapshot",
                 dumps({**wrong, "steps": -1}): "bad step count",
                 dumps({**wrong, "session": {"nope": 1}}): "does not fit"}
        for data, fragment in cases.items():
            with pytest.raises(RequestError, match=fragment) as err:
                client.restore(session, data)
            assert err.value.code == "bad_request"
        with pytest.raises(ValueError, match="exceeds"):
            client.restore(session, bytes(P.MAX_SNAPSHOT_BYTES + 1))
        with pytest.raises(RequestError, match="unknown_session"):
            client.snapshot(type(session)(9999, "reference", session.spec))
        assert client.restore(session, good) == 0                  # the session was left as it was
        packets = [{"camera": {"c2w": np.diag([1.0, -1, -1, 1]).ravel().tolist()}}]
        assert client.step(session, 0, packets).error is None


def test_a_spectator_may_snapshot_but_not_restore(reference):
    with Client.connect(reference.address) as owner, Client.connect(reference.address) as watcher:
        session = owner.open("reference", seed=3, controls=["camera"])
        watched = watcher.join(session.token)
        data = watcher.snapshot(watched)
        assert loads(data)["format"] == FORMAT
        with pytest.raises(RequestError, match="forbidden"):
            watcher.restore(watched, data)
        with worldsim.open(connect=reference.address, join=session.token) as spectator:
            with pytest.raises(WorldsimUserError, match="spectator"):
                spectator.restore(spectator.snapshot())


def test_aapt_tiny_over_the_wire_is_bit_exact(tmp_path):
    process = WorkerProcess(["aapt"], {"preset": "tiny", "device": "cpu"}).start()
    try:
        with worldsim.open("aapt", connect=process.address, seed=3) as world:
            _check_round_trip(world, tmp_path)
    finally:
        process.stop()
