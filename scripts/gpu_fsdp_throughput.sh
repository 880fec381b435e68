#!/usr/bin/env bash
# Stage-1 (adapt) throughput, 1 GPU vs FSDP2 on 2 GPUs, at a fixed per-GPU batch, in one call.
#
#   PYTHONPATH=$PWD bash scripts/gpu_fsdp_throughput.sh          # 2-GPU machine; writes into $OUT (runs/fsdp)
#   DEVICE=cpu CASES="tiny:32:5:2:false" STEPS=6 SKIP=2 PYTHONPATH=$PWD bash scripts/gpu_fsdp_throughput.sh
#                                                                  # the same on the CPU (gloo): a dry run
#   CASES="1.3b:128:5:32:true 8b:128:5:2:true" LIMIT_BIG=150 STEPS=20 SKIP=5 PYTHONPATH=$PWD bash scripts/gpu_fsdp_throughput.sh
#                                                                  # issue 14: per-block FSDP2 re-measured, and whether
#                                                                  # 8b training fits on 2 H200 (memory: nvidia_smi.csv)
#
# Needs torch (+ CUDA and 2 GPUs), safetensors, tqdm; no VAE and no reference world: the clip bank
# is random latents and camera controls made here (throughput does not depend on the values).
# Models are random init. Each case is preset:pixels:latent frames:per-GPU batch:activation
# checkpointing, run under `python -m torch.distributed.run --nproc_per_node=1` (FSDP2 on one GPU:
# the same code path, bf16 gathered weights included, so the speed-up is what a second GPU adds),
# then with --nproc_per_node=2, then as plain `python -m worldsim.train adapt` on one GPU (no FSDP:
# fp32 weights under autocast), with the same config apart from out_dir. A run is stopped once its log holds STEPS steps (the final checkpoint and the export,
# 21 GB for 1.3b, are not waited for); `python -m worldsim.train throughput --skip SKIP` gives the
# medians. Every run is bounded (LIMIT_BIG / LIMIT seconds); expected ~3 minutes on 2x H200,
# at most ~9.5 when every run hits its bound.
# Writes $OUT/summary.txt, $OUT/nvidia_smi.csv (memory and utilisation per second) and
# $OUT/runs.tar.gz (every run's output and log.jsonl).
set -uo pipefail

PY=${PYTHON:-python3}
OUT=${OUT:-runs/fsdp}
WORK=${WORK:-/tmp/worldsim_fsdp}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-30}
SKIP=${SKIP:-10}
CASES=${CASES:-"1.3b:128:5:32:true default:128:5:96:false default:128:5:24:false"}   # the last: as measured before
LIMIT_BIG=${LIMIT_BIG:-90}                            # seconds per 1.3b or 8b run
LIMIT=${LIMIT:-45}                                    # seconds per run of the other presets
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}          # torchrun's default, for both runs alike
# NVLink multicast stays off (the device machines' rule; NCCL uses the plain NVLink paths)
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
mkdir -p "$OUT" "$WORK/logs"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

note "date $(date -u +%FT%TZ); $($PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.device_count(), "x", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")')"
note "device $DEVICE, steps $STEPS (median after $SKIP), cases: $CASES"
SMI=""
if [ "$DEVICE" = cuda ] && command -v nvidia-smi > /dev/null; then
  nvidia-smi topo -m >> "$SUMMARY" 2>&1
  nvidia-smi --query-gpu=timestamp,index,memory.used,utilization.gpu,power.draw --format=csv -l 1 \
      > "$OUT/nvidia_smi.csv" 2>&1 &
  SMI=$!
fi

bank() {                                              # bank PRESET PIXELS FRAMES CLIPS PATH: random latents + controls
  timeout 120 $PY - "$@" <<'EOF'
import sys, torch
from worldsim.config import model_preset
from worldsim.train.data import ClipBank
preset, pixels, frames, clips, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
g = torch.Generator().manual_seed(0)
c, hw = model_preset(preset).generator.latent_channels, pixels // 8
latents = torch.randn(clips, frames, c, hw, hw, generator=g)            # (N, F, C, h, w)
controls = torch.randn(clips, frames, 25, hw, hw, generator=g)          # (N, F, K, h, w) camera channels
words = ["a lake at dusk", "snowy pines", "red rocks", "a tower on a hill", "fog over grass", ""]
ClipBank({"latents": latents, "controls": controls}, [words[i % len(words)] for i in range(clips)]).save(path)
print(f"{path}: {clips} clips of {frames} latent frames {c}x{hw}x{hw}")
EOF
}

