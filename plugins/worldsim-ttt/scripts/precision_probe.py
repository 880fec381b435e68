"""Where the Triton TTT-MLP kernel's fp32 error comes from: the small gradients (eta, LN parameters, initial
weights) of several kernel configurations against one fp64 reference, at B=1, d=64, mini-batch 64.

    python plugins/worldsim-ttt/scripts/precision_probe.py ref L H     # fp64 reference -> /tmp/probe_ref.pt
    python plugins/worldsim-ttt/scripts/precision_probe.py run L H "bf16x6,tf32x3 tf32x3,ieee,4,8,0,1 torch,torch" [tag]

Each "FWD,BWD[,WARPS_FWD,WARPS_BWD[,FAST_FWD,FAST_BWD]]" names the tl.dot precision of the forward and
backward kernels for fp32 inputs, then optionally their warps per program and whether each uses Triton's
fast sigmoid/sqrt/division (1) or the correctly rounded ones (0); "torch,torch" is the fp32 torch reference.
`run` prints the relative errors, the heads that dominate the ln_weight error, then each configuration's
forward/backward time at L=18,432, H=48. Run with PYTHONPATH=plugins/worldsim-ttt on a CUDA machine;
PROBE_CPU=1 checks the script on the CPU (tiny L, H), with the torch backend standing in for the kernels.
"""
import os
import sys
import time

import torch

from worldsim_ttt import dual
from worldsim_ttt.bench import backend_op, measure, op_args, random_inputs

NAMES = ["q", "k", "target", "eta", "ln_weight", "ln_bias", "W1", "b1", "W2", "b2"]
SMALL = [3, 4, 5, 6, 7, 8, 9]   # the gradients compared (the [B, H, L, d] ones are left out: memory)
REF = "/tmp/probe_ref.pt"
DEV = "cpu" if os.environ.get("PROBE_CPU") else "cuda"


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def scan(args, dtype):
    state = dual.initial_mlp_state(1, *args[6:], dtype)
    return dual.scan_checkpointed(dual.mlp_step, state, *args[:6], mini_batch=64, segment=64 * 128)


def variant(config):
    """backend_op's keyword arguments for one configuration string's fields."""
    c = list(config)
    return dict(fp32_precision=tuple(c[:2]), num_warps=tuple(map(int, c[2:4])) or None,
                fast_math=tuple(v == "1" for v in c[4:6]) or None)


def triton_op(config):
    if DEV == "cpu":
        return lambda *a, mini_batch: scan(list(a), torch.float32)
    return backend_op("mlp", "triton", **variant(config))


def main(mode, L, H, configs="", tag=""):
    x = random_inputs("mlp", 1, H, L, 64, device=DEV, seed=L + H)
    args = [t.requires_grad_() for t in op_args("mlp", x)]
    torch.manual_seed(0)
    cot = torch.randn(1, H, L, 64, device=DEV)
    t0 = time.time()
    if mode == "ref":
        a64 = [a.detach().double().requires_grad_() for a in args]
        grads = torch.autograd.grad(scan(a64, torch.float64), [a64[i] for i in SMALL], cot.double())
        torch.save([g.cpu() for g in grads], REF)
        print(f"fp64 reference {time.time() - t0:.1f}s -> {REF}", flush=True)
        return
    ref = torch.load(REF)
    configs = [tuple(c.split(",")) for c in configs.split()]
    for c in configs:
        t0 = time.time()
        z = scan(args, torch.float32) if c[0] == "torch" else triton_op(c)(*args, mini_batch=64)
        out = [g.cpu() for g in torch.autograd.grad(z, [args[i] for i in SMALL], cot)]
        del z
        errs = " ".join(f"{NAMES[i]}={rel(o, r):.2e}" for i, o, r in zip(SMALL, out, ref))
        d = out[1].double() - ref[1]                          # ln_weight [H, d]
        share = d.norm(dim=1) ** 2 / d.norm() ** 2
        worst = [(h, f"{share[h]:.2f}") for h in share.argsort(descending=True)[:3].tolist()]
        print("ERR", "/".join(c), tag, f"{time.time() - t0:.1f}s", errs, "| ln_weight error share by head", worst,
              flush=True)
    if DEV == "cuda":
        del x, args, cot
        torch.cuda.empty_cache()
        for c in configs:
            if c[0] != "torch":
                r = measure("mlp", "triton", 18432, H=48, repeats=3, **variant(c))
                print("TIME", "/".join(c), tag, f"fwd {r['fwd_ms']:.1f} ms bwd {r['bwd_ms']:.1f} ms", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:])
