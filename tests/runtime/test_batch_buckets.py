"""Batch buckets: the worker steps a compiled renderer (spec.static_batches) only with batch sizes
from a fixed set, and an eager one in the fewest batches of at most the largest bucket."""
from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from worldsim.runtime.client import Client
from worldsim.runtime.process import local_address
from worldsim.runtime.scheduling import buckets_for, padded_size, parse_buckets, split_for_step, split_padded
from worldsim.runtime.testpattern import TestPatternRenderer
from worldsim.runtime.worker import Worker


def camera(yaw: float) -> dict:
    c, s = math.cos(yaw), math.sin(yaw)
    return {"camera": {"c2w": [c, 0, -s, 0, 0, -1, 0, 0, -s, 0, -c, 0, 0, 0, 0, 1]}}   # Ry(yaw) @ diag(1, -1, -1)


class GatedRenderer(TestPatternRenderer):
    """Test pattern that records its batch sizes; a session of seed 99 holds its step until `gate` opens."""

    def __init__(self, static: bool = True):
        super().__init__(48, 32)
        self.spec = dataclasses.replace(self.spec, static_batches=static)
        self.batch_sizes: list[int] = []
        self.entered, self.gate = threading.Event(), threading.Event()

    def step(self, states, packets):
        if any(s.seed == 99 for s in states):
            self.entered.set()
            self.gate.wait(10)
        else:
            self.batch_sizes.append(len(states))
        return super().step(states, packets)


def test_split_and_parse():
    assert [len(b) for b in split_for_step(list(range(127)), (1, 2, 4, 128), static=True)] == [127]   # padded to 128
    assert [len(b) for b in split_for_step(list(range(90)), (1, 2, 4, 128), static=True)] == [4] * 22 + [2]
    assert [len(b) for b in split_for_step(list(range(127)), (1, 2, 4, 128), static=False)] == [127]
    assert [len(b) for b in split_for_step(list(range(300)), (1, 128), static=False)] == [128, 128, 44]
    assert split_for_step(list("abcde"), (1, 2), static=False) == [["a", "b"], ["c", "d"], ["e"]]
    assert parse_buckets("8,1,2,4,4") == (1, 2, 4, 8)
    for bad in ("2,4", "", "1,x", "0,1", "-1,1"):
        with pytest.raises(ValueError, match="including 1"):
            parse_buckets(bad)


def test_a_worker_keeps_only_the_buckets_its_sessions_can_fill():
    full = (1, 2, 4, 8, 16, 32, 64, 128)
    assert buckets_for(full, 4) == (1, 2, 4) and buckets_for(full, 5) == (1, 2, 4, 8)
    assert buckets_for(full, 64) == full[:-1] and buckets_for(full, 128) == full and buckets_for(full, 300) == full
    for most in range(1, 140):                      # the batches are the ones all the buckets would make
        kept = buckets_for(full, most)
        for n in range(1, most + 1):
            for static in (True, False):
                assert split_for_step(list(range(n)), kept, static) == split_for_step(list(range(n)), full, static)
    assert Worker(local_address(), {"p": TestPatternRenderer(48, 32)}, max_sessions=3).batch_buckets == (1, 2, 4)


def sizes(n: int, buckets=(1, 2, 4, 8, 16, 32, 64, 128)) -> list[int]:
    return [len(b) for b in split_padded(list(range(n)), buckets)]


def test_a_static_split_pads_up_to_a_bucket_when_at_most_a_quarter_is_padding():
    assert sizes(127) == [127] and sizes(100) == [100] and sizes(96) == [96]    # all padded to 128
    assert sizes(65) == [64, 1]                  # 63 of 128 would be padding
    assert sizes(95) == [64, 31]                 # 33 of 128 would be; 31 -> 32
    assert sizes(7) == [7] and sizes(6) == [6]   # -> 8
    assert sizes(5) == [4, 1]                    # 3 of 8 would be padding
    assert sizes(3) == [3]                       # -> 4: 1 of 4, exactly a quarter
    assert sizes(1) == [1] and sizes(2) == [2] and sizes(0) == []
    assert sizes(128) == [128] and sizes(256) == [128, 128] and sizes(300) == [128, 128, 32, 12]
    assert sizes(255) == [128, 127]
    assert sizes(5, (1, 2, 4)) == [4, 1] and sizes(3, (1, 2, 4)) == [3]
    assert split_padded(list("abcdefg"), (1, 2, 4, 8)) == [list("abcdefg")]          # order kept
    assert split_padded(list("abcde"), (1, 2, 4, 8)) == [list("abcd"), ["e"]]
    assert [padded_size(n, (1, 2, 4, 8, 16, 32, 64, 128)) for n in (127, 100, 96, 95, 65, 7, 5, 3, 1, 129)] == \
        [128, 128, 128, None, None, 8, None, 4, 1, None]


