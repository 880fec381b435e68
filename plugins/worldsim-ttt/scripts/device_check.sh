#!/usr/bin/env bash
# The GPU session behind docs/BENCHMARKS.md's TTT rows: compile the kernels in parallel (Triton's
# cache is shared), run the `gpu` tests, then the benchmark. Logs go to $OUT (or ./ttt-logs).
# Usage, from the repository root: bash plugins/worldsim-ttt/scripts/device_check.sh [pytest -k expr] [bench args...]
set -u
OUT=${OUT:-ttt-logs}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/plugins/worldsim-ttt${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/ttt-triton-cache}
SELECT=${1:-}; shift || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/device.txt"
start=$(date +%s)
for kind in mlp linear; do for dt in float32 bfloat16; do
  python3 -m worldsim_ttt.bench --kind "$kind" --compile-only "$dt" > "$OUT/compile_${kind}_${dt}.log" 2>&1 &
done; done
wait
echo "compiled in $(( $(date +%s) - start )) s"; tail -n 3 "$OUT"/compile_*.log
timeout 330 python3 -m pytest -q -s -p no:cacheprovider plugins/worldsim-ttt/tests/test_triton_gpu.py ${SELECT:+-k "$SELECT"} \
  > "$OUT/tests.log" 2>&1; echo "tests rc=$?"; grep -E "passed|failed|Error|^mlp|^linear" "$OUT/tests.log" | tail -n 40
if [ $# -gt 0 ]; then timeout 230 python3 -m worldsim_ttt.bench --json "$@" 2>&1 | tee "$OUT/bench.log"; fi
for f in $(find "$TRITON_CACHE_DIR" -name '*.cubin'); do cuobjdump -res-usage "$f" 2>/dev/null | grep -A1 Function | tr -s ' ' | paste - -; done
