#!/usr/bin/env bash
# One 2x H200 lease for the default camera model (docs/TRAINING.md): two runs, one per GPU, each one
# detached in-process driver (scripts/train_default.py) started in the first call.
#   bash scripts/lease_default.sh start     # first call: install, start both, GPU tests and `bench e2e` on GPU 1, follow
#   bash scripts/lease_default.sh follow    # later calls: follow until both finish or ~9 min pass
#   bash scripts/lease_default.sh collect camera ship   # then: collect plain ship, collect inductor (<= 64 MiB a call)
#   bash scripts/lease_default.sh bench     # once both have finished: the step compiled with CUDA graphs (issue 14), one GPU each
#   bash scripts/lease_default.sh sp        # 8b at 1280x720 sequence-parallel on both GPUs vs one (issue 14)
#   bash scripts/lease_default.sh fp8       # FP8 linears (worldsim/models/fp8.py): 8b and 1.3b compiled with --fp8, one GPU each (~4 min)
#   bash scripts/lease_default.sh start-table5    # instead of start: the Table 5 pair below (then follow, collect t10 / t60 full)
#     WITH_TTT=1: also the long-form model's lease (issue 17, plugins/worldsim-ttt/scripts/film_lease.py) on
#     GPU 1 while B waits for A's bank; `collect` it with `WD=/tmp/wd/ttt bash plugins/worldsim-ttt/scripts/lease_ttt.sh collect`
#   bash scripts/lease_default.sh dry-table5 [DIR]  # that plan on this CPU, tiny preset at 32x32 (~2 min, most of it the init)
# Evaluate what comes back on the CPU (`bash scripts/eval_lease.sh OUT CHECKPOINT...`, ~5.3 min a model, its two seed sets at once): on the device the truth
# renderer's compiled CPU kernels did not build and five evals did not finish in 9 minutes.
# `start` (plan 5; ran as the fifth lease, docs/TRAINING.md: the fifth release ships from A): both go on from
# the shipped default (no VAE stage) on banks rendered with its camera encoding.
# A (GPU 0): adapt on its own free rollouts (--own-passes -1), then stage 3 student-forced with the
#   regression anchor at a 5x lower learning rate.
# B (GPU 1): the GPU tests and `bench e2e` while A adapts, then stage 3 of A's adapted model
#   teacher-forced with the same settings (AAPT's Fig. 7 ablation).
# Plan 7, `start-adapt` (next lease): the one lever that moved play so far was adapting on the model's own free
# rollouts (fifth lease: yaw following 51 -> 58 %, turn360 +2.2 dB); stage 3 with the anchor and Table 5 left the model
# where it was (sixth lease). Both GPUs go on from the shipped default with --own-passes -1 --own-fraction 0.75 for
# ADAPT_S (840) s: A on 81-frame clips (21 latent frames), B on 161-frame clips (41: the rollout runs 25 frames past
# the 16-frame window). Then `follow`, `collect camera ship`, `collect long ship`; `dry-adapt` checks it here (~3 min).
# Ran as the seventh lease (docs/TRAINING.md): neither model beat the shipped one. MOTION_WEIGHT=w adds
# adapt.motion_weight (frames where the world changes weigh more; built after, run as plan 8 below).
# Plan 8 (eighth lease): the motion weight's dose, both on 81-frame clips, A at w = 2 and B at w = 4:
#   MOTION_WEIGHT=2 B_MOTION_WEIGHT=4 B_RUN=motion4 B_ARGS= bash scripts/lease_default.sh start-adapt
#   (B_RUN names B's run, B_ARGS replaces its clip flags, B_MOTION_WEIGHT its weight), then follow, `measure`
#   once both have ended, `collect camera ship`, `collect motion4 ship`.
#   Ran as the eighth lease (docs/TRAINING.md): w = 2 turned more on both seed sets and ships (the sixth release);
#   w = 4 turned less. Plan 9 (next): from the sixth release, w = 2 again on 81-frame clips (does more of it help?)
#   against w = 2 on 161-frame clips (past the window): MOTION_WEIGHT=2 bash scripts/lease_default.sh start-adapt
#   Or (plan 9b) the sharpness lever on A instead: what blurs play into green is the one-step regression to the mean,
#   which only stage 3 addresses; the anchor at lambda 10 / 2e-6 left the model where it was (leases 5-6) and no anchor at
#   5x the rate broke it (lease 4), so A tries between them, 720 s from the sixth release:
#     MOTION_WEIGHT=2 A_RUN=adv A_ARGS="--adv-lr 5e-6 --adv-regression 3" \
#       A_BUDGETS_P='{"adapt": 0, "distill": 0, "adversarial": 720}' bash scripts/lease_default.sh start-adapt
#   (A_RUN, A_ARGS and A_BUDGETS_P name A's run, add to its flags and replace its budgets), then collect adv ship.
#   Ran as the ninth lease with B = w = 2 again on 81-frame clips (B_RUN=again B_ARGS=; docs/TRAINING.md): B turned more
#   again on both seed sets and ships (the seventh release); A changed nothing, its D at chance after 308 steps of 8 clips.
# Plan 10 (next), both from the seventh release; stage 3 now compiles (whole clips on flex) and every rollout steps
# through the step's own compiled graphs (docs/train.md), so both should make more steps in the same time:
#   MOTION_WEIGHT=2 A_RUN=adv A_ARGS="--adv-lr 5e-6 --adv-regression 3 --adv-batch 32 --adv-warmup 20" \
#     A_BUDGETS_P='{"adapt": 0, "distill": 0, "adversarial": 720}' B_RUN=again B_ARGS= bash scripts/lease_default.sh start-adapt 560
#   A: stage 3 with 4x the clips a step (does D leave chance when it sees ~10x the clips?); B: the weighted adapt a third
#   time (does the lever keep turning the model?). Then follow 540, collect adv ship + collect again ship (one call),
#   `measure` (~9 min) with what is left; `dry-adapt` checks the path here.
#   Ran as the tenth lease on one H200 (ONE_GPU=1: both on GPU 0, B on A's bank; docs/TRAINING.md): neither ships. The
#   third adapt turned more held-out only and drifted more on both seed sets (the lever has stopped paying); stage 3 at
#   23,680 clips left D at chance again. `probe` (scripts/d_probe.py) showed why: the R1/R2 term at lambda 1000 keeps D
#   flat; without it D ranks the model's rollouts below the world 97-98 % of the time on unseen walks, at lambda 10 ~90 %.
# Plan 11 (next): stage 3 with a discriminator that learns, both from the seventh release, D at 10x G's rate:
#   S3="--adv-lr 5e-6 --adv-d-lr 5e-5 --adv-regression 3 --adv-batch 32 --adv-warmup 20"; S3B='{"adapt": 0, "distill": 0, "adversarial": 720}'
#   ONE_GPU=1 A_RUN=r10 A_ARGS="$S3 --adv-r-lambda 10" A_BUDGETS_P="$S3B" B_RUN=r0 B_ARGS="$S3 --adv-r-lambda 0" \
#     B_BUDGETS_P="$S3B" bash scripts/lease_default.sh start-adapt 540      # (no ONE_GPU on a 2-GPU machine)
#   Memory, estimated: the tenth lease's adapt + one stage 3 at batch 32 held 93,245 MiB; two stage-3 runs may need ~115,000 MiB
#   of the ~139 GiB (~142,000 MiB) the device lists (follow prints it; on an out-of-memory, --adv-batch 24).
#   then follow 560, collect r10 ship + collect r0 ship (one call). Watch d_real_first in the logs (0.5 = chance): it
#   should leave 0.5 within ~50 steps; G then gets a real adversarial gradient, and the anchor (lambda 3) keeps the
#   world's content. Judge with eval_lease.sh as before; the strips show whether the picture sharpens.
#   Ran as the eleventh lease (630 s each; docs/TRAINING.md): D left chance in both (ranks the real walk first 94-96 %),
#   G moved, and its rollouts carry ~45 % more detail held-out, up to the VAE light decoder's own ceiling (docs/QUALITY.md),
#   for 0.1-0.6 dB; not better on both seed sets, neither shipped. Fig. 7 and Table 5 with this D are still to run.
# Plan 12 (next; one GPU, ~29 min): the ceiling is now the play decoder. 1) `sharpen` (one call, ~8 min): the light decoder
#   sharpened on the shipped model's frozen latents, detail + patch D vs detail alone, both shipped int8 in $OUT; 2) stage 3
#   as r0/r10 again (start-adapt 550 as in plan 11, then in one call: follow 400; collect RUN ship; ...), and while that
#   machine is warm, `SHARP_FROM=/tmp/wd/r0/full_adversarial bash scripts/lease_default.sh sharpen` would give the pair.
#   Judge each with eval_lease.sh against the default (detail beside PSNR: docs/QUALITY.md, "The measures").
#   Ran as the twelfth lease (session 14; docs/TRAINING.md): the sharpen bank's 13 workers (~8.7 GiB of GPU each) ran GPU 0
#   out of memory beside two stage-3 runs, and with 3 (SHARP_WORKERS) the bank took ~4 min and `timeout` cut the mode before
#   its export; the outputs were lost with the session, unevaluated. Plan 13 (session 15), the same in two calls (~15 min):
#     S3="--adv-lr 5e-6 --adv-d-lr 5e-5 --adv-regression 3 --adv-batch 32 --adv-warmup 20 --adv-r-lambda 10"
#     S3B='{"adapt": 0, "distill": 0, "adversarial": 480}'
#     ONE_GPU=1 A_RUN=r10 A_ARGS="$S3" A_BUDGETS_P="$S3B" B_RUN=tf10 B_ARGS="$S3 --adv-teacher-forced" B_BUDGETS_P="$S3B" \
#       bash scripts/lease_default.sh start-adapt 30; SHARP_WORKERS=4 SHARP_S=150 bash scripts/lease_default.sh sharpen
#   then `follow 400; collect r10 ship; collect tf10 ship` in one call (`sharpen-ship` there if sharpen was cut).
#   Ran as the thirteenth lease, with Table 5's pair on the same D after (docs/TRAINING.md, docs/QUALITY.md): none ships.
#   Student forcing turned a little more than teacher forcing; the 60-s arm's 13 steps left it at its init; the sharpened
#   decoders add detail that is not the world's (the blur is in the generator's latents). The 10-s long-video run (t10,
#   110 steps) was the best stage 3 held-out (AR 19.4 dB at 10 s, drift 2.54) but not on the unseen seeds.
# Plan 14 (next; one GPU, ~28 min): does t10 keep improving with ~2.3x its steps? Then the measures that wait for a GPU:
#   T5A="--adv-lr 5e-6 --adv-d-lr 5e-5 --adv-regression 3 --adv-r-lambda 10"
#   T5_ONLY_10=1 ONE_GPU=1 T5_ARGS="$T5A" T5_BUDGETS='{"adapt": 0, "distill": 0, "adversarial": 900}' \
#     bash scripts/lease_default.sh start-table5 570
#   then in one call: follow 480; collect t10 ship   (3.5-4 s a step shared or alone: ~250 steps in 900 s)
#   then `measure2` (~8 min): 1.3b e2e compiled at 4 sessions (issue 14), the film table with exact vs TF32 TTT dots (17).
#   Ran as the fourteenth lease (docs/TRAINING.md): 234 steps, worse than its own 110 and not better than the default on
#   either seed set; stage 3 has stopped paying. measure2's 1.3b warm-up ran past its limit (~1 min a graph, 8 graphs).
# Plan 15 (next; one GPU, ~27 min): what waits for a GPU in issues 17 and 14.
#   1) the paper's quality pair (issue 17): the TTT-MLP long-form model and the segment-local baseline trained the same
#      way, side by side on GPU 0:  ONE_GPU=1 MINUTES=4 bash plugins/worldsim-ttt/scripts/lease_ttt.sh start-pair 560
#      then in one call:  L=plugins/worldsim-ttt/scripts/lease_ttt.sh; bash $L follow 200; NO_MODEL=1 bash $L collect;
#      NO_MODEL=1 WD=/tmp/wd/ttt-local bash $L collect     (the films), then on the CPU, each results tar unpacked into
#      runs/leaseN/{ttt,ttt-local}:  python plugins/worldsim-ttt/scripts/film_pair.py runs/leaseN/ttt runs/leaseN/ttt-local \
#        --labels TTT-MLP local    (caption agreement by the shipped judge and scene consistency, a Markdown row each)
#   2) `bash scripts/lease_measure.sh blocks` (~7 min): the step compiled by blocks against the whole step (issue 14).
#   3) `bash scripts/lease_measure.sh rerun` (~4 min): the TTT-MLP backward's groups re-run all at once (issue 17).
#   Plan 15 in all: ~27 min with the machine's start; if time runs short, 3) before 2).
# The Table 5 plan (issue 12: AAPT's "10-s vs 60-s long-video training" at our scale), start-table5: one long
# bank, 96 walks of 60 s (1441 video = 361 latent frames; world seeds 0-95, one walk each), rendered once by A
# on GPU 0 (13 worker processes: each holds ~8.5 GiB of GPU 0, and 18 ran it out of memory in the sixth lease) and encoded with the init's VAE; B reads A's latents (--latents-from). Both
# run stage 3 student-forced with the anchor (--adv-lr 2e-6 --adv-regression 10) from the same init ($T5_FROM,
# default the shipped model; D from it too), batch 8, segments of 21 latent frames overlapping by 1, 480 s:
# A (GPU 0) rolls out 41 latent frames (10 s, 2 segments), B (GPU 1) 361 (60 s, 18 segments); every segment
# follows the walk's own camera and is judged against, and regressed onto, the walk's true frames there.
# Estimate, not measured: lease 7's stage-3 steps on 21-frame clips at batch 8 took 1.1-1.9 s, and lease 6's
# long video (4 segments) 7.03 s/step against 1.89 s for one clip, so a step costs ~one 21-frame step per
# segment: A ~2.2-3.8 s/step, ~125-220 steps in 480 s (warm-up 18 steps); B ~20-34 s/step, ~14-24 steps
# (warm-up 2: the same share of the budget). Bank: lease 7 rendered 93k frames in 76 s (GPU 0, 14 workers);
# 96 x 1441 = 138k frames, ~2 min, + a 6.8 GB pixel bank written and read back and encoded (2 clips a call).
# Device time: machine start + ~4 min bank and encode + 8 min stage 3 + ~1 min samples and shipping, i.e. the
# start-table5 call (570 s) and one follow call, then `collect t10 full` and `collect t60 full`: ~17 min.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export TORCHINDUCTOR_COMPILE_THREADS=1 PYTHONPATH=/tmp/site:/tmp/repo PYTHONUNBUFFERED=1
# Inductor's caches (FX graphs, AOT autograd, Triton kernels) in one folder: `collect inductor` brings it
# back, and a later lease that carries it as .inductor/ (git-ignored) starts from it instead of compiling anew
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor TORCHINDUCTOR_FX_GRAPH_CACHE=1 TORCHINDUCTOR_AUTOGRAD_CACHE=1
WD=/tmp/wd
A_BUDGETS=${A_BUDGETS:-'{"adapt": 360, "distill": 0, "adversarial": 480}'}
B_BUDGETS=${B_BUDGETS:-'{"adapt": 0, "distill": 0, "adversarial": 0, "ablation": 480}'}
FROM=worldsim/assets/default
T5_FROM=${T5_FROM:-$FROM}
T5_BUDGETS=${T5_BUDGETS:-'{"adapt": 0, "distill": 0, "adversarial": 480}'}
T5="--clip-frames 1441 --train-seeds 0-95:1 --segment-frames 21 --adv-batch 8 --adv-lr 2e-6 --adv-regression 10"
COMMON="--continue-from $FROM --recycle-warp --compile --attention flex --t-one 0.5 --adapt-lr 2e-4 --adv-lr 2e-6 --adv-regression 10"
CALL_START=$(date +%s)

