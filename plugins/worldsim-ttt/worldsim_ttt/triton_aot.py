"""Compile the TTT scan kernels for a GPU on a machine without one, and say what each costs the GPU.

Every launch the scan would make (forward, and backward through its checkpoints) is caught instead of run, and
compiled ahead of time for the target (default sm_90, the H100/H200) with exactly the launch's arguments,
constexprs and warps; ptxas then reports each kernel's registers, spills and shared memory. A kernel that does
not compile (e.g. a loop-carried variable whose type changes, which Triton's interpreter does not check) fails
here, on the CPU, instead of in a device call:

    python -m worldsim_ttt.triton_aot [--forward chunked split paired] [--heads 4] [--length 512] [--arch 90] [--dtype bf16]

Needs triton (not its interpreter: TRITON_INTERPRET must be unset when triton is first imported)."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

SHARED_LIMIT = {90: 232448, 80: 166912, 89: 101376, 100: 232448}   # max dynamic shared memory per block (bytes)
_DTYPES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16", torch.int32: "i32",
           torch.int64: "i64"}


@dataclass
class KernelReport:
    kernel: str
    num_warps: int
    registers: int
    spill_stores: int      # bytes a thread spills to local memory
    spill_loads: int
    shared: int            # bytes of shared memory a program needs
    shared_limit: int

    def fits(self) -> bool:
        return self.shared <= self.shared_limit


def _signature(fn, args, kwargs) -> tuple[dict, dict]:
    """Triton's (signature, constexprs) for a launch of `fn` with these arguments."""
    values = dict(zip(fn.arg_names, args))
    values.update({k: v for k, v in kwargs.items() if k in fn.arg_names})
    signature, constexprs = {}, {}
    for p in fn.params:
        v = values[p.name] if p.name in values else p.default
        if p.is_constexpr:
            signature[p.name], constexprs[p.name] = "constexpr", v
        elif isinstance(v, torch.Tensor):
            signature[p.name] = "*" + _DTYPES[v.dtype]
        elif isinstance(v, bool):
            signature[p.name] = "i1"
        elif isinstance(v, int):
            signature[p.name] = "i32"
        else:
            raise TypeError(f"{fn.__name__}: cannot type argument {p.name}={v!r}")
    return signature, constexprs


@contextmanager
def caught_launches():
    """Within: every Triton kernel launch is recorded as (fn, args, kwargs) and not run."""
    from triton.runtime.jit import JITFunction
    launches, run = [], JITFunction.run

    def record(self, *args, grid, warmup, **kwargs):
        launches.append((self, args, kwargs))

    JITFunction.run = record
    try:
        yield launches
    finally:
        JITFunction.run = run


def _ptxas_info(ptx: str, arch: int) -> tuple[int, int, int]:
    """(registers, spill store bytes, spill load bytes) of the one kernel in `ptx`, from ptxas -v."""
    from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        name = sm_arch_from_capability(arch)
        out = subprocess.run([get_ptxas(arch).path, "-v", f"--gpu-name={name}", src, "-o", src + ".o"],
                             capture_output=True, text=True, check=True).stderr

    def grab(pattern):
        m = re.search(pattern, out)
        return int(m.group(1)) if m else 0
    return grab(r"Used (\d+) registers"), grab(r"(\d+) bytes spill stores"), grab(r"(\d+) bytes spill loads")


class KernelBuildError(RuntimeError):
    """A kernel that does not compile for the target: its name and Triton's last line."""


