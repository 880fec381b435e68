#!/usr/bin/env bash
# One GPU call for the hidden-split TTT-MLP forward (_mlp_fwd_split, the default since 2026-11-30): compile, its `gpu` tests
# (each check in a subprocess with a timeout: a deadlocked barrier fails, never hangs), the scan benchmark
# of both forwards (Triton only, forward and backward), then film sampling time with each forward.
# About 3-4 minutes on an H200. Logs go to $OUT (or ./ttt-split-logs).
# Usage, from the repository root: bash plugins/worldsim-ttt/scripts/split_kernel_check.sh
set -u
OUT=${OUT:-ttt-split-logs}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/plugins/worldsim-ttt${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/ttt-triton-cache}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/device.txt"
start=$(date +%s)
for fwd in split chunked; do for dt in float32 bfloat16; do   # fill Triton's cache in parallel
  timeout 150 python3 -m worldsim_ttt.bench --forward "$fwd" --compile-only "$dt" > "$OUT/compile_${fwd}_${dt}.log" 2>&1 &
done; done
wait
echo "compiled in $(( $(date +%s) - start )) s"; tail -n 2 "$OUT"/compile_*.log
for f in $(find "$TRITON_CACHE_DIR" -name '_mlp_fwd*.cubin'); do
  cuobjdump -res-usage "$f" 2>/dev/null | grep -A1 Function | tr -s ' ' | paste - -; done | sort -u
timeout 150 python3 -m pytest -q -s -p no:cacheprovider -m gpu plugins/worldsim-ttt/tests/test_triton_split.py \
  > "$OUT/tests.log" 2>&1; echo "tests rc=$?"; grep -E "passed|failed|Error|^mlp|^split|deadlock" "$OUT/tests.log" | tail -n 30
timeout 150 python3 -m worldsim_ttt.bench --json --backends triton --lengths 18432 100352 --repeats 3 \
  --forward split chunked 2>&1 | tee "$OUT/bench.log" | python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"): print(line, end=""); continue
    r = json.loads(line)
    print(r["L"], r.get("forward", "-"), "fwd_ms", r.get("fwd_ms"), "bwd_ms", r.get("bwd_ms"))'
film() {   # $1: the scan forward; the rest: bench_film arguments
  WORLDSIM_TTT_MLP_FORWARD=$1 timeout 150 python3 -m worldsim_ttt.bench_film --device cuda --json "${@:2}" 2>&1 \
    | tee "$OUT/film_$1.log" | python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"): print(line, end=""); continue
    r = json.loads(line)
    print(r["variant"], r.get("mlp_forward", "-"), r["seconds"], "s", r["tokens"], "tokens",
          "ms/forward", r.get("ms_per_forward"), "x local", r.get("ratio_to_local", r.get("skipped")))'
}
film split --variants ttt-mlp local
[ -n "${FILM_CHUNKED:-}" ] && film chunked --variants ttt-mlp   # the chunked forward's film rows (BENCHMARKS has them)
echo "total $(( $(date +%s) - start )) s"
