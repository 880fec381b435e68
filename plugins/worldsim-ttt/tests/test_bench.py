"""The benchmark's helpers on the CPU: realistic inputs, the op it times, a clear refusal without CUDA."""
from __future__ import annotations

import pytest
import torch

from worldsim_ttt import bench, ttt_linear, ttt_mlp


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_inputs_look_like_a_layer_made_them(kind):
    x = bench.random_inputs(kind, 1, 2, 32, 16, dtype=torch.bfloat16)
    args = bench.op_args(kind, x)
    assert x["q"].dtype == torch.bfloat16 and x["W1" if kind == "mlp" else "W"].dtype == torch.float32
    assert torch.allclose(x["q"].float().norm(dim=-1), torch.ones(1, 2, 32), atol=1e-2)
    assert (x["eta"].float() > 0).all() and (x["eta"].float() < (0.1 if kind == "mlp" else 1.0) / 16).all()
    op, mb = (ttt_mlp, 16) if kind == "mlp" else (ttt_linear, 16)
    assert torch.equal(bench.backend_op(kind, "torch")(*args, mini_batch=mb), op(*args, mini_batch=mb))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_needs_cuda(capsys):
    assert bench.main(["--lengths", "64"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
