"""Benchmark: Triton scan against the PyTorch dual form, forward and backward, time and memory.

    python -m worldsim_ttt.bench --json                 # B=1, H=48, d=64, b=64, L = 18k, 100k, 350k
    python -m worldsim_ttt.bench --kind linear --lengths 18432
    python -m worldsim_ttt.bench --backends triton --forward split chunked   # both TTT-MLP forwards
    python -m worldsim_ttt.bench --backends triton --fp32-precision tf32 tf32x3 --error   # a faster dot, and its error

Times are medians over repeats (CUDA events), after a warm-up that compiles the kernels.
Backward is timed alone (autograd.grad over a retained graph). A reference run that does not fit
in GPU memory is reported as "oom". Numbers go to docs/BENCHMARKS.md with command, device, date.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F

from .ops import ttt_linear, ttt_mlp

DEFAULT_LENGTHS = (18432, 100352, 350208)   # 18k, 100k, 350k tokens, multiples of 64
PARAM_NAMES = {"mlp": ("W1", "b1", "W2", "b2"), "linear": ("W", "b")}


def random_inputs(kind: str, B: int, H: int, L: int, d: int, dtype=torch.float32, device="cpu",
                  seed: int = 0, base_lr: float | None = None) -> dict[str, torch.Tensor]:
    """Inputs shaped as TTTLayer makes them: L2-normalised q, k; target LN(v - k); eta = lr*sigmoid/d."""
    g = torch.Generator(device).manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, device=device, dtype=torch.float32)
    base_lr = base_lr if base_lr is not None else (0.1 if kind == "mlp" else 1.0)
    q, k = F.normalize(r(B, H, L, d), dim=-1), F.normalize(r(B, H, L, d), dim=-1)
    target = F.layer_norm(r(B, H, L, d) - k, (d,))
    x = dict(q=q, k=k, target=target, eta=base_lr * torch.sigmoid(r(B, H, L)) / d,
             ln_weight=1 + 0.1 * r(H, d), ln_bias=0.1 * r(H, d))
    if kind == "mlp":
        x.update(W1=0.02 * r(H, d, 4 * d), b1=0.02 * r(H, 4 * d), W2=0.02 * r(H, 4 * d, d), b2=0.02 * r(H, d))
    else:
        x.update(W=0.02 * r(H, d, d), b=0.02 * r(H, d))
    tokens = ("q", "k", "target", "eta")
    return {n: t.to(dtype) if n in tokens else t for n, t in x.items()}


def op_args(kind: str, x: dict) -> list[torch.Tensor]:
    return [x[n] for n in ("q", "k", "target", "eta", "ln_weight", "ln_bias", *PARAM_NAMES[kind])]


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (compiles on the first call)
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def backend_op(kind: str, backend: str, num_warps=None, fp32_precision=None, fast_math=None, forward=None):
    """The op to time. For the Triton backend, each of `num_warps` (warps per program), `fp32_precision` (the
    tl.dot precision for fp32 inputs) and `fast_math` (Triton's approximate sigmoid, sqrt, division) is a
    (forward, backward) pair, or None for the kernels' defaults; `forward` the TTT-MLP forward kernel
    ("chunked", "split", "paired"; None: triton_mlp.mlp_kernels' choice)."""
    if backend == "triton" and (num_warps or fp32_precision or fast_math is not None or forward):
        from .triton_common import TTTScan
        from .triton_linear import LINEAR_KERNELS
        from .triton_mlp import mlp_kernels
        kernels = (mlp_kernels(forward) if kind == "mlp" else LINEAR_KERNELS).variant(num_warps, fp32_precision,
                                                                                      fast_math)
        return lambda *a, mini_batch: TTTScan.apply(kernels, mini_batch, *a)
    op = ttt_mlp if kind == "mlp" else ttt_linear
    return lambda *a, mini_batch: op(*a, mini_batch=mini_batch, backend=backend)


def measure(kind: str, backend: str, L: int, B=1, H=48, d=64, mini_batch=64, repeats=3,
            num_warps=None, fp32_precision=None, fast_math=None, forward=None, dtype=torch.float32,
            error: bool = False) -> dict:
    """Forward time, backward time and peak memory of one backend; 'oom' where it does not fit. `error`: also the
    forward's relative error (L2) against the torch backend in fp32 on the same inputs (fwd_rel_err; Triton rows)."""
    op = backend_op(kind, backend, num_warps, fp32_precision, fast_math, forward)
    x = random_inputs(kind, B, H, L, d, dtype=dtype, device="cuda")
    args = op_args(kind, x)
    row = dict(kind=kind, backend=backend, B=B, H=H, d=d, mini_batch=mini_batch, L=L, dtype=str(dtype).split(".")[-1])
    if error and backend == "triton":       # the torch row would be measured against itself
        with torch.no_grad():
            z = op(*args, mini_batch=mini_batch).double()
            ref = backend_op(kind, "torch")(*op_args(kind, random_inputs(kind, B, H, L, d, device="cuda")),
                                            mini_batch=mini_batch).double()
            row["fwd_rel_err"] = ((z - ref).norm() / ref.norm()).item()
            z = ref = None
    if backend == "triton":
        if forward:
            row["forward"] = forward
        for name, value in (("num_warps", num_warps), ("fp32_precision", fp32_precision), ("fast_math", fast_math)):
            if value is not None:
                row[name] = "/".join(map(str, value))
    try:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.no_grad():
            row["fwd_ms"] = _median_ms(lambda: op(*args, mini_batch=mini_batch), repeats)
        row["fwd_peak_gib"] = (torch.cuda.max_memory_allocated() - base) / 2**30
    except torch.cuda.OutOfMemoryError:
        row["fwd_ms"] = "oom"
    try:
        for a in args:
            a.requires_grad_()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        z = op(*args, mini_batch=mini_batch)
        cot = torch.randn_like(z)
        row["bwd_ms"] = _median_ms(lambda: torch.autograd.grad(z, args, cot, retain_graph=True), repeats)
        row["train_peak_gib"] = (torch.cuda.max_memory_allocated() - base) / 2**30
    except torch.cuda.OutOfMemoryError:
        row["bwd_ms"] = "oom"
    finally:
        z = cot = None
        torch.cuda.empty_cache()
    return row


def compile_kernels(kind: str, backend: str, dtype: torch.dtype, num_warps=None, fp32_precision=None,
                    fast_math=None, forward=None) -> None:
    """Run forward (with and without grad) and backward once on a tiny input: compiles and caches the
    kernels for this dtype, so several processes can fill Triton's cache in parallel."""
    op = backend_op(kind, backend, num_warps, fp32_precision, fast_math, forward)
    mb = 64 if kind == "mlp" else 16
    args = [t.requires_grad_() for t in op_args(kind, random_inputs(kind, 1, 2, 2 * mb, 64, dtype, "cuda"))]
    with torch.no_grad():
        op(*args, mini_batch=mb)
    torch.autograd.grad(op(*args, mini_batch=mb).float().sum(), args)
    torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m worldsim_ttt.bench", description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=("mlp", "linear"), default="mlp")
    p.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS))
    p.add_argument("--heads", type=int, default=48)
    p.add_argument("--mini-batch", type=int, default=None, help="default: 64 (mlp), 16 (linear)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backends", nargs="+", default=["triton", "torch"],
                   choices=("triton", "torch"))
    p.add_argument("--num-warps", type=int, nargs=2, metavar=("FWD", "BWD"), default=None,
                   help="launch the Triton forward and backward kernels with these many warps per program")
    p.add_argument("--fp32-precision", nargs=2, metavar=("FWD", "BWD"), default=None,
                   help="tl.dot precision of the Triton forward and backward for fp32 inputs (e.g. bf16x6 tf32x3)")
    p.add_argument("--fast-math", nargs=2, metavar=("FWD", "BWD"), choices=("0", "1"), default=None,
                   help="1: Triton's approximate sigmoid/sqrt/division in that kernel (default 0 0: correctly rounded)")
    p.add_argument("--forward", nargs="+", choices=("chunked", "split", "paired"), default=None,
                   help="TTT-MLP Triton forward kernel(s) to time, one row each (default: $WORLDSIM_TTT_MLP_FORWARD "
                        "or paired); split: the hidden dimension over 8 programs a head (256 / $WORLDSIM_TTT_MLP_SPLIT's "
                        "columns, default 32), two exchanges a mini-batch; paired: the same with one; chunked: one "
                        "program a head")
    p.add_argument("--compile-only", choices=("float32", "bfloat16"), default=None,
                   help="only compile the first backend's kernels for this token dtype, then exit")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="the tokens' dtype")
    p.add_argument("--error", action="store_true",
                   help="also each forward's relative error against the torch backend in fp32 (fwd_rel_err)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    args = p.parse_args(argv)
    fast = tuple(v == "1" for v in args.fast_math) if args.fast_math else None
    if not torch.cuda.is_available():
        print("worldsim_ttt.bench: needs a CUDA GPU (the Triton backend runs only there)", file=sys.stderr)
        return 2
    if args.compile_only:
        compile_kernels(args.kind, args.backends[0], getattr(torch, args.compile_only), args.num_warps,
                        args.fp32_precision, fast, args.forward[0] if args.forward else None)
        return 0
    mb = args.mini_batch or (64 if args.kind == "mlp" else 16)
    print(f"# device: {torch.cuda.get_device_name()}, torch {torch.__version__}", file=sys.stderr)
    forwards = args.forward if args.kind == "mlp" and args.forward else [None]
    runs = [(b, f) for b in args.backends for f in (forwards if b == "triton" else [None])]
    for L in args.lengths:
        rows = [measure(args.kind, b, L, H=args.heads, mini_batch=mb, repeats=args.repeats, num_warps=args.num_warps,
                        fp32_precision=args.fp32_precision, fast_math=fast, forward=f,
                        dtype=getattr(torch, args.dtype), error=args.error) for b, f in runs]
        ref = next((r for r in rows if r["backend"] == "torch"), {})
        for row in rows:
            for phase in ("fwd", "bwd"):
                t, r = row.get(f"{phase}_ms"), ref.get(f"{phase}_ms")
                if row["backend"] == "triton" and isinstance(t, float) and isinstance(r, float):
                    row[f"{phase}_speedup"] = r / t
        for row in rows:
            print(json.dumps(row) if args.json else
                  "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
