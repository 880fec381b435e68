"""A worker's session limit is its own setting: `worldsim serve --max-sessions N` (default 64, at
most MAX_SESSIONS_PER_WORKER_BOUND). Past N, OPEN gets `overloaded` (docs/protocol.md) and the
sessions already open are served on; a renderer with a `max_sessions` option is built to hold N."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client, RequestError
from worldsim.runtime.process import WorkerProcess, local_address
from worldsim.runtime.testpattern import TestPatternRenderer
from worldsim.runtime.worker import Worker
from worldsim.runtime.worker_main import sized_options

from .serving import serve_testpattern

ROOT = Path(__file__).resolve().parents[2]
LEVEL = {"camera": {"c2w": np.diag([1.0, -1.0, -1.0, 1.0]).ravel().tolist()}}


def cli_serve(*options: str):
    """`worldsim serve` of the testpattern renderer on a private ipc address; yields the address."""
    return serve_testpattern(local_address(), "32x24", *options)


@contextlib.contextmanager
def private_worker(*options: str):
    """The worker `WorkerProcess` spawns (what `bench e2e` uses), with `--max-sessions` from options."""
    assert options[0] == "--max-sessions"
    process = WorkerProcess(["testpattern"], {"width": 32, "height": 24}, max_sessions=int(options[1])).start()
    try:
        yield process.address
    finally:
        process.stop()


@pytest.mark.parametrize("launch", [cli_serve, private_worker], ids=["worldsim-serve", "WorkerProcess"])
def test_a_worker_of_two_refuses_a_third_open_and_serves_the_two(launch):
    with launch("--max-sessions", "2") as address, contextlib.ExitStack() as stack:
        clients = [stack.enter_context(Client.connect(address)) for _ in range(3)]   # not the per-client limit
        sessions = [c.open("testpattern", seed=i, controls=["camera"]) for i, c in enumerate(clients[:2])]
        with pytest.raises(RequestError) as refused:
            clients[2].open("testpattern", controls=["camera"])
        assert refused.value.code == P.ErrorCode.OVERLOADED.value
        assert refused.value.retry_s is not None and refused.value.retry_s >= 1       # as docs/protocol.md says
        assert "serves 2 sessions" in str(refused.value)
        tick = 0
        for step in range(3):                                                          # the two go on
            n = sessions[0].spec.frames_for_step(step)
            for c, s in zip(clients, sessions):
                result = c.step(s, tick, [LEVEL] * n)
                assert result.error is None and len(result.frames) == n
            tick += n
        assert clients[2].ping()["sessions"] == 2
        clients[0].close(sessions[0])                          # a freed place is a place: the limit, not a fault
        clients[2].open("testpattern", controls=["camera"])


@pytest.mark.parametrize("value", ["0", "-3", str(P.MAX_SESSIONS_PER_WORKER_BOUND + 1)])
def test_serve_refuses_a_limit_outside_its_bounds_in_one_line(value):
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "serve", "--renderer", "testpattern",
                          "--max-sessions", value], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"worldsim: error: --max-sessions must be 1..{P.MAX_SESSIONS_PER_WORKER_BOUND}, got {value}"]


def test_serve_defaults_to_the_documented_limit():
    from worldsim.cli import build_parser
    args = build_parser().parse_args(["serve"])
    assert args.max_sessions == P.MAX_SESSIONS_PER_WORKER == 64


@pytest.mark.parametrize("value", [0, P.MAX_SESSIONS_PER_WORKER_BOUND + 1, 2.5, True])
def test_programmatic_workers_check_the_limit(value):
    with pytest.raises(ValueError, match=f"must be 1..{P.MAX_SESSIONS_PER_WORKER_BOUND}"):
        Worker(local_address(), {"testpattern": TestPatternRenderer(32, 24)}, max_sessions=value)
    with pytest.raises(ValueError, match=f"must be 1..{P.MAX_SESSIONS_PER_WORKER_BOUND}"):
        WorkerProcess(["testpattern"], max_sessions=value)


def test_renderers_that_take_max_sessions_are_sized_to_the_worker():
    assert sized_options("aapt", {"preset": "tiny"}, 128) == {"preset": "tiny", "max_sessions": 128}
    assert sized_options("aapt", {"max_sessions": 3}, 128) == {"max_sessions": 3}      # asked for: kept
    assert sized_options("aapt", {"preset": "tiny"}, None) == {"preset": "tiny"}       # no limit given: as before
    assert sized_options("testpattern", {"width": 32}, 128) == {"width": 32}           # no such option


def test_a_served_aapt_renderer_holds_the_workers_sessions():
    process = WorkerProcess(["aapt"], {"preset": "tiny", "device": "cpu"}, max_sessions=5).start()
    try:
        with Client.connect(process.address) as client:
            assert client.welcome["specs"]["aapt"]["info"]["max_sessions"] == 5
            sessions = [client.open("aapt", seed=i) for i in range(5)]                # 5 > its own default of 4
            assert len({s.id for s in sessions}) == 5
    finally:
        process.stop()


def test_a_full_renderer_answers_overloaded_and_serves_on():
    """A renderer built smaller than the worker's limit (options set by hand) that runs out of rows
    is a busy server, not a bad request: `overloaded` with a retry, and a closed session frees a row."""
    process = WorkerProcess(["aapt"], {"preset": "tiny", "device": "cpu", "max_sessions": 2}).start()
    try:
        with Client.connect(process.address) as client:
            first, _ = client.open("aapt", seed=1), client.open("aapt", seed=2)
            with pytest.raises(RequestError) as err:
                client.open("aapt", seed=3)
            assert err.value.code == P.ErrorCode.OVERLOADED.value and err.value.retry_s >= 1
            assert "aapt renderer is full" in str(err.value)
            client.close(first)
            assert client.open("aapt", seed=3).id > 0
    finally:
        process.stop()
