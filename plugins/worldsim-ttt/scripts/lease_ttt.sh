#!/usr/bin/env bash
# One nvidia-h200 lease of the long-form model (issue 17), from the repository root, carrying .whl:
#   bash plugins/worldsim-ttt/scripts/lease_ttt.sh start     # call 1: install, start ONE detached driver, follow it
#   bash plugins/worldsim-ttt/scripts/lease_ttt.sh follow    # (only if call 1 ended before the driver did)
#   bash plugins/worldsim-ttt/scripts/lease_ttt.sh collect   # call 2: model_f16.tar.* (<= 15 MiB each) + results.tar into $OUT
#   bash plugins/worldsim-ttt/scripts/lease_ttt.sh --dry-run # here, before a lease: the same path, tiny, CPU, seconds
#   bash plugins/worldsim-ttt/scripts/lease_ttt.sh start-pair  # on a 2-GPU machine: the TTT-MLP model on GPU 0 (WD) and
#       the segment-local baseline (--kind none, no bench) on GPU 1 ($WD-local), same films and budget (ONE_GPU=1: both
#       on GPU 0, 7 render workers each); then
#       `collect` and `WD=/tmp/wd/ttt-local ... collect` (one call each; results_ttt-local.tar for the second), or the
#       films alone in one call: `NO_MODEL=1 ... collect; NO_MODEL=1 WD=/tmp/wd/ttt-local ... collect`
# The driver (film_lease.py, one Python process started with setsid nohup in call 1: processes started
# after a call ends cannot load torch) renders training films on 14 CPU workers, fine-tunes the
# long-form model from worldsim/assets/default for MINUTES (3-s films, then 9-s ones), renders both
# example storyboards to mp4 and runs bench_film. The whole pipeline is meant to end inside call 1.
# Environment: MINUTES (fine-tuning wall clock, default 2.5), FILMS (48), BATCH (8), RENDER_STEPS (16),
# SCENES (3) and STAGES (default 1,SCENES): e.g. SCENES=6 STAGES=1,3,6 trains on 3-, 9- and then 18-s films.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR=/tmp/ttt-triton-cache
WD=${WD:-/tmp/wd/ttt}
PY=python3
CALL_START=$(date +%s)
DRIVER_ARGS="--minutes ${MINUTES:-2.5} --films ${FILMS:-48} --batch ${BATCH:-8} --render-steps ${RENDER_STEPS:-16}
    --scenes ${SCENES:-3}${STAGES:+ --stages $STAGES} --kind ${KIND:-mlp}"

alive() { [ -f "$WD/driver.pid" ] && kill -0 "$(cat "$WD/driver.pid")" 2>/dev/null; }

follow() {   # progress until the driver ends or $1 seconds after this call started
    local until=$(( CALL_START + $1 ))
    while [ "$(date +%s)" -lt "$until" ]; do
        sleep 20
        echo "--- $(date +%T)"; tail -n 3 "$WD/driver.log" 2>/dev/null
        command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
        if ! alive; then echo "driver ended"; tail -n 20 "$WD/driver.out"; break; fi
    done
}

collect() {  # $1: where the files go; NO_MODEL=1: the results alone (two runs' fit one call, their models do not)
    local out=$1 name=results; [ "$(basename "$WD")" = ttt ] || name=results_$(basename "$WD")
    [ -d "$WD/model_f16" ] && [ -z "${NO_MODEL:-}" ] && tar cf - -C "$WD" model_f16 | split -b 15M - "$out/model_f16.tar."
    (cd "$WD" && tar cf "$out/$name.tar" driver.log driver.out bench_film.json ./*.mp4 2>/dev/null)
    ls -la "$out"; tar tvf "$out/$name.tar"
}

case "${1:-}" in
start)
    $PY -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
    if alive; then echo "a driver is running already (pid $(cat "$WD/driver.pid")): follow"; follow "${2:-570}"; exit 0; fi
    rm -rf /tmp/repo "$WD" && mkdir -p /tmp/repo/plugins "$WD"
    cp -r worldsim pyproject.toml /tmp/repo/ && cp -r plugins/worldsim-ttt /tmp/repo/plugins/
    export PYTHONPATH=/tmp/site:/tmp/repo:/tmp/repo/plugins/worldsim-ttt
    cd /tmp/repo
    setsid nohup $PY plugins/worldsim-ttt/scripts/film_lease.py --work "$WD" --device cuda --workers 14 \
        --checkpoint worldsim/assets/default $DRIVER_ARGS > "$WD/driver.out" 2>&1 < /dev/null &
    echo $! > "$WD/driver.pid"
    follow "${2:-570}" ;;
start-pair)
    $PY -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
    rm -rf /tmp/repo "$WD" "$WD-local" && mkdir -p /tmp/repo/plugins "$WD" "$WD-local"
    cp -r worldsim pyproject.toml /tmp/repo/ && cp -r plugins/worldsim-ttt /tmp/repo/plugins/
    export PYTHONPATH=/tmp/site:/tmp/repo:/tmp/repo/plugins/worldsim-ttt
    cd /tmp/repo
    # ONE_GPU=1 (only the 1-GPU kind lent): both on GPU 0 (two 128x128 fine-tunes of the default preset fit beside each
    # other), each rendering its films with half the CPU workers
    local_gpu=1; workers=14; if [ -n "${ONE_GPU:-}" ]; then local_gpu=0; workers=7; fi
    CUDA_VISIBLE_DEVICES=0 setsid nohup $PY plugins/worldsim-ttt/scripts/film_lease.py --work "$WD" --device cuda \
        --workers $workers --checkpoint worldsim/assets/default $DRIVER_ARGS > "$WD/driver.out" 2>&1 < /dev/null &
    echo $! > "$WD/driver.pid"
    CUDA_VISIBLE_DEVICES=$local_gpu setsid nohup $PY plugins/worldsim-ttt/scripts/film_lease.py --work "$WD-local" --device cuda \
        --workers $workers --checkpoint worldsim/assets/default $DRIVER_ARGS --kind none --no-bench \
        > "$WD-local/driver.out" 2>&1 < /dev/null &
    echo $! > "$WD-local/driver.pid"
    follow "${2:-570}"; tail -n 3 "$WD-local/driver.log" ;;
follow)
    follow "${2:-570}" ;;
collect)
    collect "$OUT" ;;
--dry-run)
    WD=$(mktemp -d /tmp/ttt-lease-dry.XXXX); out=$WD/out; mkdir -p "$out"
    export PYTHONPATH=$PWD:$PWD/plugins/worldsim-ttt${PYTHONPATH:+:$PYTHONPATH}
    PY=${PYTHON:-python3}
    setsid nohup $PY plugins/worldsim-ttt/scripts/film_lease.py --work "$WD" --dry-run > "$WD/driver.out" 2>&1 < /dev/null &
    echo $! > "$WD/driver.pid"
    follow 300
    grep -q "] done" "$WD/driver.log" && ! grep -q FAILED "$WD/driver.log" || { echo "dry run FAILED"; cat "$WD/driver.log"; exit 1; }
    collect "$out"
    echo "dry run ok: $WD" ;;
*)
    echo "usage: $0 start|start-pair|follow|collect|--dry-run [seconds to follow]"; exit 2 ;;
esac
