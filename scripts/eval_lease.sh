#!/usr/bin/env bash
# Evaluate a lease's models on this machine's CPU, one after another (~5.3 min each on 2 cores, its two seed sets at once), on the
# held-out seeds and on four seeds no model or setting is chosen on (docs/QUALITY.md):
#   bash scripts/eval_lease.sh OUT CHECKPOINT...     # e.g. runs/lease7 runs/lease7/camera/ship_adapt worldsim/assets/default
# Each checkpoint C gets OUT/eval_<name>/ (seeds 100000-100003) and OUT/eval2_<name>/ (seeds 200000-200003),
# <name> being C's path with / as _, each with summary.json, plots, mp4s, and its wall time in .time;
# then: worldsim eval --compare OUT/eval_A/summary.json OUT/eval_B/summary.json, and the docs/QUALITY.md rows:
#       python scripts/eval_table.py OUT/eval_A/summary.json OUT/eval_B/summary.json
# EVAL_ARGS adds eval options, e.g. EVAL_ARGS="--seconds 2 --drift-seconds 2" for a quick look. The reference world's
# runs are kept in TRUTH_CACHE (default runs/truth-cache, git-ignored; ~82 MB a seed set of four at 128x128): the first model of a seed
# set renders them, every later one (this call's or the next session's) reads them back.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 OUT CHECKPOINT..." >&2; exit 2; }
out=$1; shift
mkdir -p "$out"
for ckpt in "$@"; do
    [ -f "$ckpt/config.json" ] || { echo "$ckpt: no checkpoint there (config.json missing)" >&2; exit 2; }
done
one() {    # one checkpoint on one seed set
    local ckpt=$1 set=$2 dir start
    dir="$out/${set%%:*}_$(echo "${ckpt%/}" | tr / _)"
    start=$(date +%s)
    worldsim eval --renderer aapt --checkpoint "$ckpt" --seeds "${set##*:}" --truth-cache "${TRUTH_CACHE:-runs/truth-cache}" \
        ${EVAL_ARGS:-} --json --out "$dir" \
        > "$dir.json" 2> "$dir.err" || { echo "$ckpt (${set##*:}): failed, see $dir.err" >&2; return; }
    echo "$(( $(date +%s) - start )) s" > "$dir.time"
    echo "$dir: $(cat "$dir.time")"
}
# The two seed sets of a checkpoint run side by side (EVAL_JOBS=1: one after another). On the 2-core CPU that took
# 316 s for both against 284 + 295 s in turn, with identical figures (2026-12-01); only the summaries' speed rows
# then measure a shared machine.
for ckpt in "$@"; do
    for set in "eval:100000-100003" "eval2:200000-200003"; do
        if [ "${EVAL_JOBS:-2}" = 1 ]; then one "$ckpt" "$set"; else one "$ckpt" "$set" & fi
    done
    wait
done
