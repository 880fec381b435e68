#!/usr/bin/env bash
# One short real run of every AAPT training stage on the reference world, on a GPU machine.
#
#   PYTHONPATH=$PWD bash scripts/gpu_training_runs.sh            # writes into $OUT (default: runs/gpu)
#
# Needs torch + CUDA, safetensors, numpy, msgpack, tqdm, pillow (matplotlib for the plot); no
# pyzmq/pygame: everything runs through `python -m worldsim.train`, which loads only the train
# commands. Steps:
#   1. clip banks: train (world seeds 0-7) and validation (held-out seeds 100-101), 17-frame
#      128x128 walks of the stochastic player with camera controls
#   2. stage 0: VAE (pixels), then encode both banks (latent statistics measured and stored),
#      then the bidirectional base
#   3. stage 1 adapt (adds the 25 camera channels), stage 2 distill, stage 3 adversarial
#      (student forcing) and stage 3 long-video (segments)
#   4. sample strips (PNG) of every generator on the validation clips, written by the runs
#      half-way and at the end; loss curves (JSONL + PNG)
# Every command is bounded by `timeout`; the whole script targets ~8 minutes on one H100/H200.
# Knobs: PRESET (default), SIZE (128x128), DEVICE (cuda), PERCENT (of every stage's step count, 100),
# NPROC (1; N > 1 trains every stage under torchrun on N GPUs, FSDP2; data.batch_size is per GPU).
set -uo pipefail

PY=${PYTHON:-python3}
OUT=${OUT:-runs/gpu}
WORK=${WORK:-/tmp/worldsim_gpu_runs}
PRESET=${PRESET:-default}
SIZE=${SIZE:-128x128}
DEVICE=${DEVICE:-cuda}
PERCENT=${PERCENT:-100}
NPROC=${NPROC:-1}
TRAIN="$PY -m worldsim.train"                         # the stages; with NPROC > 1 under torchrun (FSDP2)
[ "$NPROC" -gt 1 ] && TRAIN="$PY -m torch.distributed.run --standalone --nproc_per_node=$NPROC -m worldsim.train"
export NCCL_NVLS_ENABLE=0                             # NVLink multicast off (the device machines' rule)
mkdir -p "$OUT" "$WORK"
steps() { echo $(( ($1 * PERCENT + 99) / 100 )); }    # steps N: PERCENT % of N, at least 1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
run() {                                               # run SECONDS NAME CMD...: bounded, logged, timed
  local limit=$1 name=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.out" 2>&1
  local rc=$?
  note "$name: rc=$rc in $((SECONDS - start)) s ($(tail -n 1 "$OUT/$name.out" | cut -c1-200))"
  return $rc
}

note "date $(date -u +%FT%TZ); $($PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.device_count(), "x", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")')"
note "preset $PRESET, size $SIZE, device $DEVICE, percent $PERCENT, processes per stage $NPROC"

# ---- 1. clip banks ------------------------------------------------------------------------------
run 300 bank_train $PY -m worldsim.train bank --world-seeds 0-7 --clips-per-seed 8 --frames 17 --size "$SIZE" \
    --camera od --device "$DEVICE" --batch 32 --out "$WORK/train_px.safetensors"
run 120 bank_val $PY -m worldsim.train bank --world-seeds 100-101 --clips-per-seed 2 --frames 17 --size "$SIZE" \
    --camera-from "$WORK/train_px.safetensors" --device "$DEVICE" --out "$WORK/val_px.safetensors"

config() {                                            # config NAME STEPS BATCH BANK [model] [optim] [tail]
  local val="" every=""
  case "$1" in base|adapt|distill|adversarial)         # strips of the validation clips during training
    val="val_path = \"$WORK/val.safetensors\""; every="sample_every = $(( ($2 + 1) / 2 ))";; esac
  cat > "$WORK/$1.toml" <<EOF
stage = "$1"
[model]
preset = "$PRESET"
${5:-}
[data]
path = "$4"
batch_size = $3
$val
[optim]
warmup_steps = 20
${6:-}
[loop]
steps = $2
out_dir = "$WORK/$1"
log_every = 1
checkpoint_every = 100000
device = "$DEVICE"
progress = false
tensorboard = false
$every
${7:-}
EOF
  echo "$WORK/$1.toml"
}