config() {                                            # config PATH PRESET BANK BATCH AC: the adapt config of a case
  cat > "$1" <<EOF
stage = "adapt"
[model]
preset = "$2"
control_channels = 25
[data]
path = "$3"
batch_size = $4
[optim]
warmup_steps = 20
[loop]
steps = $STEPS
log_every = 1
checkpoint_every = 100000
device = "$DEVICE"
bf16 = true
activation_checkpointing = $5
progress = false
tensorboard = false
EOF
}

train_run() {                                         # train_run LIMIT NAME NPROC CONFIG: until STEPS logged steps
  local limit=$1 name=$2 nproc=$3 cfg=$4 start=$SECONDS   # NPROC 0: plain python (no FSDP); N: torchrun, FSDP2
  local dir="$WORK/$name" log="$WORK/$name/log.jsonl"
  rm -rf "$dir"
  local cmd=($PY -m worldsim.train adapt --config "$cfg" --out "$dir")
  [ "$nproc" -gt 0 ] && cmd=($PY -m torch.distributed.run --standalone --nproc_per_node="$nproc" \
      -m worldsim.train adapt --config "$cfg" --out "$dir")
  if command -v setsid > /dev/null; then              # its own process group: stopped whole below
    setsid "${cmd[@]}" > "$WORK/logs/$name.out" 2>&1 &
  else
    "${cmd[@]}" > "$WORK/logs/$name.out" 2>&1 &
  fi
  local pid=$!
  while kill -0 "$pid" 2> /dev/null && [ $((SECONDS - start)) -lt "$limit" ]; do
    [ -f "$log" ] && [ "$(wc -l < "$log")" -ge "$STEPS" ] && break
    sleep 1
  done
  local lines=0
  [ -f "$log" ] && lines=$(wc -l < "$log") && cp "$log" "$WORK/logs/$name.jsonl"
  kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null
  for _ in $(seq 20); do kill -0 "$pid" 2> /dev/null || break; sleep 1; done
  kill -KILL -- "-$pid" 2> /dev/null || kill -KILL "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  rm -rf "$dir"
  if [ "$lines" -ge "$STEPS" ]; then
    note "$name: $lines/$STEPS steps in $((SECONDS - start)) s"
    return 0
  fi                                                  # stopping a finished run makes tracebacks: only now they count
  note "$name: FAILED or out of time, $lines/$STEPS steps in $((SECONDS - start)) s: $(grep -iE 'error|out of memory' \
      "$WORK/logs/$name.out" | grep -v 'errors/__init__' | tail -n 2 | cut -c1-300 | tr '\n' ' ')"
  [ "$lines" -gt "$SKIP" ]                            # enough steps for a median: summarised all the same
}

NGPU=$($PY -c 'import torch; print(torch.cuda.device_count())')
for case in $CASES; do
  IFS=: read -r preset pixels frames batch ac <<< "$case"
  name="${preset}_${pixels}px_f${frames}_b${batch}"
  limit=$LIMIT; case $preset in 1.3b|8b) limit=$LIMIT_BIG ;; esac
  note "---- $name: preset $preset, ${pixels}x${pixels}, $frames latent frames, per-GPU batch $batch, activation checkpointing $ac"
  bank "$preset" "$pixels" "$frames" $((batch * 4)) "$WORK/$name.safetensors" >> "$SUMMARY" 2>&1
  config "$WORK/$name.toml" "$preset" "$WORK/$name.safetensors" "$batch" "$ac"
  logs=()                                             # speed-ups are against the first: FSDP2 on 1 GPU
  train_run "$limit" "${name}_1gpu_fsdp" 1 "$WORK/$name.toml" && logs+=("$WORK/logs/${name}_1gpu_fsdp.jsonl")
  if [ "$DEVICE" = cpu ] || [ "$NGPU" -ge 2 ]; then
    train_run "$limit" "${name}_2gpu" 2 "$WORK/$name.toml" && logs+=("$WORK/logs/${name}_2gpu.jsonl")
  else
    note "${name}_2gpu: skipped, $NGPU GPU(s) here"
  fi
  train_run "$limit" "${name}_1gpu_plain" 0 "$WORK/$name.toml" && logs+=("$WORK/logs/${name}_1gpu_plain.jsonl")
  [ "${#logs[@]}" -gt 0 ] && timeout 60 $PY -m worldsim.train throughput "${logs[@]}" --skip "$SKIP" 2>&1 | tee -a "$SUMMARY"
  rm -f "$WORK/$name.safetensors"
done

[ -n "$SMI" ] && kill "$SMI" 2> /dev/null
tar -czf "$OUT/runs.tar.gz" -C "$WORK" logs
note "done in $SECONDS s"