def compile_launch(fn, args, kwargs, arch: int = 90) -> KernelReport:
    """Compile one caught launch for sm_<arch> and report it; KernelBuildError if it does not build."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.compiler.errors import CompilationError
    signature, constexprs = _signature(fn, args, kwargs)
    options = {k: kwargs[k] for k in ("num_warps", "num_stages") if k in kwargs}
    try:
        compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                                  target=GPUTarget("cuda", arch, 32), options=options)
    except CompilationError as e:
        line = getattr(e.node, "lineno", None)
        where = f"line {line} of its source" if line else "its source"
        raise KernelBuildError(f"{fn.__name__} does not compile for sm_{arch} ({where}): {str(e).strip().splitlines()[-1]}") from e
    regs, spill_st, spill_ld = _ptxas_info(compiled.asm["ptx"], arch)
    return KernelReport(fn.__name__, options.get("num_warps", 4), regs, spill_st, spill_ld,
                        compiled.metadata.shared, SHARED_LIMIT.get(arch, SHARED_LIMIT[90]))


def scan_launches(kernels, heads: int = 4, length: int = 512, dim: int = 64, mini_batch: int = 64,
                  dtype=torch.bfloat16, linear: bool = False):
    """The launches one forward and backward of the scan make with `kernels` (CPU tensors; nothing runs)."""
    from worldsim_ttt.bench import op_args, random_inputs
    from worldsim_ttt.triton_common import TTTScan
    kind = "linear" if linear else "mlp"
    args = [x.to(dtype) if x.dim() == 4 else x for x in op_args(kind, random_inputs(kind, 1, heads, length, dim))]
    for x in args:
        x.requires_grad_(True)
    with caught_launches() as launches:
        z = TTTScan.apply(kernels, mini_batch, *args)
        z.float().sum().backward()
    return launches


def report(forwards=("chunked", "split", "paired"), arch: int = 90, **shape) -> list[KernelReport]:
    """Each MLP forward's kernels (forward, backward), the backward with its groups re-run beforehand
    ($WORLDSIM_TTT_MLP_RERUN=parallel: _mlp_rerun, then _mlp_bwd without its re-run), and the TTT-Linear pair,
    compiled for sm_<arch>."""
    from worldsim_ttt.triton_linear import LINEAR_KERNELS
    from worldsim_ttt.triton_mlp import FORWARDS, _mlp_rerun
    rows, seen = [], set()
    runs = [(FORWARDS[f], False) for f in forwards] + [(FORWARDS["chunked"].variant(rerun=_mlp_rerun), False),
                                                       (LINEAR_KERNELS, True)]
    for kernels, linear in runs:
        for fn, args, kwargs in scan_launches(kernels, linear=linear, **shape):
            key = (fn.__name__, kwargs.get("num_warps"), kwargs.get("FC"), kwargs.get("RERUN"))
            if key not in seen:
                seen.add(key)
                rows.append(compile_launch(fn, args, kwargs, arch))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m worldsim_ttt.triton_aot", description=__doc__.splitlines()[0])
    ap.add_argument("--forward", nargs="+", default=["chunked", "split", "paired"], help="MLP forwards to compile")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--length", type=int, default=512, help="tokens (a multiple of the mini-batch, 64)")
    ap.add_argument("--arch", type=int, default=90, help="compute capability x10 (90: H100/H200)")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16", help="the tokens' dtype")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("triton_aot: unset TRITON_INTERPRET (the interpreter compiles nothing)", file=sys.stderr)
        return 2
    try:
        from worldsim_ttt.triton_mlp import FORWARDS
        unknown = sorted(set(a.forward) - set(FORWARDS))
        if unknown:
            print(f"triton_aot: unknown forward {unknown[0]!r} (one of {sorted(FORWARDS)})", file=sys.stderr)
            return 2
        dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]
        rows = report(a.forward, a.arch, heads=a.heads, length=a.length, dtype=dtype)
    except ImportError as e:
        print(f"triton_aot: needs triton ({e})", file=sys.stderr)
        return 2
    except KernelBuildError as e:
        print(f"triton_aot: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print(f"{'kernel':<20} {'warps':>5} {'regs':>5} {'spill st/ld (B)':>16} {'shared (B)':>11}  sm_{a.arch}")
        for r in rows:
            flag = "" if r.fits() else f"  over the {r.shared_limit} B limit"
            print(f"{r.kernel:<20} {r.num_warps:>5} {r.registers:>5} {f'{r.spill_stores}/{r.spill_loads}':>16} "
                  f"{r.shared:>11}{flag}")
    return 0 if all(r.fits() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
