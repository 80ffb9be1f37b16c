#!/usr/bin/env bash
# The trained-top-layer systems on one GPU, in one timed pass of a few minutes: the converted e5's
# top layers trained over its cached layer-K token states (per sentence, and across the gap),
# beside the best frozen-vector system, on both splits of the shared corpus, and the GPU path of
# `seg embed` and `seg train` timed on the way.
#
#   ROOT=/tmp/r23 OUT=/tmp/r23/out bench/gpu_finetune.sh
#
# Needs ROOT/datasets/aozora-document and aozora-author: bench/quality.sh's prep (8:1:1, seed 0,
# --split-by document / author), made beforehand, e.g. on the CPU machine where the report is
# written afterwards (same ROOT path there, so that the runs' dataset paths resolve).
# What it does, each step timed into OUT/log.txt:
#   1. seg convert-e5 (the bundled 4-bit weights as a transformers folder, no download);
#   2. seg embed --encoder e5 (torch backend, on the GPU) for both splits (one shared cache);
#   3. the frozen baseline, bilstm 2:2 + brackets on those vectors, 5 repeats per split (in the background);
#   4. seg embed --tokens --layer K (default 10) with the converted e5, per split;
#   5. --finetune-layers N (default 2) + bilstm 2:2 + brackets, and --finetune-layers N --across-gap,
#      per split, FT_REPEATS repeats (all six trainings side by side on the one GPU).
# Every training stops at BUDGET seconds after the start; a stopped run keeps its finished
# repeats and is then written as a run of that many (`seg train --repeats <done>` resumes it
# without training: --repeats is not part of the resume match). Last, the runs (weights left
# out), the logs and the embedding manifests are packed into OUT/results.tar.xz for `seg report`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-/tmp/r23}
OUT=${OUT:-$ROOT/out}
SEG=${SEG:-.venv/bin/seg}
BUDGET=${BUDGET:-470}            # seconds from the start after which trainings are stopped
LAYER=${LAYER:-10}               # K: the cached states are those after layer K
N=${N:-2}                        # the top layers trained: K+1 .. K+N
BASE_REPEATS=${BASE_REPEATS:-5}
FT_REPEATS=${FT_REPEATS:-5}
FT_EPOCHS=${FT_EPOCHS:-6}        # at most (dev chooses the epoch; --patience as seg train's default)
AG_EPOCHS=${AG_EPOCHS:-4}
THREADS=${THREADS:-2}            # CPU threads per training (six run at once)
EXTRA=${EXTRA:-}                 # more seg train options for every run (a CPU dry run: --max-train-gaps 300)
RUNS=$ROOT/runs
LOGS=$ROOT/logs
E5=$ROOT/models/multilingual-e5-small
mkdir -p "$OUT" "$RUNS" "$LOGS"
t0=$SECONDS

log() { echo "[+$((SECONDS - t0))s] $*" | tee -a "$OUT/log.txt"; }
step() {   # name command...: run it, its output to LOGS/name.log, its time to the log
  local name=$1 s=$SECONDS rc; shift
  log "start $name"
  "$@" > "$LOGS/$name.log" 2>&1; rc=$?
  log "end $name: rc $rc, $((SECONDS - s)) s; $(grep -a -o -E '[0-9][0-9,.]* (sentences|sent)/s|written to .*|\([0-9.]+ s, .*' "$LOGS/$name.log" | tail -1)"
  return $rc
}
train() {   # split name repeats options...: train until BUDGET, then write what finished
  local split=$1 name=$2 repeats=$3; shift 3
  local run=$split-$name ds=$ROOT/datasets/aozora-$split left=$((BUDGET - (SECONDS - t0)))
  if [ "$left" -lt 20 ]; then log "skip $run: no time left"; return; fi
  # shellcheck disable=SC2086
  step "train-$run" timeout --signal=INT --kill-after=30 "$left" \
    "$SEG" train "$ds" --output "$RUNS" --name "$run" --threads "$THREADS" --repeats "$repeats" "$@" $EXTRA
  [ -f "$RUNS/$run/metrics.json" ] && return
  local done_n
  done_n=$(find "$RUNS/.$run.partial" -name 'repeat-*.json' 2>/dev/null | wc -l)
  if [ "$done_n" -gt 0 ]; then
    # shellcheck disable=SC2086
    step "finish-$run" "$SEG" train "$ds" --output "$RUNS" --name "$run" --threads "$THREADS" --repeats "$done_n" "$@" $EXTRA
  else
    log "$run: no repeat finished in time"
  fi
}

log "host $(hostname); $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
monitors=()
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 > "$LOGS/nvidia-smi.csv" 2>&1 &
  monitors+=($!)
fi
while sleep 15; do echo "+$((SECONDS - t0))s"; ps -eo rss=,args= | grep -a " train \| embed " | grep -v grep | sort -rn | head -8; done > "$LOGS/rss.log" 2>&1 &
monitors+=($!)
jobs_=()

[ -f "$E5/model.safetensors" ] || step convert-e5 "$SEG" convert-e5 --output "$E5"
for split in document author; do
  step "embed-e5-$split" "$SEG" embed "$ROOT/datasets/aozora-$split" --encoder e5 --cache "$ROOT/vectors"
done
BASE="--encoder e5 --model bilstm --window 2:2 --features brackets"
# shellcheck disable=SC2086
for split in document author; do train "$split" bilstm-2x2-brackets "$BASE_REPEATS" $BASE & jobs_+=($!); done

FT="--encoder sbert-tokens-l$LAYER --finetune-layers $N --window 2:2 --features brackets"
for split in document author; do
  step "tokens-l$LAYER-$split" "$SEG" embed "$ROOT/datasets/aozora-$split" --encoder sbert --model "$E5" \
    --tokens --layer "$LAYER" --cache "$ROOT/tokens"
  # shellcheck disable=SC2086
  train "$split" "finetune$N-bilstm-2x2-brackets" "$FT_REPEATS" $FT --model bilstm --epochs "$FT_EPOCHS" & jobs_+=($!)
  # shellcheck disable=SC2086
  train "$split" "finetune$N-acrossgap-2x2-brackets" "$FT_REPEATS" $FT --across-gap --epochs "$AG_EPOCHS" & jobs_+=($!)
done
wait "${jobs_[@]}"
kill "${monitors[@]}" 2> /dev/null
log "trainings done; disk: $(du -sh "$ROOT" 2>/dev/null | cut -f1)"
tar -cJf "$OUT/results.tar.xz" -C "$ROOT" --exclude='*.pt' --exclude='*.h5' runs logs \
  $(cd "$ROOT" && ls -d datasets/*/embeddings 2>/dev/null)
log "packed $(du -h "$OUT/results.tar.xz" | cut -f1)"
