#!/usr/bin/env bash
# Device measures that wait for a GPU, one mode a call (one H200; carry .whl), leaving its files in $OUT (blocks.tar, rerun.tar):
#   bash scripts/lease_measure.sh blocks   # issue 14 (~7 min): the step compiled by blocks vs the whole step
#   bash scripts/lease_measure.sh rerun    # issue 17 (~4 min): the TTT-MLP backward's groups re-run all at once
# (The training leases and the earlier measures: scripts/lease_default.sh.)
set -u
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor
case "${1:-}" in
blocks)     # issue 14 on one GPU (~7 min): the step compiled by blocks (session 16: each block's code once per shape, the
            # step captured as CUDA graphs by hand; models/step_graphs.py) against the whole step traced: its gpu tests,
            # `bench model` 1.3b in both scopes (ms a step, compile_s), then 1.3b served to 4 sessions compiled by blocks
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export CUDA_VISIBLE_DEVICES=0 PYTHONPATH=/tmp/site:$PWD TORCHINDUCTOR_COMPILE_THREADS=16
    B=/tmp/measure; rm -rf $B; mkdir -p $B
    timeout 240 python3 -m pytest -m gpu -q -rf --tb=short -o addopts="--import-mode=importlib" -p no:cacheprovider \
        tests/models/test_step_blocks.py tests/models/test_step_compile.py tests/models/test_warmup.py > $B/gpu_tests.txt 2>&1
    tail -n 5 $B/gpu_tests.txt
    for sc in blocks step; do
        timeout 240 python3 -m worldsim.bench.model --preset 1.3b --res 832x480 --window 21 --steps 30 --device cuda \
            --compile --compile-scope $sc --json > $B/model_1.3b_$sc.json 2> $B/model_1.3b_$sc.err
        echo "1.3b, scope $sc: $(tail -c 700 $B/model_1.3b_$sc.json) $(tail -n 2 $B/model_1.3b_$sc.err)"; done
    timeout ${E2E_S:-240} python3 -c "import sys; from worldsim.cli import main; sys.exit(main(sys.argv[1:]))" bench e2e --device cuda \
        --seconds 8 --json --preset 1.3b --res 832x480 --window 21 --sessions 4 --compile --compile-scope blocks \
        --worker-log $B/worker_1.3b_4_blocks.log > $B/1.3b_blocks_4.json 2> $B/1.3b_blocks_4.err
    echo "1.3b_blocks_4: $(tail -c 700 $B/1.3b_blocks_4.json) $(tail -n 2 $B/1.3b_blocks_4.err)"
    tar cf "$OUT/blocks.tar" -C /tmp measure ;;
rerun)      # issue 17 on one GPU (~4 min): the TTT-MLP backward with every checkpoint group re-run at once
            # ($WORLDSIM_TTT_MLP_RERUN=parallel, session 16) against the inline re-run: its gpu tests, then the kernels'
            # bench at 48 heads, 18k and 101k tokens (the backward's target: >= 5x torch at 18k). In $OUT/rerun.tar
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export CUDA_VISIBLE_DEVICES=0 PYTHONPATH=/tmp/site:$PWD:$PWD/plugins/worldsim-ttt TRITON_CACHE_DIR=/tmp/ttt-triton-cache
    B=/tmp/measure4; rm -rf $B; mkdir -p $B
    timeout 200 python3 -m pytest -m gpu -q -rf --tb=short -o addopts="--import-mode=importlib" -p no:cacheprovider -s \
        plugins/worldsim-ttt/tests/test_triton_split.py -k parallel_rerun > $B/gpu_tests.txt 2>&1; tail -n 6 $B/gpu_tests.txt
    for r in inline parallel; do
        WORLDSIM_TTT_MLP_RERUN=$r timeout 150 python3 -m worldsim_ttt.bench --backends triton --heads 48 \
            --lengths 18432 101376 --json > $B/ttt_rerun_$r.json 2> $B/ttt_rerun_$r.err
        echo "rerun $r: $(head -c 1500 $B/ttt_rerun_$r.json) $(tail -n 2 $B/ttt_rerun_$r.err)"; done
    tar cf "$OUT/rerun.tar" -C /tmp measure4 ;;
*)
    echo "usage: $0 blocks|rerun"; exit 2 ;;
esac