def test_five_pending_sessions_run_in_bucket_sized_batches_and_get_their_frames_in_order():
    renderer = GatedRenderer()
    worker = Worker(local_address(), {"gated": renderer}, batch_buckets=(1, 2, 4))
    worker.start_io()
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    client = Client.connect(worker.address)
    try:
        gate = client.open("gated", seed=99)
        sessions = [client.open("gated", seed=s) for s in range(1, 6)]
        client.submit_step(gate, 0, [camera(0.0)])
        assert renderer.entered.wait(10)                    # the worker is busy: what follows queues up
        steps, rids = 3, {}
        for k in range(steps):
            for s in sessions:
                n = s.spec.frames_for_step(k)
                rids[client.submit_step(s, 4 * k, [camera(0.1 * (k + i) + s.seed) for i in range(n)])] = (s, k)
        deadline = time.monotonic() + 10
        while worker.pending_messages() < len(rids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.pending_messages() == len(rids)       # all 5 sessions' steps wait at once
        renderer.gate.set()
        got: dict[int, list] = {s.id: [] for s in sessions}
        while sum(map(len, got.values())) < len(rids):
            for r in client.poll(5.0):
                if r.rid in rids:
                    assert r.error is None, r.error
                    assert r.timings["batch"] in (1, 2, 4)
                    got[r.session.id].append(r)
    finally:
        client.shutdown()
        worker.stop()
        thread.join(5)
    assert set(renderer.batch_sizes) <= {1, 2, 4} and 4 in renderer.batch_sizes
    assert sum(renderer.batch_sizes) == 5 * steps
    alone = TestPatternRenderer(48, 32)                     # each session stepped alone, for comparison
    for s in sessions:
        assert [r.step for r in got[s.id]] == list(range(steps))
        state = alone.open(s.seed)
        for k, r in enumerate(got[s.id]):
            n = s.spec.frames_for_step(k)
            want = alone.step([state], [[camera(0.1 * (k + i) + s.seed) for i in range(n)]])[0]
            assert np.array_equal(r.frames, want)


@pytest.mark.parametrize("static, count, batches", [(True, 40, [32, 8]), (False, 40, [40]), (True, 127, [127])])
def test_the_queued_steps_of_many_sessions_make_one_batch(static, count, batches):
    """40 sessions (5 clients x 8), each with a step queued while the worker is busy: the next
    round steps them together (buckets 32 + 8 compiled: 40 -> 64 would be 24 of 64 padding; one
    batch of 40 eager), not in slices of the control limit (16). 127 sessions of a compiled
    renderer: one batch of the 127 real sessions (the renderer pads it to 128), not 64+32+...+1."""
    renderer = GatedRenderer(static)
    worker = Worker(local_address(), {"gated": renderer}, max_sessions=128)
    worker.start_io()
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    clients = [Client.connect(worker.address) for _ in range(1 + -(-count // 8))]
    try:
        gate = clients[0].open("gated", seed=99)
        owners = [clients[1 + k // 8] for k in range(count)]                 # 8 sessions a client
        sessions = [(c, c.open("gated", seed=1 + k % 8)) for k, c in enumerate(owners)]
        clients[0].submit_step(gate, 0, [camera(0.0)])
        assert renderer.entered.wait(10)
        for c, s in sessions:
            c.submit_step(s, 0, [camera(0.0)])
        deadline = time.monotonic() + 10
        while worker.pending_messages() < len(sessions) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.pending_messages() == len(sessions)
        renderer.gate.set()
        for c in clients[1:]:
            answered, want = 0, sum(owner is c for owner, _ in sessions)
            while answered < want:
                answered += sum(r.error is None for r in c.poll(5.0))
    finally:
        for c in clients:
            c.shutdown()
        worker.stop()
        thread.join(5)
    assert renderer.batch_sizes == batches


def test_serve_refuses_bad_buckets_in_one_line():
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "serve", "--renderer", "testpattern",
                          "--batch-buckets", "2,4"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "worldsim: error: --batch-buckets: batch buckets must be comma-separated positive integers "
        "including 1 (e.g. 1,2,4,8), got '2,4'"]


def test_a_compiled_aapt_worker_traces_every_graph_before_it_serves_and_says_how_long():
    from worldsim.runtime.process import WorkerProcess
    process = WorkerProcess(["aapt"], {"preset": "tiny", "compile": "eager"}, ready_timeout=120.0,
                            batch_buckets=(1, 2, 4), max_sessions=4).start()
    try:
        log = process.log_tail()                   # as READY came: the warm-up is done by then
        with Client.connect(process.address) as client:
            spec = client.open("aapt", seed=0).spec
    finally:
        process.stop()
    assert "compiling renderer 'aapt''s step for batch sizes 1,2,4 before serving" in log
    assert "renderer 'aapt' compiled in" in log and "(6 graphs)" in log     # rows [0], [0, 1], [1, 0] x 2 phases
    assert spec.info["compile_s"] > 0 and spec.info["compiled_graphs"] == 6
    frozen = re.search(r"worldsim worker: (\d+) objects kept out of garbage collection during play", log)
    assert frozen and int(frozen.group(1)) > 10_000        # the model and its graphs: no collection in play walks them
