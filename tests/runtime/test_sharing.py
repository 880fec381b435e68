"""Shared sessions: spectators join with a token, watch, leave, take control (real worker process)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import worldsim
from worldsim.errors import WorldsimUserError
from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client, RequestError
from worldsim.runtime.process import WorkerProcess, local_address
from worldsim.runtime.testpattern import TestPatternRenderer
from worldsim.runtime.worker import Worker

C2W = np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()


@pytest.fixture(scope="module")
def worker():
    process = WorkerProcess(["testpattern"], {"width": 32, "height": 24}).start()
    yield process
    process.stop()


@pytest.fixture
def clients(worker):
    made = []

    def make():
        made.append(Client.connect(worker.address))
        return made[-1]
    yield make
    for client in made:
        client.shutdown()


def step(client, session, tick=0):
    packets = [{"camera": {"c2w": C2W}}] * session.spec.frames_for_step(session.steps_sent)
    result = client.step(session, tick, packets)
    assert result.error is None, result.error
    return result


def test_a_spectator_sees_every_frame_the_controller_renders_and_cannot_step(clients):
    controller, spectator = clients(), clients()
    session = controller.open("testpattern", seed=4, controls=["camera"])
    step(controller, session)
    watched = spectator.join(session.token)
    assert (watched.id, watched.role, watched.steps_sent, watched.seed) == (session.id, "spectator", 1, 4)
    sent = [step(controller, session, k).frames.copy() for k in range(1, 4)]
    got = []
    while len(got) < 3:
        got += spectator.frames(watched, timeout=5)
    assert [r.step for r in got] == [1, 2, 3]
    assert all(np.array_equal(a, r.frames) for a, r in zip(sent, got))
    refused = spectator.step(watched, 9, [{"camera": {"c2w": C2W}}] * 4)
    assert refused.error.code == "forbidden" and "spectator" in str(refused.error)
    with pytest.raises(RequestError, match="forbidden"):
        spectator.restore(watched, b"x")
    step(controller, session, 4)                           # the controller goes on unharmed


@pytest.mark.parametrize("token, code, fragment", [
    ("nonsense", "bad_request", "looks like 'ID.SECRET'"),
    ("{sid}.wrong-secret", "forbidden", "wrong join token"),
    ("99999.abc", "unknown_session", "no session 99999"),
])
def test_a_bad_join_token_is_a_coded_error(clients, token, code, fragment):
    controller, stranger = clients(), clients()
    session = controller.open("testpattern", controls=["camera"])
    with pytest.raises(RequestError, match=fragment) as err:
        stranger.join(token.format(sid=session.id))
    assert err.value.code == code
    with pytest.raises(RequestError, match="controls session"):
        controller.join(session.token)
    step(controller, session)


def test_leaving_and_joining_mid_stream(clients):
    controller, spectator = clients(), clients()
    session = controller.open("testpattern", controls=["camera"])
    watched = spectator.join(session.token)
    step(controller, session)
    assert [r.step for r in spectator.frames(watched, timeout=5)] == [0]
    spectator.close(watched)                               # leaves; the session goes on
    assert watched not in spectator.watching
    step(controller, session, 1)
    again = spectator.join(session.token)                   # and back, from the step it is at
    assert again.steps_sent == 2
    step(controller, session, 2)
    assert [r.step for r in spectator.frames(again, timeout=5)] == [2]
    controller.close(session)                              # the controller leaves: the session ends
    with pytest.raises(RequestError, match="closed by its controller"):
        spectator.frames(again, timeout=5)


def test_the_controller_hands_control_to_a_spectator(clients):
    controller, first, second = clients(), clients(), clients()
    session = controller.open("testpattern", controls=["camera"])
    a, b = first.join(session.token), second.join(session.token)
    step(controller, session)
    with pytest.raises(RequestError, match="no spectator 12345"):
        controller.handover(session, to=12345)
    viewer = controller.handover(session, to=b.viewer)      # to the second spectator
    assert session.role == "spectator" and viewer > b.viewer
    deadline = time.monotonic() + 5
    while b.role != "controller" and time.monotonic() < deadline:
        second.frames(b, timeout=0.1)
    assert b.role == "controller" and b.steps_sent == 1
    result = step(second, b, 1)
    assert result.step == 1
    assert [r.step for r in controller.frames(session, timeout=5)] == [1]     # the old controller watches
    assert [r.step for r in first.frames(a, timeout=5)][-1] == 1
    refused = controller.step(session, 2, [{"camera": {"c2w": C2W}}] * 4)
    assert refused.error.code == "forbidden"


def test_a_spectator_that_stops_reading_does_not_stall_the_controller(clients):
    controller, slow = clients(), clients()
    session = controller.open("testpattern", controls=["camera"])
    watched = slow.join(session.token)
    t0 = time.monotonic()
    for k in range(40):                                    # the spectator reads nothing meanwhile
        step(controller, session, k)
    assert time.monotonic() - t0 < 20
    got = []
    deadline = time.monotonic() + 5
    while (not got or got[-1].step != 39) and time.monotonic() < deadline:
        got += slow.frames(watched, timeout=0.5)
    steps = [r.step for r in got]
    assert steps[-1] == 39 and steps == sorted(steps)      # in order, the newest kept
    assert len(steps) <= 2 + P.SPECTATOR_QUEUE             # the window in flight + what the worker kept
    assert watched.dropped == 40 - len(steps)              # every step is received or counted


def test_a_vanished_spectator_leaves(clients):
    controller, spectator = clients(), clients()
    session = controller.open("testpattern", controls=["camera"])
    spectator.join(session.token)
    spectator.shutdown()                                   # gone without a word... (shutdown leaves)
    vanishing = Client.connect(controller.address)
    vanishing.join(session.token)
    vanishing._sock.close(0)                               # ... and really without a word
    # The disconnect reaches the worker asynchronously (socket monitor); a handover sent before it
    # arrives would go to the ghost (which then ends the session as a vanished controller). Give the
    # event time to land on a loaded machine before asking.
    time.sleep(0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            controller.handover(session)
        except RequestError as err:
            if "no spectator" in str(err):
                break
        time.sleep(0.1)
    else:
        pytest.fail("the vanished spectator still watches")
    step(controller, session)


def test_a_silent_spectator_leaves_after_the_idle_time():
    worker = Worker(local_address(), {"testpattern": TestPatternRenderer(32, 24)}, session_idle_s=0.3)
    worker.start_io()
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    try:
        with Client.connect(worker.address) as controller, Client.connect(worker.address) as silent:
            session = controller.open("testpattern", controls=["camera"])
            watched = silent.join(session.token)
            deadline = time.monotonic() + 10
            while worker.watching and time.monotonic() < deadline:
                controller.ping()                          # the controller keeps talking
                time.sleep(0.1)
            assert not worker.watching and not worker.sessions[session.id].audience
            with pytest.raises(RequestError, match="silent for 0.3 s"):
                silent.frames(watched, timeout=5)
            step(controller, session)
    finally:
        worker.stop()
        thread.join(5)


def test_worlds_share_a_session(worker):
    with worldsim.open("testpattern", connect=worker.address) as controller:
        with pytest.raises(WorldsimUserError, match="connect= too"):
            worldsim.open(join=controller.join_token)
        with pytest.raises(WorldsimUserError, match="wrong join token"):
            worldsim.open(connect=worker.address, join=f"{controller.session.id}.x")
        with worldsim.open(connect=worker.address, join=controller.join_token) as spectator:
            assert spectator.role == "spectator" and spectator.renderer == "testpattern"
            with pytest.raises(WorldsimUserError, match="spectator"):
                spectator.step({})
            with pytest.raises(WorldsimUserError, match="step\\(\\) returns its frames"):
                controller.frames()
            first = controller.step({"move_forward": 1.0})
            got = spectator.frames(timeout=5)
            assert len(got) == 1 and np.array_equal(got[0], first)
            controller.handover(spectator.viewer)
            assert controller.role == "spectator"
            frames = spectator.step({})                    # waits for the handover, steps on from step 1
            assert frames.shape[0] == spectator.spec.frames_per_step and spectator.steps == 2
            assert np.array_equal(controller.frames(timeout=5)[0], frames)


def test_a_protocol_2_client_is_told_to_upgrade(worker):
    import zmq
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(worker.address)
    try:
        sock.send_multipart(P.encode(P.MsgType.HELLO, {"rid": 1, "version": 2}))
        assert sock.poll(5000)
        reply = P.decode(sock.recv_multipart())
        assert reply.header["code"] == "version"
        assert reply.header["message"] == ("client speaks protocol 2, this worker speaks 3; upgrade the older side")
    finally:
        sock.close(0)
