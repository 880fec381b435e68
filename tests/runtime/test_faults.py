"""Faults: a remote worker restarted, a client vanishing mid-step, a slow client, a slow session,
out of memory on open. (A killed local worker, a renderer exception in one session and corrupt
checkpoints are in test_worker.py, test_batching.py and test_checkpoint_faults.py.)"""
from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client, RequestError, WorkerRestarted
from worldsim.runtime.process import WorkerProcess, local_address
from worldsim.runtime.testpattern import TestPatternRenderer

from .test_hardening import Raw, open_session, serve

LEVEL = {"camera": {"c2w": np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()}}


def packets(session):
    return [LEVEL] * session.spec.frames_for_step(session.steps_sent)


def test_a_restarted_remote_worker_gets_the_session_reopened():
    address = local_address()
    first = WorkerProcess(["testpattern"], {"width": 64, "height": 48}, address=address).start()
    client = Client.connect(address, reconnect=True, reconnect_timeout=30.0)
    second = None
    try:
        session = client.open("testpattern", seed=5, controls=["camera"])
        frames = [client.step(session, k, packets(session)).frames.copy() for k in range(2)]
        old_id = session.id
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        second = WorkerProcess(["testpattern"], {"width": 64, "height": 48}, address=address).start()
        with pytest.raises(WorkerRestarted, match="reconnected, 1 sessions reopened"):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                client.step(session, 9, packets(session), timeout=30)
        again = [client.step(session, k, packets(session)).frames for k in range(2)]
        assert session.steps_sent == 2 and client.restarts == 1 and session.id >= 1 and old_id >= 1
        np.testing.assert_array_equal(again[1], frames[1])   # same seed, same world
    finally:
        client.shutdown()
        first.stop()
        if second is not None:
            second.stop()


class Gated(TestPatternRenderer):
    def __init__(self):
        super().__init__(64, 48)
        self.entered, self.gate = threading.Event(), threading.Event()

    def step(self, states, packets):
        self.entered.set()
        self.gate.wait(10)
        return super().step(states, packets)


def test_a_client_vanishing_mid_step_frees_its_session():
    renderer = Gated()
    worker, thread = serve(renderer)
    try:
        raw = Raw(worker.address)
        sid = open_session(raw)
        raw.send(P.MsgType.STEP, {"rid": 2, "session": sid, "tick": 0, "packets": [LEVEL]})
        assert renderer.entered.wait(10)
        raw.close()                                   # gone while its step renders
        renderer.gate.set()
        deadline = time.monotonic() + 20
        while worker.stats["freed_gone"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.stats["freed_gone"] == 1 and len(worker.table) == 0
        with Client.connect(worker.address) as other:    # and the worker serves on
            session = other.open("testpattern", controls=["camera"])
            assert other.step(session, 0, packets(session)).error is None
    finally:
        renderer.gate.set()
        worker.stop()
        thread.join(5)


def test_a_slow_client_is_bounded_and_loses_nothing(tmp_path):
    worker, thread = serve()
    try:
        slow, fast = Raw(worker.address), Client.connect(worker.address)
        sid = open_session(slow)
        ticks = list(range(P.MAX_PENDING_STEPS))
        for k in ticks:                               # a client that sends and does not read
            slow.send(P.MsgType.STEP, {"rid": 10 + k, "session": sid, "tick": k, "packets": [LEVEL] * (1 if k == 0 else 4)})
        mine = fast.open("testpattern", controls=["camera"])
        for k in range(6):                            # others stream meanwhile
            assert fast.step(mine, k, packets(mine)).error is None
        replies = [slow.recv() for _ in ticks]
        assert [r.header["tick"] for r in replies if r.type is P.MsgType.FRAMES] == ticks
        for k in range(P.MAX_PENDING_STEPS + 2):      # more than the bound at once: refused with a retry hint
            slow.send(P.MsgType.STEP, {"rid": 100 + k, "session": sid, "tick": 100 + k, "packets": [LEVEL] * 4})
        codes = [slow.recv().header.get("code") for _ in range(P.MAX_PENDING_STEPS + 2)]
        refused = [c for c in codes if c == "overloaded"]
        assert len(refused) + codes.count(None) == len(codes) and len(codes) - len(refused) >= P.MAX_PENDING_STEPS
        slow.close(), fast.shutdown()
    finally:
        worker.stop()
        thread.join(5)


class SlowSeed(TestPatternRenderer):
    """Sessions opened with seed 9 take 0.5 s a step; out of memory opening seed 99."""

    def __init__(self):
        super().__init__(32, 24)
        self.calls: list[list[int]] = []

    def open(self, seed, prompt="", first_frame=None, controls=()):
        if seed == 99:
            raise MemoryError("simulated: no memory for another session")
        return super().open(seed, prompt, first_frame, controls)

    def step(self, states, packets):
        self.calls.append(sorted(s.seed for s in states))
        if any(s.seed == 9 for s in states):
            time.sleep(0.5)
        return super().step(states, packets)


def test_a_slow_session_is_stepped_apart_from_the_others():
    renderer = SlowSeed()
    worker, thread = serve(renderer, step_deadline_s=0.1)
    try:
        with Client.connect(worker.address) as client:
            slow, quick = client.open("testpattern", seed=9), client.open("testpattern", seed=1)
            for _ in range(4):
                rids = [client.submit_step(s, 0, packets(s)) for s in (slow, quick)]
                got = {}
                while len(got) < 2:
                    got.update({r.rid: r for r in client.poll(10)})
                assert all(got[r].error is None for r in rids)
                slow.steps_sent = quick.steps_sent = got[rids[0]].step + 1
        # after the first slow batch the slow session never shares a renderer call again
        assert [9, 1] not in renderer.calls[2:] and [1, 9] not in renderer.calls[2:]
        assert [9] in renderer.calls and [1] in renderer.calls
    finally:
        worker.stop()
        thread.join(5)


def test_out_of_memory_on_open_is_a_clear_error_and_the_worker_survives():
    worker, thread = serve(SlowSeed())
    try:
        with Client.connect(worker.address) as client:
            with pytest.raises(RequestError, match="out of memory") as err:
                client.open("testpattern", seed=99)
            assert err.value.code == "overloaded" and err.value.retry_s > 0
            session = client.open("testpattern", seed=1)
            assert client.step(session, 0, packets(session)).error is None
    finally:
        worker.stop()
        thread.join(5)
