"""Where the TTT-MLP bf16 gradient gap is (docs/ttt.md): per (batch, head) relative error of the k gradient of the
Triton kernels and of the bf16 torch reference, both against an fp64 torch reference, at B=2, H=48, d=64.

    python scripts/ttt_bf16_gap.py 3392 4096        # token lengths (53 and 64 mini-batches); CUDA only
"""
import sys

import torch

sys.path.insert(0, "plugins/worldsim-ttt")
from worldsim_ttt.bench import op_args, random_inputs  # noqa: E402
from worldsim_ttt.ops import ttt_mlp  # noqa: E402


def per_head(g, ref):
    return (g.double() - ref).flatten(2).norm(dim=-1) / ref.flatten(2).norm(dim=-1)     # (B, H)


for L in map(int, sys.argv[1:]):
    H = 48
    x = random_inputs("mlp", 2, H, L, 64, dtype=torch.bfloat16, device="cuda", seed=L + H)
    cot = torch.randn(2, H, L, 64, generator=torch.Generator("cuda").manual_seed(L), device="cuda")
    grads = {}
    for name, backend, dtype in (("triton", "triton", None), ("torch-bf16", "torch", None), ("fp64", "torch", torch.float64)):
        args = [(t.detach().to(dtype) if dtype else t.detach()).requires_grad_() for t in op_args("mlp", x)]
        z = ttt_mlp(*args, mini_batch=64, backend=backend)
        grads[name] = (z.detach(), torch.autograd.grad(z, args, cot.to(z.dtype)))
    zr, gr = grads["fp64"]
    for name in ("triton", "torch-bf16"):
        z, g = grads[name]
        e = per_head(g[1], gr[1])
        worst = sorted(((e[b, h].item(), b, h) for b in range(2) for h in range(H)), reverse=True)[:3]
        print(L, name, f"z {((z.double() - zr).norm() / zr.norm()).item():.1e}", f"k-grad median {e.median().item():.1e}",
              "worst (err, batch, head):", " ".join(f"({v:.1e},{b},{h})" for v, b, h in worst), flush=True)
