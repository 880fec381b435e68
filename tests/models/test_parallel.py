"""Sequence parallelism (worldsim/models/parallel.py) on CPU: two gloo processes under torchrun equal
one process (the work is in parallel_worker.py; about 10 s)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo on this platform")
def test_two_rank_sequence_parallel_equals_one_process_with_half_the_cache():
    worker = Path(__file__).with_name("parallel_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(worker)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank in (0, 1):
        for dual_stream in (False, True):
            assert f"rank {rank}: dual_stream={dual_stream} rollout of 11 frames and clips equal, cache heads 2/4" \
                in proc.stdout, proc.stdout
        assert f"rank {rank}: errors ok" in proc.stdout, proc.stdout