follow() {   # print progress until both drivers say done/failed or $1 seconds after the call started
    local until=$(( CALL_START + $1 ))
    while [ "$(date +%s)" -lt "$until" ]; do
        sleep 30
        echo "--- $(date +%T)"; tail -n 2 $WD/*/driver.log 2>/dev/null | grep -v '^$'
        for f in $WD/*/*/log.jsonl; do [ -f "$f" ] && echo "$f: $(tail -n 1 "$f" | cut -c1-180)"; done   # d_real_first: D's health
        nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader
        if grep -l Traceback $WD/a.out $WD/b.out 2>/dev/null; then tail -n 5 $WD/a.out $WD/b.out; break; fi
        if ! pgrep -f train_default.py >/dev/null; then echo "both drivers ended"; break; fi
    done
}

ship_sharpened() {   # sharpen's two decoders shipped int8 (the generator the init's, bit for bit) and their logs, in $OUT/sharpen.tar.*
    local S=/tmp/sharpen
    for v in sharp detail; do tail -n 2 $S/$v.out; tail -n 1 $S/$v/log.jsonl | cut -c1-300
        python3 -c "import sys; from worldsim.models.checkpoint import load_checkpoint; from worldsim.models.shipped import save_shipped
m, meta = load_checkpoint(sys.argv[1]); keep = {k: meta[k] for k in ('trained_clip_frames',) if k in meta}
save_shipped(m, sys.argv[2], dtype='int8', controls=meta.get('controls'), extra={'trained_by': 'worldsim train vae (vae.train = light)', **keep})" \
            $S/$v/model $S/ship_$v; done
    tar cf - -C /tmp sharpen/sharp/log.jsonl sharpen/detail/log.jsonl sharpen/ship_sharp sharpen/ship_detail sharpen/sharp.toml \
        sharpen/sharp.out sharpen/detail.out | split -b 15M - "$OUT/sharpen.tar."; ls -la $OUT
}

