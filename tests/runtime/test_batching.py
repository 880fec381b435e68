"""The worker batches pending steps of all sessions into one renderer call and isolates failures."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from worldsim.runtime.client import Client
from worldsim.runtime.process import local_address
from worldsim.runtime.renderer import RendererError
from worldsim.runtime.testpattern import TestPatternRenderer
from worldsim.runtime.worker import Worker

LEVEL = {"camera": {"c2w": np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()}}


class FlakyRenderer(TestPatternRenderer):
    """Test pattern whose sessions opened with seed 666 crash the renderer (a bug, not bad input)."""

    def __init__(self):
        super().__init__(64, 48)
        self.batch_sizes = []
        self.delay = 0.0        # seconds the next step takes (a slow GPU step)

    def step(self, states, packets):
        self.batch_sizes.append(len(states))
        time.sleep(self.delay)
        self.delay = 0.0
        if any(s.seed == 666 for s in states):
            raise ZeroDivisionError("simulated renderer bug")
        if any(s.seed == 13 for s in states):
            raise RendererError("seed 13 refuses this step", index=[s.seed for s in states].index(13))
        return super().step(states, packets)


@pytest.fixture
def served():
    renderer = FlakyRenderer()
    worker = Worker(local_address(), {"flaky": renderer})
    thread = threading.Thread(target=worker.serve, daemon=True)
    worker.start_io()
    thread.start()
    client = Client.connect(worker.address)
    yield client, renderer
    client.shutdown()
    worker.stop()
    thread.join(5)


def _gather(client, n):
    results = {}
    while len(results) < n:
        results.update({r.rid: r for r in client.poll(5.0)})
    return results


def test_pending_steps_of_all_sessions_share_one_renderer_call(served):
    client, renderer = served
    sessions = [client.open("flaky", seed=s) for s in (1, 2, 3)]
    renderer.delay = 0.5                   # the first step is slow: the other two arrive meanwhile
    rids = [client.submit_step(s, 0, [LEVEL]) for s in sessions]
    results = _gather(client, 3)
    assert all(results[r].error is None for r in rids)
    # whatever arrived while the first call was busy went into one call: [3], [1, 2] or [2, 1]
    assert sum(renderer.batch_sizes) == 3 and len(renderer.batch_sizes) <= 2
    assert max(r.timings["batch"] for r in results.values()) >= 2


@pytest.mark.parametrize("bad_seed, code", [(666, "internal"), (13, "bad_request")])
def test_a_failing_session_does_not_take_down_the_batch(served, bad_seed, code):
    client, renderer = served
    good = [client.open("flaky", seed=s) for s in (1, 2)]
    bad = client.open("flaky", seed=bad_seed)
    for _ in range(3):                      # the worker survives repeated failures
        rids = {s.seed: client.submit_step(s, 0, [LEVEL] * s.spec.frames_for_step(s.steps_sent)) for s in good + [bad]}
        results = _gather(client, 3)
        assert results[rids[bad_seed]].error.code == code
        for s in good:
            assert results[rids[s.seed]].error is None
            s.steps_sent = results[rids[s.seed]].step + 1
        bad.steps_sent = 0
    assert client.ping()["sessions"] == 3
