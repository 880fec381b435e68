"""The scan kernels compile for sm_90 on a machine without a GPU (worldsim_ttt.triton_aot), and a kernel that
does not compile is named in one line. Each check runs in a subprocess without TRITON_INTERPRET (the interpreter,
which test_triton_split turns on in this process, compiles nothing). Skipped without triton (the CI venv has none)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import pytest

pytestmark = pytest.mark.skipif(find_spec("triton") is None, reason="needs triton")


def run_python(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = os.environ.get("TRITON_CACHE_DIR", os.path.expanduser("~/.triton/cache"))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_every_scan_kernel_compiles_for_sm90_within_shared_memory():
    r = run_python("-m", "worldsim_ttt.triton_aot", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {row["kernel"]: row for row in json.loads(r.stdout)}
    assert set(rows) == {"_mlp_fwd_chunked", "_mlp_fwd_split", "_mlp_fwd_paired", "_mlp_bwd", "_mlp_rerun",
                         "_linear_fwd", "_linear_bwd"}
    for row in rows.values():
        assert 0 < row["registers"] <= 255 and 0 < row["shared"] <= row["shared_limit"], row
    assert rows["_mlp_fwd_paired"]["num_warps"] == rows["_mlp_fwd_split"]["num_warps"] == 8


def test_a_kernel_that_does_not_build_is_named_in_one_line(tmp_path):
    """The paired forward's first GPU run (2026-12-01) failed this way: a name reassigned in a loop with another
    shape. Triton's interpreter runs such a kernel; the compiler refuses it."""
    (tmp_path / "bad_kernel.py").write_text(textwrap.dedent("""
        import torch, triton, triton.language as tl
        from worldsim_ttt.triton_aot import caught_launches, compile_launch, KernelBuildError

        @triton.jit
        def widening(X, N: tl.constexpr):
            acc = tl.zeros([N, N], tl.float32)
            for m in range(3):
                acc = tl.zeros([N, 2 * N], tl.float32)
            tl.store(X + tl.arange(0, N), tl.sum(acc, 1))

        with caught_launches() as launches:
            widening[(1,)](torch.zeros(16), N=16, num_warps=4)
        try:
            compile_launch(*launches[0])
        except KernelBuildError as e:
            print(e)
    """))
    r = run_python("bad_kernel.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("widening does not compile for sm_90 (line ")
    assert "Loop-carried variable acc" in lines[0]