case "${1:-}" in
start)
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    pkill -f train_default.py; sleep 1; rm -rf /tmp/repo $WD && mkdir -p /tmp/repo $WD && cp -r worldsim scripts pyproject.toml /tmp/repo/
    if [ -d .inductor ]; then rm -rf /tmp/inductor && cp -r .inductor /tmp/inductor; fi
    ROOT=$PWD; cd /tmp/repo
    # A compiles its adapt stage ~100 s into this call, so Inductor's compile workers start while the call
    # lives (processes started after it ends cannot load torch); in the fourth lease, compiling single-threaded
    # was presumably most of the ~190 s of a 480-s stage spent outside steps. Should the pool fail, the stage
    # runs again eagerly (train_default.py).
    CUDA_VISIBLE_DEVICES=0 TORCHINDUCTOR_COMPILE_THREADS=8 setsid nohup python3 scripts/train_default.py camera \
        --work $WD/camera --workers 14 \
        $COMMON --own-passes -1 --budgets "$A_BUDGETS" > $WD/a.out 2>&1 < /dev/null &
    CUDA_VISIBLE_DEVICES=1 setsid nohup python3 scripts/train_default.py camera --work $WD/plain --latents-from $WD/camera \
        $COMMON --then-adversarial-ablation $WD/camera --budgets "$B_BUDGETS" > $WD/b.out 2>&1 < /dev/null &
    cd $ROOT
    export CUDA_VISIBLE_DEVICES=1 PYTHONPATH=/tmp/site:$ROOT:$ROOT/plugins/worldsim-ttt
    timeout 240 python3 -m pytest -m gpu -q -rf --tb=short -o addopts="--import-mode=importlib" -p no:cacheprovider \
        tests/models tests/runtime plugins/worldsim-ttt/tests/test_triton_gpu.py > $WD/gpu_tests.txt 2>&1
    tail -n 15 $WD/gpu_tests.txt
    for s in 1 128 256; do
        timeout 90 python3 -c "import sys; from worldsim.cli import main; sys.exit(main(sys.argv[1:]))" bench e2e \
            --preset default --res 128x128 --window 16 --sessions $s --device cuda --seconds 8 --json \
            > $WD/bench_e2e_$s.json 2> $WD/bench_e2e_$s.err; tail -c 400 $WD/bench_e2e_$s.json; tail -n 2 $WD/bench_e2e_$s.err
    done
    unset CUDA_VISIBLE_DEVICES
    follow "${2:-570}" ;;
