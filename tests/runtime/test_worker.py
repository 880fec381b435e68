"""The worker process under bad input, death and concurrency (real process, real ZMQ sockets)."""
from __future__ import annotations

import os
import signal
import time

import msgpack
import numpy as np
import pytest
import zmq

from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client, RequestError, WorkerDied, WorkerRestarted
from worldsim.runtime.process import WorkerProcess, WorkerStartError

OPTIONS = {"width": 64, "height": 48}
LEVEL = np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()


def camera(yaw_deg: float = 0.0) -> dict:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    rot_y = np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1.0]])
    return {"camera": {"c2w": (rot_y @ np.diag([1.0, -1.0, -1.0, 1.0])).ravel().tolist()}}


@pytest.fixture(scope="module")
def worker():
    process = WorkerProcess(["testpattern"], OPTIONS).start()
    yield process
    process.stop()


@pytest.fixture
def raw(worker):
    """A bare DEALER socket for sending malformed messages."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(worker.address)

    def exchange(frames: list) -> P.Message:
        sock.send_multipart(frames)
        assert sock.poll(5000), "worker did not answer"
        return P.decode(sock.recv_multipart())
    yield exchange
    sock.close(0)


def stream(client: Client, session, steps: int, start_tick: int = 0) -> list:
    results = []
    for k in range(steps):
        n = session.spec.frames_for_step(session.steps_sent)
        result = client.step(session, start_tick + k, [camera(k)] * n)
        assert result.error is None, result.error
        results.append(result)
    return results


@pytest.mark.parametrize("frames, fragment", [
    ([b"\xff\xfe garbage"], "at least 2 frames"),
    ([b"\x63", b"\x80"], "unknown message type"),
    ([bytes([P.MsgType.STEP]), b"\xc1\xc1 not msgpack"], "not valid msgpack"),
    ([bytes([P.MsgType.OPEN]), msgpack.packb({"rid": 1, "renderer": "testpattern", "seed": "seven"})], "must be int"),
    ([bytes([P.MsgType.OPEN]), msgpack.packb({"rid": 1, "renderer": "testpattern", "extra": 1})], "unknown field"),
    ([bytes([P.MsgType.STEP]), msgpack.packb({"rid": 1, "session": 1})], "missing field"),
    ([bytes([P.MsgType.PING]), msgpack.packb({"rid": 1, "pad": "x" * (P.MAX_HEADER_BYTES + 10)})], "exceeds"),
    ([bytes([P.MsgType.OPEN]), msgpack.packb({"rid": 1, "renderer": "nosuch"})], "not served here"),
    ([bytes([P.MsgType.FRAMES]), msgpack.packb({"rid": 1, "session": 1, "tick": 0, "step": 0, "frames": {}})], "does not accept FRAMES"),
])
def test_bad_messages_get_error_replies(raw, frames, fragment):
    reply = raw(frames)
    assert reply.type is P.MsgType.ERROR
    assert reply.header["code"] == "bad_request"
    assert fragment in reply.header["message"]


def test_wrong_version_and_unknown_session(raw):
    reply = raw(P.encode(P.MsgType.HELLO, {"rid": 5, "version": 999}))
    assert (reply.header["code"], reply.header["rid"]) == ("version", 5)
    reply = raw(P.encode(P.MsgType.STEP, {"rid": 6, "session": 4242, "tick": 0, "packets": [camera()]}))
    assert reply.header["code"] == "unknown_session"


def test_bad_input_never_stops_other_sessions(worker, raw):
    with Client.connect(worker.address) as good, Client.connect(worker.address) as bad:
        mine = good.open("testpattern", seed=1, controls=["camera"])
        stream(good, mine, 2)
        theirs = bad.open("testpattern", seed=2, controls=["camera"])
        # a session's bad packets are refused for that session only...
        for packets in ([{"camera": {"c2w": [float("nan")] * 16}}], [{"camera": {}}], ["not a map"], [camera()] * 3):
            result = bad.step(theirs, 0, packets)
            assert result.error is not None and result.error.code == "bad_request"
        # ...garbage on the wire from anyone is refused...
        assert raw([b"\x00\x01\x02"]).type is P.MsgType.ERROR
        # ...another client cannot drive or close my session...
        with pytest.raises(RequestError, match="unknown_session"):
            bad._request(P.MsgType.CLOSE, {"session": mine.id})
        # ...and my session keeps streaming, in order.
        results = stream(good, mine, 3, start_tick=10)
        assert [r.step for r in results] == [2, 3, 4]
        assert all(r.frames.shape == (4, 48, 64, 3) for r in results)


def test_bad_step_in_a_batch_spares_the_others(worker):
    with Client.connect(worker.address) as client:
        a = client.open("testpattern", seed=1, controls=["camera"])
        b = client.open("testpattern", seed=2, controls=["camera"])
        stream(client, a, 1), stream(client, b, 1)
        # both steps are pending together, so the worker batches them into one renderer call
        rid_a = client.submit_step(a, 1, [camera()] * 4)
        rid_b = client.submit_step(b, 1, [{"camera": {"c2w": [1.0] * 15}}] * 4)
        results = {}
        while len(results) < 2:
            results.update({r.rid: r for r in client.poll(5.0)})
        assert results[rid_a].error is None and results[rid_a].frames.shape == (4, 48, 64, 3)
        assert results[rid_b].error.code == "bad_request" and "c2w" in str(results[rid_b].error)


def test_two_clients_at_once_stay_in_order(worker):
    with Client.connect(worker.address) as one, Client.connect(worker.address) as two:
        s1 = one.open("testpattern", seed=1, controls=["camera"])
        s2 = two.open("testpattern", seed=2, controls=["camera"])
        one.submit_step(s1, 0, [camera()])
        two.submit_step(s2, 0, [camera()])
        for tick in range(1, 13, 4):           # pipelined: several steps of each in flight
            one.submit_step(s1, tick, [camera(tick)] * 4)
            two.submit_step(s2, tick, [camera(-tick)] * 4)
        got = {1: [], 2: []}
        while len(got[1]) < 4 or len(got[2]) < 4:
            for r in one.poll(0.5):
                got[1].append(r)
            for r in two.poll(0.5):
                got[2].append(r)
        for results in got.values():
            assert [r.tick for r in results] == [0, 1, 5, 9]
            assert [r.step for r in results] == [0, 1, 2, 3]
        # the two sessions rendered different worlds (different seeds), each its own
        assert not np.array_equal(got[1][1].frames, got[2][1].frames)


def test_killed_worker_is_detected_and_restarted():
    client = Client.spawn("testpattern", OPTIONS)
    try:
        session = client.open("testpattern", seed=3, controls=["camera"])
        first = stream(client, session, 2)[1].frames.copy()
        old_pid = client.process.pid
        client.submit_step(session, 5, [camera(1)] * 4)
        os.kill(old_pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(WorkerRestarted, match="sessions reopened"):
            while True:
                client.poll(0.2)
        assert time.monotonic() - t0 < 1.0 + 5.0   # detection (< 1 s) plus a fresh worker's start
        assert client.process.pid != old_pid and client.restarts == 1
        # the reopened session starts over from its first step and renders the same world
        again = stream(client, session, 2)
        assert again[0].step == 0
        np.testing.assert_array_equal(again[1].frames[0], first[0])
    finally:
        client.shutdown()


def test_remote_worker_death_detected_within_a_second():
    process = WorkerProcess(["testpattern"], OPTIONS).start()
    client = Client.connect(process.address)          # not our child: no sentinel, heartbeats only
    session = client.open("testpattern", controls=["camera"])
    stream(client, session, 1)
    process.proc.send_signal(signal.SIGSTOP)          # hung, not exited: only silence tells
    try:
        client.submit_step(session, 1, [camera()] * 4)
        t0 = time.monotonic()
        with pytest.raises(WorkerDied, match="silent"):
            while True:
                client.poll(0.1)
        assert time.monotonic() - t0 < 1.5
    finally:
        process.proc.send_signal(signal.SIGCONT)
        process.stop()


def test_startup_failure_is_reported_with_the_log():
    with pytest.raises(WorkerStartError, match="unknown renderer 'nosuch'"):
        WorkerProcess(["nosuch"]).start()


def test_worker_dies_with_its_parent(tmp_path):
    """A parent killed with SIGKILL takes its worker down (PDEATHSIG)."""
    import subprocess
    import sys
    code = ("from worldsim.runtime.process import WorkerProcess; import time, sys\n"
            f"w = WorkerProcess(['testpattern'], {OPTIONS!r}).start(); print(w.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(worker_pid, signal.SIGKILL)
    pytest.fail("worker outlived its parent")


def test_shared_memory_frames_equal_inline_frames():
    spawned = Client.spawn("testpattern", OPTIONS)          # our own worker: frames come through shm slots
    try:
        remote = Client.connect(spawned.address)           # same worker as a plain client: inline payloads
        a = spawned.open("testpattern", seed=4, controls=["camera"])
        b = remote.open("testpattern", seed=4, controls=["camera"])
        assert a.slots is not None and b.slots is None
        for x, y in zip(stream(spawned, a, 6), stream(remote, b, 6)):
            np.testing.assert_array_equal(x.frames, y.frames)
        assert len(a.slots.free) == a.slots.slots          # every slot came back
        remote.shutdown()
    finally:
        spawned.shutdown()


def test_curve_server_accepts_only_allowed_clients(tmp_path):
    import shutil as sh
    import threading
    from worldsim.runtime.security import make_keys
    from worldsim.runtime.testpattern import TestPatternRenderer
    from worldsim.runtime.worker import Worker
    make_keys(tmp_path, "server")
    make_keys(tmp_path, "alice")
    make_keys(tmp_path, "mallory")
    (tmp_path / "clients").mkdir()
    sh.copy(tmp_path / "alice.key", tmp_path / "clients")
    worker = Worker("tcp://127.0.0.1:*", {"testpattern": TestPatternRenderer(64, 48)}, curve_dir=str(tmp_path))
    worker.start_io()
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    try:
        with Client.connect(worker.address, curve=(str(tmp_path), "alice")) as alice:
            session = alice.open("testpattern", controls=["camera"])
            assert stream(alice, session, 2)[1].frames.shape == (4, 48, 64, 3)
        with pytest.raises(WorkerDied, match="allows this client's key"):
            Client.connect(worker.address, curve=(str(tmp_path), "mallory"))
    finally:
        worker.stop()
        thread.join(5)


def test_serve_refuses_public_addresses_in_the_clear():
    from worldsim.errors import WorldsimUserError
    from worldsim.runtime.commands import check_bind_address
    check_bind_address("tcp://127.0.0.1:5555")
    check_bind_address("ipc:///tmp/x.sock")
    with pytest.raises(WorldsimUserError, match="--curve"):
        check_bind_address("tcp://0.0.0.0:5555")
    check_bind_address("tcp://0.0.0.0:5555", curve="keys/")