# ---- 2. stage 0: VAE, latents, base -------------------------------------------------------------
run 90 vae $TRAIN vae --config "$(config vae "$(steps 300)" 4 "$WORK/train_px.safetensors" "" 'lr = 3e-4')"
run 60 encode_train $PY -m worldsim.train encode --bank "$WORK/train_px.safetensors" --vae "$WORK/vae/model" \
    --measure-stats --device "$DEVICE" --out "$WORK/train.safetensors"
run 60 encode_val $PY -m worldsim.train encode --bank "$WORK/val_px.safetensors" --vae "$WORK/vae/model" --keep-video \
    --device "$DEVICE" --out "$WORK/val.safetensors"
BANK="$WORK/train.safetensors"
run 90 base $TRAIN base --config "$(config base "$(steps 400)" 16 "$BANK" "init = \"$WORK/vae/model\"" 'lr = 3e-4')"

# ---- 3. stages 1-3 ------------------------------------------------------------------------------
run 90 adapt $TRAIN adapt --config "$(config adapt "$(steps 400)" 16 "$BANK" \
    "init = \"$WORK/base/model\"
control_channels = 25" 'lr = 2e-4')"
run 90 distill $TRAIN distill --config "$(config distill "$(steps 200)" 16 "$BANK" \
    "init = \"$WORK/adapt/model\"" 'lr = 5e-5' "[distill]
teacher = \"$WORK/adapt/model\"")"
run 150 adversarial $TRAIN adversarial --config "$(config adversarial "$(steps 60)" 8 "$BANK" \
    "init = \"$WORK/distill/model\"" "" "[adversarial]
discriminator = \"$WORK/adapt/model\"")"
cp "$WORK/adversarial.toml" "$WORK/adversarial_long.toml"
sed -i "s#$WORK/adversarial\"#$WORK/adversarial_long\"#; s#^stage = .*#stage = \"adversarial\"#" "$WORK/adversarial_long.toml"
printf 'long_frames = 13\nsegment_overlap = 1\n' >> "$WORK/adversarial_long.toml"
sed -i "s#^steps = .*#steps = $(steps 20)#; s#^sample_every = .*#sample_every = $(steps 20)#" "$WORK/adversarial_long.toml"
run 90 adversarial_long $TRAIN adversarial --config "$WORK/adversarial_long.toml"

# ---- 4. samples and curves ----------------------------------------------------------------------
# Strips come from the runs themselves (loop.sample_every: half-way and at the last step); the
# last one of each stage is also saved as samples_<stage>.png.
for stage in vae base adapt distill adversarial adversarial_long; do
  [ -f "$WORK/$stage/log.jsonl" ] && cp "$WORK/$stage/log.jsonl" "$OUT/loss_$stage.jsonl"
  for png in "$WORK/$stage"/samples/*.png; do
    [ -f "$png" ] && cp "$png" "$OUT/during_${stage}_$(basename "$png")" && cp "$png" "$OUT/samples_$stage.png"
  done
done
$PY - "$OUT" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
logs = {p.stem[5:]: [json.loads(x) for x in p.read_text().splitlines()] for p in sorted(out.glob("loss_*.jsonl"))}
for name, recs in logs.items():
    keys = [k for k in recs[0] if k.endswith("loss")]
    def avg(rs, k): return sum(r[k] for r in rs) / len(rs)
    n = max(1, len(recs) // 10)
    print(name, len(recs), "steps;", ", ".join(f"{k} first {avg(recs[:n], k):.4g} last {avg(recs[-n:], k):.4g}" for k in keys))
try:
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
except ImportError:
    sys.exit(0)
fig, axes = plt.subplots(1, len(logs), figsize=(4 * len(logs), 3))
for ax, (name, recs) in zip(list(axes) if len(logs) > 1 else [axes], logs.items()):
    for k in [k for k in recs[0] if k.endswith("loss")]:
        ax.plot([r["step"] for r in recs], [r[k] for r in recs], label=k)
    ax.set_title(name); ax.set_yscale("log"); ax.legend(fontsize=7)
fig.tight_layout(); fig.savefig(out / "loss_curves.png", dpi=80)
EOF

note "done in $SECONDS s (1- vs 2-GPU throughput: scripts/gpu_fsdp_throughput.sh)"
