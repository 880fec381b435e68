#!/usr/bin/env bash
# One 2x H200 lease for the default camera model (docs/TRAINING.md): two pipelines, one per GPU,
# each one detached in-process driver (scripts/train_default.py) started in the first call.
#   bash scripts/lease_default.sh start     # first call: install, start both, follow for ~9 min
#   bash scripts/lease_default.sh follow    # later calls: follow until both finish or ~9 min pass
#   bash scripts/lease_default.sh collect   # last call: models, strips and logs into $OUT
# A: the default preset. B: the same on A's bank with a 4x wider VAE encoder/full decoder.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export TORCHINDUCTOR_COMPILE_THREADS=1 PYTHONPATH=/tmp/site:/tmp/repo PYTHONUNBUFFERED=1
WD=/tmp/wd
A_BUDGETS=${A_BUDGETS:-'{"vae": 240, "adapt": 450, "distill": 0}'}
B_BUDGETS=${B_BUDGETS:-'{"vae": 240, "adapt": 380, "distill": 0}'}

follow() {   # print progress until both drivers say done/failed or $1 seconds pass
    local until=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -lt "$until" ]; do
        sleep 30
        echo "--- $(date +%T)"; tail -n 2 $WD/camera/driver.log $WD/wide/driver.log 2>/dev/null | grep -v '^$'
        nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
        if grep -l Traceback $WD/a.out $WD/b.out 2>/dev/null; then tail -n 5 $WD/a.out $WD/b.out; break; fi
        if ! pgrep -f train_default.py >/dev/null; then echo "both drivers ended"; break; fi
    done
}

case "${1:-}" in
start)
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    pkill -f train_default.py; sleep 1; rm -rf /tmp/repo $WD && mkdir -p /tmp/repo $WD && cp -r worldsim scripts pyproject.toml /tmp/repo/
    cd /tmp/repo
    CUDA_VISIBLE_DEVICES=0 setsid nohup python3 scripts/train_default.py camera --work $WD/camera --workers 14 \
        --compile --attention flex --t-one 0.5 --budgets "$A_BUDGETS" > $WD/a.out 2>&1 < /dev/null &
    CUDA_VISIBLE_DEVICES=1 setsid nohup python3 scripts/train_default.py camera --work $WD/wide --bank-from $WD/camera \
        --vae-set channels=64,128,256,256 --compile --attention flex --t-one 0.5 --budgets "$B_BUDGETS" \
        > $WD/b.out 2>&1 < /dev/null &
    follow "${2:-540}" ;;
follow)
    follow "${2:-560}" ;;
collect)
    cd $WD
    for run in camera wide; do
        tar cf - $run/driver.log $run/*/log.jsonl $run/samples_*.png $run/ship_* 2>/dev/null | split -b 15M - "$OUT/$run.tar."
    done
    tail -n 40 a.out b.out > "$OUT/out_tail.txt"; ls -la "$OUT" ;;
*)
    echo "usage: $0 start|follow|collect [seconds]"; exit 2 ;;
esac