start-table5)   # the Table 5 pair (header): A renders the long bank and trains 10 s, B trains 60 s on A's latents
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    pkill -f train_default.py; sleep 1; rm -rf /tmp/repo $WD && mkdir -p /tmp/repo $WD && cp -r worldsim scripts pyproject.toml /tmp/repo/
    case "$T5_FROM" in /*) ;; *) T5_FROM=$PWD/$T5_FROM ;; esac      # a given checkpoint: relative to this checkout
    ROOT=$PWD; cd /tmp/repo
    CUDA_VISIBLE_DEVICES=0 setsid nohup python3 scripts/train_default.py camera --work $WD/t10 --workers ${T5_WORKERS:-13} \
        --continue-from "$T5_FROM" $T5 ${T5_ARGS:-} --long-frames 41 --adv-warmup 18 --budgets "$T5_BUDGETS" > $WD/a.out 2>&1 < /dev/null &
    # ONE_GPU=1: t60 shares GPU 0 (it waits for t10's bank either way); T5_ARGS: flags after T5's (the later one wins);
    # T5_ONLY_10=1: t10 alone
    [ -n "${T5_ONLY_10:-}" ] || CUDA_VISIBLE_DEVICES=$([ -n "${ONE_GPU:-}" ] && echo 0 || echo 1) setsid nohup python3 scripts/train_default.py camera --work $WD/t60 --latents-from $WD/t10 \
        --continue-from "$T5_FROM" $T5 ${T5_ARGS:-} --long-frames 361 --adv-warmup 2 --budgets "$T5_BUDGETS" > $WD/b.out 2>&1 < /dev/null &
    cd $ROOT
    if [ -n "${WITH_TTT:-}" ]; then   # the long-form model (issue 17) on GPU 1 while B waits for A's bank; its bench_film runs in `bench`
        mkdir -p $WD/ttt; cp -r plugins /tmp/repo/
        (cd /tmp/repo && CUDA_VISIBLE_DEVICES=1 TRITON_CACHE_DIR=/tmp/ttt-triton-cache PYTHONPATH=$PYTHONPATH:/tmp/repo/plugins/worldsim-ttt \
            setsid nohup python3 plugins/worldsim-ttt/scripts/film_lease.py --work $WD/ttt --device cuda --workers ${TTT_WORKERS:-10} \
            --checkpoint worldsim/assets/default --minutes ${TTT_MINUTES:-3} --no-bench > $WD/ttt/driver.out 2>&1 < /dev/null &
         echo $! > $WD/ttt/driver.pid)
    fi
    follow "${2:-570}" ;;
start-adapt)    # plan 7 (header): both GPUs adapt on their own free rollouts for ADAPT_S seconds, 81- vs 161-frame clips
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    pkill -f "[t]rain_default"; sleep 1; rm -rf /tmp/repo $WD && mkdir -p /tmp/repo $WD && cp -r worldsim scripts pyproject.toml /tmp/repo/
    if [ -d .inductor ]; then rm -rf /tmp/inductor && cp -r .inductor /tmp/inductor; fi
    ROOT=$PWD; cd /tmp/repo
    P7="$COMMON --own-passes -1 --own-fraction ${OWN_FRACTION:-0.75} --workers 13 --profile-steps ${PROFILE_STEPS:-5}"
    P7_BUDGETS="{\"adapt\": ${ADAPT_S:-840}, \"distill\": 0, \"adversarial\": 0}"
    CUDA_VISIBLE_DEVICES=0 TORCHINDUCTOR_COMPILE_THREADS=8 setsid nohup python3 scripts/train_default.py camera \
        --work $WD/${A_RUN:-camera} $P7 --motion-weight ${MOTION_WEIGHT:-0} ${A_ARGS:-} --budgets "${A_BUDGETS_P:-$P7_BUDGETS}" > $WD/a.out 2>&1 < /dev/null &
    # ONE_GPU=1 (only the 1-GPU kind lent): B shares GPU 0 (both steps are mostly launch-bound: the adapt step kept the
    # GPU busy 0.16 of 0.45 s in session 11) and reads A's bank instead of rendering its own
    # ONLY_A=1: A alone (one short run on what is left of a session's device time)
    B_GPU=1; B_LAT=; if [ -n "${ONE_GPU:-}" ]; then B_GPU=0; B_LAT="--latents-from $WD/${A_RUN:-camera}"; fi
    [ -n "${ONLY_A:-}" ] || CUDA_VISIBLE_DEVICES=$B_GPU TORCHINDUCTOR_COMPILE_THREADS=8 setsid nohup python3 scripts/train_default.py camera \
        --work $WD/${B_RUN:-long} $B_LAT $P7 --motion-weight ${B_MOTION_WEIGHT:-${MOTION_WEIGHT:-0}} ${B_ARGS---clip-frames 161 --train-seeds 0-383:2} --budgets "${B_BUDGETS_P:-$P7_BUDGETS}" > $WD/b.out 2>&1 < /dev/null &
    cd $ROOT
    follow "${2:-570}" ;;
dry-adapt)      # plan 7 on this CPU: the tiny preset, 17- vs 33-frame clips, own free rollouts, a few seconds each
    D=${2:-/tmp/adapt_dry}; PY=${PYTHON:-python3}; rm -rf "$D"
    DRY="--dry-run --workers 2 --own-passes -1 --own-fraction 0.75 --budgets {\"distill\":0,\"adversarial\":0}"
    $PY scripts/train_default.py camera --work "$D/camera" $DRY &&
    $PY scripts/train_default.py camera --work "$D/long" $DRY --clip-frames 33 --train-seeds 0-3:2 &&
    tail -n 2 "$D/camera/driver.log" "$D/long/driver.log" ;;
dry-table5)     # the same plan on the CPU: a tiny camera init (the dry driver's adapt), a bank of 8 walks of 41 frames
                # (11 latent frames), rollouts of 5 vs 11 latent frames in segments of 3 (the tiny window), 4 s each
    D=${2:-/tmp/table5_dry}; PY=${PYTHON:-python3}; rm -rf "$D"
    DRY="--dry-run --workers 2 --continue-from $D/init/full_adapt --clip-frames 41 --train-seeds 0-3:2 --segment-frames 3 --adv-lr 2e-6 --adv-regression 10"
    $PY scripts/train_default.py camera --work "$D/init" --dry-run --workers 2 --budgets '{"distill": 0, "adversarial": 0}' > "$D.init.out" 2>&1 &&
    $PY scripts/train_default.py camera --work "$D/t10" $DRY --long-frames 5 --adv-warmup 18 --budgets "$T5_BUDGETS" &&
    $PY scripts/train_default.py camera --work "$D/t60" --latents-from "$D/t10" $DRY --long-frames 11 --adv-warmup 2 --budgets "$T5_BUDGETS" &&
    tail -n 1 "$D/t10/adversarial/log.jsonl" "$D/t60/adversarial/log.jsonl" ;;
follow)
    follow "${2:-570}" ;;
follow-ttt)     # one GPU: the TTT correctness checks (the bf16 gradient gap with session 11's fix, the plugin's gpu tests)
                # beside the training runs, which they slow a little (not the 48-head 350k check: its memory could starve them); timings wait for measure1. Then follow
    export CUDA_VISIBLE_DEVICES=0 PYTHONPATH=/tmp/site:$PWD:$PWD/plugins/worldsim-ttt TRITON_CACHE_DIR=/tmp/ttt-triton-cache
    timeout 100 python3 scripts/ttt_bf16_gap.py 3392 4096 > $OUT/ttt_bf16_gap.txt 2>&1; tail -n 4 $OUT/ttt_bf16_gap.txt
    timeout 300 python3 -m pytest -m gpu -v -rfs --durations=15 --tb=short -o addopts="--import-mode=importlib" -p no:cacheprovider \
        -k "not 350k_48" plugins/worldsim-ttt/tests > $OUT/ttt_gpu_tests.txt 2>&1; tail -n 4 $OUT/ttt_gpu_tests.txt
    unset CUDA_VISIBLE_DEVICES; follow "${2:-570}" ;;
bench)      # `bench model --compile` (Inductor + CUDA graphs) for 8b on GPU 0 and 1.3b then default on GPU 1, eager rows
            # beside them; then `bench e2e --compile` at 1 and 128 sessions; everything in $OUT/bench.tar
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD; B=/tmp/bench; rm -rf $B; mkdir -p $B
    model() { local gpu=$1 name=$2; shift 2
        CUDA_VISIBLE_DEVICES=$gpu timeout 200 python3 -m worldsim.bench.model "$@" --json > "$B/model_$name.json" 2> "$B/model_$name.err"
        echo "$name: $(tail -c 300 "$B/model_$name.json") $(tail -n 1 "$B/model_$name.err")"; }
    ( model 0 8b_eager --preset 8b --res 736x416 --window 30 --steps 30; model 0 8b_graphs --preset 8b --res 736x416 --window 30 --steps 30 --compile ) &
    ( model 1 1.3b_eager --preset 1.3b --res 832x480 --window 21 --steps 30; model 1 1.3b_graphs --preset 1.3b --res 832x480 --window 21 --steps 30 --compile ) &
    wait
    ( model 1 default_graphs --preset default --res 128x128 --decoder light --steps 200 --compile
      if [ -d plugins/worldsim-ttt ]; then   # issue 17: sampling time of 3-63 s films, TTT-MLP vs local vs full attention
          CUDA_VISIBLE_DEVICES=1 PYTHONPATH=$PYTHONPATH:$PWD/plugins/worldsim-ttt TRITON_CACHE_DIR=/tmp/ttt-triton-cache timeout 300 \
              python3 -m worldsim_ttt.bench_film --device cuda --json > $B/bench_film.json 2> $B/bench_film.err
          echo "bench_film: $(tail -n 3 $B/bench_film.json) $(tail -n 2 $B/bench_film.err)"
      fi ) &
    for s in 1 128; do     # 128: the worker first compiles 6 graphs and records 18 CUDA graphs (compile_s in the JSON)
        CUDA_VISIBLE_DEVICES=0 timeout $((s == 1 ? 150 : 330)) python3 -c "import sys; from worldsim.cli import main; sys.exit(main(sys.argv[1:]))" bench e2e \
            --preset default --res 128x128 --window 16 --sessions $s --device cuda --seconds 8 --compile --json \
            > "$B/e2e_compile_$s.json" 2> "$B/e2e_compile_$s.err"; tail -c 400 "$B/e2e_compile_$s.json"; tail -n 2 "$B/e2e_compile_$s.err"
    done; wait; tar cf "$OUT/bench.tar" -C /tmp bench ;;   # one file: at most 8 come back a call
fp8)        # FP8 linears (issue 14): 8b on GPU 0 and 1.3b on GPU 1, compiled, bf16 beside fp8 (error in the JSON); the fp8 gpu tests
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD; B=/tmp/bench; rm -rf $B; mkdir -p $B
    run_model() { local gpu=$1 name=$2; shift 2
        CUDA_VISIBLE_DEVICES=$gpu timeout 280 python3 -m worldsim.bench.model "$@" --json > "$B/model_$name.json" 2> "$B/model_$name.err"
        echo "$name: $(tail -c 400 "$B/model_$name.json") $(tail -n 1 "$B/model_$name.err")"; }
    run_model 0 8b_graphs_fp8 --preset 8b --res 736x416 --window 30 --steps 30 --compile --fp8 &
    ( run_model 1 1.3b_graphs_fp8 --preset 1.3b --res 832x480 --window 21 --steps 30 --compile --fp8
      CUDA_VISIBLE_DEVICES=1 timeout 200 python3 -m pytest -m gpu -q -rfs --tb=short -o addopts="--import-mode=importlib" \
          -p no:cacheprovider tests/models/test_fp8.py > $B/gpu_fp8_tests.txt 2>&1; tail -n 3 $B/gpu_fp8_tests.txt ) &
    wait; tar cf "$OUT/bench.tar" -C /tmp bench ;;
measure)    # issues 14 and 17 (~9 min), once the GPUs are free. GPU 0: 1.3b served compiled to 4 and 6 sessions at 832x480
            # (eager, session 11: 8.6 fps each at 6, 169 TFLOP/s). GPU 1: the bf16 gradient gap with session 11's fix (the
            # worst head was 1.1e-1), the plugin's gpu tests (their first run with 32 columns, the default since session 11;
            # the 350k 48-head check ran past 200 s there), the split forward at 16 vs 32 columns, and the film table at
            # 3-63 s with the new default. All in $OUT/measure.tar
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD; B=/tmp/measure; rm -rf $B; mkdir -p $B
    e2e() { local name=$1 limit=$2; shift 2
        CUDA_VISIBLE_DEVICES=0 timeout $limit python3 -c "import sys; from worldsim.cli import main; sys.exit(main(sys.argv[1:]))" \
            bench e2e --device cuda --seconds 8 --json "$@" > $B/$name.json 2> $B/$name.err
        echo "$name: $(tail -c 500 $B/$name.json) $(tail -n 2 $B/$name.err)"; }
    ( e2e 1.3b_compile_4 260 --preset 1.3b --res 832x480 --window 21 --sessions 4 --compile --worker-log $B/worker_1.3b_4.log
      e2e 1.3b_compile_6 200 --preset 1.3b --res 832x480 --window 21 --sessions 6 --compile ) &     # the 2nd from the FX cache
    ( export CUDA_VISIBLE_DEVICES=1 PYTHONPATH=$PYTHONPATH:$PWD/plugins/worldsim-ttt TRITON_CACHE_DIR=/tmp/ttt-triton-cache
      timeout 100 python3 scripts/ttt_bf16_gap.py 3392 4096 > $B/ttt_bf16_gap.txt 2>&1; tail -n 4 $B/ttt_bf16_gap.txt   # the fix
      timeout 240 python3 -m pytest -m gpu -v -rfs --durations=15 --tb=short -o addopts="--import-mode=importlib" -p no:cacheprovider \
          plugins/worldsim-ttt/tests > $B/ttt_gpu_tests.txt 2>&1; tail -n 4 $B/ttt_gpu_tests.txt
      for c in 16 32; do for h in 5 48; do
          WORLDSIM_TTT_MLP_SPLIT=$c timeout 30 python3 -m worldsim_ttt.bench --backends triton --forward split --heads $h \
              --lengths 18432 101376 --json > $B/ttt_split${c}_h$h.json 2> $B/ttt_split${c}_h$h.err
          echo "ttt split $c, H=$h: $(head -c 600 $B/ttt_split${c}_h$h.json)"; done; done
      timeout 100 python3 -m worldsim_ttt.bench_film --device cuda --json --variants ttt-mlp local > $B/bench_film.json 2> $B/bench_film.err
      tail -n 5 $B/bench_film.json ) &
    wait; tar cf "$OUT/measure.tar" -C /tmp measure ;;
measure1)   # issue 17 on one GPU, one after another (~9 min): both split TTT forwards' gpu tests, then the paired one's speed against the
            # split forward's (the kernel, and the film table at 3-63 s). All in $OUT/measure.tar
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export CUDA_VISIBLE_DEVICES=0 PYTHONPATH=/tmp/site:$PWD:$PWD/plugins/worldsim-ttt TRITON_CACHE_DIR=/tmp/ttt-triton-cache
    B=/tmp/measure; rm -rf $B; mkdir -p $B
    timeout 300 python3 -m pytest -m gpu -q -rfs --durations=12 --tb=short -o addopts="--import-mode=importlib" \
        -p no:cacheprovider plugins/worldsim-ttt/tests/test_triton_split.py > $B/ttt_split_tests.txt 2>&1   # both split forwards
    tail -n 3 $B/ttt_split_tests.txt
    for h in 5 48; do   # the split forward's two exchanges a mini-batch vs the paired one's one (docs/ttt.md)
        timeout 60 python3 -m worldsim_ttt.bench --backends triton --forward split paired --heads $h \
            --lengths 18432 101376 --json > $B/ttt_paired_h$h.json 2> $B/ttt_paired_h$h.err
        echo "ttt split vs paired, H=$h: $(head -c 1200 $B/ttt_paired_h$h.json)"; done
    for f in split paired; do
        WORLDSIM_TTT_MLP_FORWARD=$f timeout 100 python3 -m worldsim_ttt.bench_film --device cuda --json --variants ttt-mlp \
            local > $B/bench_film_$f.json 2> $B/bench_film_$f.err; tail -n 5 $B/bench_film_$f.json; done
    tar cf "$OUT/measure.tar" -C /tmp measure ;;
measure2)   # issues 14 and 17 on one GPU (~8 min): 1.3b served compiled to 4 sessions at 832x480 (sessions 12 and 14: the
            # warm-up traced buckets 1-128 and ran past 240 / 410 s; session 16: buckets 1,2,4 still past 289 s, with one
            # compile thread), then the film table with the exact and the TF32 TTT forward. In $OUT/measure.tar
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export CUDA_VISIBLE_DEVICES=0 PYTHONPATH=/tmp/site:$PWD:$PWD/plugins/worldsim-ttt TRITON_CACHE_DIR=/tmp/ttt-triton-cache
    B=/tmp/measure; rm -rf $B; mkdir -p $B
    # inductor's kernels compiled on every core (this file's default, 1 thread, is for the detached drivers; sessions
    # 12-16 warmed the 1.3b worker up with it and never finished); the worker logs each graph's time (docs/runtime.md)
    TORCHINDUCTOR_COMPILE_THREADS=16 timeout ${E2E_S:-400} python3 -c "import sys; from worldsim.cli import main; sys.exit(main(sys.argv[1:]))" bench e2e --device cuda \
        --seconds 8 --json --preset 1.3b --res 832x480 --window 21 --sessions 4 --compile --worker-log $B/worker_1.3b_4.log \
        > $B/1.3b_compile_4.json 2> $B/1.3b_compile_4.err
    echo "1.3b_compile_4: $(tail -c 500 $B/1.3b_compile_4.json) $(tail -n 2 $B/1.3b_compile_4.err)"
    for d in exact tf32; do
        WORLDSIM_TTT_MLP_DOTS=$d timeout 100 python3 -m worldsim_ttt.bench_film --device cuda --json --variants ttt-mlp \
            local > $B/bench_film_$d.json 2> $B/bench_film_$d.err; echo "film, $d dots:"; tail -n 5 $B/bench_film_$d.json; done
    tar cf "$OUT/measure.tar" -C /tmp measure ;;
probe)      # stage 3's discriminator alone (scripts/d_probe.py, ~5 min): 192 walks of 81 frames rendered and encoded with the
            # shipped model, D against its free rollouts at several (d_lr, r_lambda), judged on 64 walks it never saw
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES=0
    [ -f /tmp/probe.safetensors ] || python3 -m worldsim.train bank --world-seeds 0-191 --clips-per-seed 1 --frames 81 --size 128x128 --device cuda \
        --workers 13 --camera-from $FROM --kind camera --out /tmp/probe_px.safetensors 2>&1 | tail -n 1
    [ -f /tmp/probe.safetensors ] || python3 -m worldsim.train encode --bank /tmp/probe_px.safetensors --vae $FROM --device cuda --batch 64 \
        --out /tmp/probe.safetensors 2>&1 | tail -n 1
    timeout ${PROBE_S:-330} python3 scripts/d_probe.py --bank /tmp/probe.safetensors --model $FROM --device cuda --frames 21 \
        --held-out 64 --batch 16 --steps ${PROBE_STEPS:-100} --d-lr ${PROBE_LR:-5e-4 5e-5 5e-6} --r-lambda ${PROBE_R:-0 1000} \
        2>&1 | tee $OUT/d_probe.txt ;;
sharpen)    # plan 12, one call (~8 min): the play decoder sharpened on the shipped model's frozen latents (vae.train = light,
            # docs/train.md), two variants at once on GPU 0 for SHARP_S s: detail + patch D ("sharp") and detail alone
            # ("detail"); each shipped int8 (its generator the init's, bit for bit). SHARP_FROM: another init (e.g. a
            # stage-3 run's /tmp/wd/RUN/full_adversarial while the machine is warm; the decoder works on the latents of
            # the one VAE every release shares). In $OUT/sharpen.tar.*
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD CUDA_VISIBLE_DEVICES=0; S=/tmp/sharpen; rm -rf $S; mkdir -p $S
    python3 -m worldsim.train bank --world-seeds 0-383 --clips-per-seed 1 --frames 17 --size 128x128 --device cuda \
        --workers ${SHARP_WORKERS:-13} --kind camera --out $S/px.safetensors 2>&1 | tail -n 1
    for v in "sharp 0.05" "detail 0"; do set -- $v
        printf '[model]\ninit = "%s"\n[data]\npath = "%s"\nbatch_size = %s\n[optim]\nlr = 1e-4\nwarmup_steps = 50\n[vae]\ntrain = "light"\ndetail_weight = %s\nadv_weight = %s\nadv_start = 200\n[loop]\nsteps = 100000\nmax_seconds = %s\nout_dir = "%s"\nlog_every = 20\ncheckpoint_every = 100000\ndevice = "cuda"\ncompile = true\ntensorboard = false\nprogress = false\n' \
            "${SHARP_FROM:-$FROM}" "$S/px.safetensors" "${SHARP_BATCH:-16}" "${SHARP_DETAIL:-1.0}" "$2" "${SHARP_S:-300}" "$S/$1" > $S/$1.toml
        timeout $(( ${SHARP_S:-300} + 200 )) python3 -m worldsim.train vae --config $S/$1.toml > $S/$1.out 2>&1 &
    done; wait
    ship_sharpened ;;
sharpen-ship)   # what `sharpen` does after training, alone: when its call was cut (the bank rendered slowly) while the machine is warm
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD; ship_sharpened ;;
sp)         # `bench e2e` of 8b at 1280x720, N=15: sequence-parallel on both GPUs, then on one (issue 14: >= 40 fps on two)
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD; B=/tmp/bench; rm -rf $B; mkdir -p $B
    for g in 2 1; do
        timeout 240 python3 -c "import sys; from worldsim.cli import main; sys.exit(main(sys.argv[1:]))" bench e2e \
            --preset 8b --res 1280x720 --window 15 --gpus $g --device cuda --seconds 8 --json \
            > "$B/e2e_8b_720p_gpus$g.json" 2> "$B/e2e_8b_720p_gpus$g.err"
        tail -c 600 "$B/e2e_8b_720p_gpus$g.json"; tail -n 3 "$B/e2e_8b_720p_gpus$g.err"
    done; tar cf "$OUT/bench.tar" -C /tmp bench ;;
collect)    # collect inductor: the compile caches (carry them next time as .inductor/); or collect RUN full|ship: RUN's logs, strips and its whole float16 models (full_*, ~48 MB, what a
            # later lease carries to go on training) or its int8 shipped copies (ship_*, ~21 MB); one RUN a call
    if [ "${2:-}" = inductor ]; then
        tar cf - -C /tmp inductor | split -b 15M - "$OUT/inductor.tar."; du -sh /tmp/inductor; ls -la "$OUT"; exit 0
    fi
    run=${2:-camera}; part=${3:-full}
    cd $WD
    tar cf - $run/driver.log $run/*/log.jsonl $run/*/profile.txt $run/samples_*.png $run/${part}_* 2>/dev/null | split -b 15M - "$OUT/$run.tar."
    tail -n 40 a.out b.out > "$OUT/out_tail.txt"; tar cf "$OUT/gpu_and_bench.tar" gpu_tests.txt bench_e2e_* 2>/dev/null
    ls -la "$OUT" ;;
*)
    echo "usage: $0 start|start-table5|start-adapt|follow|follow-ttt|collect|bench|measure|measure1|probe|fp8|sp|measure2|sharpen|sharpen-ship [seconds] | dry-table5|dry-adapt [DIR]"; exit 2 ;;
esac
