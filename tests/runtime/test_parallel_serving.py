"""`worldsim serve --gpus N` on CPU (gloo): real worker processes, real follower ranks, real ZMQ.

The served model is a tiny checkpoint with every path live (zero_init=False): the preset's own
init zeroes the output layer, and frames made by a zero velocity would be equal whatever the
ranks did. About 15 s on the 2-core box."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from worldsim.bench.e2e import camera
from worldsim.cli import main
from worldsim.runtime.client import Client
from worldsim.runtime.process import WorkerProcess

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self"), reason="follower pids are checked in /proc")

STEPS = 12          # the tiny model's window is 3 latent frames: the ring fills and wraps three times over


@pytest.fixture(scope="module")
def checkpoint(live_tiny_checkpoint):
    return live_tiny_checkpoint


def worker(checkpoint: str, gpus: int) -> WorkerProcess:
    return WorkerProcess(["aapt"], {"checkpoint": checkpoint, "start": "noise"}, max_sessions=2, gpus=gpus)


def follower_pids(process: WorkerProcess) -> list[int]:
    found = re.search(r"followers pid ([\d ]+)", process.log_tail(50))
    assert found, process.log_tail()
    return [int(p) for p in found.group(1).split()]


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def play(client: Client, steps: int, seed: int = 5):
    session = client.open("aapt", seed=seed, controls=["camera"])
    frames, tick = [], 0
    for _ in range(steps):
        n = session.spec.frames_for_step(session.steps_sent)
        result = client.step(session, tick, [camera(tick + i) for i in range(n)], timeout=60)
        assert result.error is None, result.error
        frames.append(result.frames)
        tick += n
    return session, np.concatenate(frames)


def test_two_ranks_serve_the_frames_one_process_serves(checkpoint):
    one, two = worker(checkpoint, 1), worker(checkpoint, 2)
    try:
        one.start()
        two.start()
        [pid] = follower_pids(two)
        assert running(pid)
        with Client.connect(one.address) as client:
            _, alone = play(client, STEPS)
        with Client.connect(two.address) as client:
            session, ranked = play(client, STEPS)
            assert session.spec.info["gpus"] == 2
    finally:
        one.stop()
        two.stop()
    assert alone.shape == (1 + 4 * (STEPS - 1), 32, 32, 3) and alone.std() > 10      # frames, not a flat field
    # fp32: the two ranks compute the same sums in another order (a frame's tokens in two halves), so
    # latents differ by ~1e-6 (tests/models/test_parallel.py holds them to 1e-5); a pixel can move one
    # level only where its value sits on a rounding boundary of the uint8 conversion
    diff = np.abs(alone.astype(int) - ranked.astype(int))
    print(f"frames of 1 and 2 ranks: max difference {diff.max()}, {(diff > 0).mean():.2%} of values differ")
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (diff.max(), (diff > 0).mean())
    assert two.proc.returncode in (0, -signal.SIGTERM)
    assert not running(pid), "the follower outlived the worker"


def test_a_killed_follower_is_a_one_line_error_and_the_worker_keeps_answering(checkpoint):
    process = worker(checkpoint, 2).start()
    try:
        [pid] = follower_pids(process)
        with Client.connect(process.address) as client:
            session, _ = play(client, 2)
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            result = client.step(session, 5, [camera(5 + i) for i in range(4)], timeout=30)
            assert result.error is not None and result.error.code == "internal"
            message = str(result.error)
            assert f"sequence-parallel rank 1 of 2 (pid {pid}) exited (signal 9)" in message, message
            assert "restart it" in message and "\n" not in message
            assert client.ping()["sessions"] == 1                   # the worker still answers
            with pytest.raises(Exception, match=r"rank 1 of 2 .* exited \(signal 9\)"):
                client.open("aapt", seed=1, controls=["camera"])
        assert process.alive()
    finally:
        process.stop()
    assert process.proc.returncode in (0, -signal.SIGTERM)


def test_followers_die_with_a_killed_worker():
    process = WorkerProcess(["aapt"], {"preset": "tiny"}, max_sessions=1, gpus=2).start()
    try:
        [pid] = follower_pids(process)
        os.kill(process.pid, signal.SIGKILL)
        process.proc.wait(10)
        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:        # PDEATHSIG: at once
            time.sleep(0.05)
        assert not running(pid), "a follower outlived its killed worker"
    finally:
        process.stop()


def test_bench_e2e_serves_on_the_ranks_it_is_given():
    out = subprocess.run([sys.executable, "-m", "worldsim.cli", "bench", "e2e", "--preset", "tiny", "--seconds", "1",
                          "--gpus", "2", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["gpus"] == 2 and r["steps_answered"] == r["steps_asked"] >= 6 and r["errors"] == 0


@pytest.mark.parametrize("argv, message", [
    (["serve", "--renderer", "reference", "--gpus", "2"],
     "--gpus 2 runs the aapt renderer on several ranks; it cannot serve 'reference'"),
    (["serve", "--renderer", "aapt", "--renderer-option", "checkpoint=null", "--renderer-option", "preset=tiny",
      "--gpus", "0"], "--gpus must be at least 1, got 0"),
    (["serve", "--renderer", "aapt", "--renderer-option", "checkpoint=null", "--renderer-option", "preset=tiny",
      "--gpus", "3"], "--gpus 3: the model's 4 attention heads do not divide among 3 ranks"),
    (["serve", "--renderer", "aapt", "--renderer-option", "checkpoint=null", "--renderer-option", "preset=tiny",
      "--size", "24x24", "--gpus", "2"], "a 24x24 frame makes 9 tokens, which do not divide among 2 ranks"),
    (["serve", "--renderer", "aapt", "--renderer-option", "checkpoint=null", "--renderer-option", "preset=tiny",
      "--renderer-option", "compile=true", "--gpus", "2"], "the compiled step under sequence parallelism is not done"),
    (["serve", "--renderer", "aapt", "--renderer-option", "checkpoint=null", "--renderer-option", "preset=tiny",
      "--renderer-option", "guidance=0.5", "--gpus", "2"], "aapt guidance runs on one GPU"),
    (["serve", "--renderer", "aapt", "--renderer-option", "bogus=1", "--gpus", "2"],
     "renderer 'aapt' takes no option bogus"),
    (["serve", "--renderer", "aapt", "--gpus", "2"], "attention heads do not divide among 2 ranks"),
    (["bench", "e2e", "--preset", "tiny", "--res", "24x24", "--gpus", "2"], "9 tokens, which do not divide among 2"),
    (["bench", "e2e", "--preset", "tiny", "--compile", "--gpus", "2"], "drop --compile"),
])
def test_bad_combinations_are_one_line_errors(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("worldsim: error: ") and message in err and err.count("\n") == 1, err


def test_more_ranks_than_gpus_is_refused():
    import torch

    from worldsim.config import model_preset
    from worldsim.models.parallel_serving import check_parallel
    if torch.cuda.device_count() < 2:
        with pytest.raises(ValueError, match=rf"--gpus 2: torch sees {torch.cuda.device_count()} CUDA devices here"):
            check_parallel(model_preset("tiny"), None, None, 2, "cuda")
    with pytest.raises(ValueError, match="give --device cuda, not 'cuda:1'"):
        check_parallel(model_preset("tiny"), None, None, 2, "cuda:1")
