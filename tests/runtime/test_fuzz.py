"""Property-based fuzzing of every message type and field (hypothesis), bounded to stay fast.

Each example sends one message built from a valid one with any field replaced by an arbitrary
msgpack value (or dropped, or joined by an unknown field), or raw bytes, and checks the promise
of docs/RELIABILITY.md: exactly one reply that decodes, the worker's threads alive, a good session
unharmed. `worldsim bench fuzz --messages N` runs the long version.
"""
from __future__ import annotations

import threading

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client
from worldsim.runtime.process import local_address
from worldsim.runtime.testpattern import TestPatternRenderer
from worldsim.runtime.worker import Worker

C2W = np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()
SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 64) + 1, max_value=2 ** 64 - 1),
                    st.floats(), st.text(max_size=20), st.binary(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.one_of(st.text(max_size=8), st.binary(max_size=8)), inner,
                                                 max_size=4)), max_leaves=20)
keys = st.one_of(st.sampled_from(["c2w", "camera", "x"]), st.text(max_size=6), st.binary(max_size=6))
packet = st.one_of(
    st.just({"camera": {"c2w": C2W}}),
    st.dictionaries(keys, st.dictionaries(keys, values, max_size=3), max_size=3),
    st.fixed_dictionaries({"camera": st.fixed_dictionaries({"c2w": st.lists(st.one_of(st.floats(), st.integers()),
                                                                                     min_size=0, max_size=17)})}),
    values,
)
DESC = {"shape": [1, 4, 4, 3], "dtype": "uint8", "encoding": "raw"}
VALID = {
    P.MsgType.HELLO: {"version": st.just(P.PROTOCOL_VERSION), "client": st.just("fuzz")},
    P.MsgType.OPEN: {"renderer": st.just("testpattern"), "seed": st.integers(0, 9), "prompt": st.just(""),
                     "controls": st.just(["camera"]), "shm": st.integers(1, 8),
                     "first_frame": st.fixed_dictionaries({"shape": st.lists(st.integers(-2, 2 ** 17), max_size=6),
                                                           "dtype": st.sampled_from(["uint8", "float32", "object"]),
                                                           "encoding": st.just("raw")})},
    P.MsgType.STEP: {"session": st.integers(0, 5), "tick": st.integers(0, 99), "packets": st.lists(packet, max_size=6),
                     "slot": st.integers(-1, 70)},
    P.MsgType.CLOSE: {"session": st.integers(0, 5)},
    P.MsgType.PING: {},
    P.MsgType.FRAMES: {"session": st.integers(0, 5), "tick": st.just(0), "step": st.just(0), "frames": st.just(DESC)},
    P.MsgType.ERROR: {"code": st.just("internal"), "message": st.just("x")},
    P.MsgType.SNAPSHOT: {"session": st.integers(0, 5)},
    P.MsgType.RESTORE: {"session": st.integers(0, 5)},
    P.MsgType.JOIN: {"token": st.one_of(st.sampled_from(["1.x", "1", ".", "99.abc"]), st.text(max_size=12))},
    P.MsgType.WATCH: {"session": st.integers(0, 5)},
    P.MsgType.HANDOVER: {"session": st.integers(0, 5), "to": st.integers(0, 5)},
}


@st.composite
def message(draw, mtype: P.MsgType) -> list:
    header = {"rid": draw(st.one_of(st.integers(-10, 10 ** 6), values))}
    for name, valid in VALID[mtype].items():
        if draw(st.booleans()):
            header[name] = draw(st.one_of(valid, values)) if draw(st.integers(0, 3)) else draw(values)
    if draw(st.integers(0, 5)) == 0:
        header[draw(st.text(max_size=8))] = draw(values)
    try:
        packed = msgpack.packb(header, use_bin_type=True)
    except (OverflowError, TypeError, ValueError):
        packed = draw(st.binary(max_size=32))
    payload = draw(st.lists(st.binary(max_size=64), max_size=3))
    return [bytes([mtype]), packed, *payload]


@pytest.fixture(scope="module")
def worker():
    w = Worker(local_address(), {"testpattern": TestPatternRenderer(32, 24)})
    w.start_io()
    thread = threading.Thread(target=w.serve, daemon=True)
    thread.start()
    good = Client.connect(w.address)
    session = good.open("testpattern", seed=3, controls=["camera"])
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(w.address)
    yield w, thread, raw, good, session
    raw.close(0)
    good.shutdown()
    w.stop()
    thread.join(5)


def _one_reply(worker, frames: list) -> P.Message:
    w, thread, raw, _, _ = worker
    raw.send_multipart(frames)
    assert raw.poll(10_000), f"no reply to {frames!r:.300}"
    reply = P.decode(raw.recv_multipart())            # every reply is a valid message
    assert not raw.poll(0), "more than one reply"
    assert thread.is_alive() and w.io.thread.is_alive()
    return reply


@pytest.mark.parametrize("mtype", list(VALID), ids=lambda t: t.name)
def test_every_message_type_and_field(worker, mtype):
    @SETTINGS
    @given(frames=message(mtype))
    def check(frames):
        reply = _one_reply(worker, frames)
        if reply.type is P.MsgType.ERROR:
            assert reply.header["code"] in {c.value for c in P.ErrorCode}
            assert reply.header["code"] != "internal", reply.header["message"]
    check()


@SETTINGS
@given(frames=st.lists(st.binary(max_size=40), min_size=1, max_size=5))
def test_raw_bytes(worker, frames):
    reply = _one_reply(worker, frames)
    assert reply.type in (P.MsgType.ERROR, P.MsgType.PONG, P.MsgType.WELCOME, P.MsgType.CLOSED)


def test_the_good_session_streamed_through_it_all(worker):
    _, _, _, good, session = worker
    steps = []
    for tick in range(4):
        result = good.step(session, tick, [{"camera": {"c2w": C2W}}] * session.spec.frames_for_step(session.steps_sent))
        assert result.error is None, result.error
        steps.append(result.step)
    assert steps == [0, 1, 2, 3]
