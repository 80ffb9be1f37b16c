#!/usr/bin/env bash
# The trained-top-layer rows of docs/results.md on the user-sized set, on a CPU (~4 h on 2 cores):
# bench/prep_aozora30k.sh's 115 works split by document and by author, e5 vectors and the converted
# e5's layer-11 and layer-8 token states, then per split the frozen baseline and one trained layer
# (5 repeats each), and on the document split single repeats of a larger --encoder-lr and of four
# trained layers. Each training is kept once finished (re-running trains only what is missing);
# the tables come from bench/run_breakdown.py over the runs (docs/finetune_gpu/aozora30k*.md).
#
#   ROOT=cache/r30k bench/finetune_30k.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-cache/r30k}
SEG=${SEG:-.venv/bin/seg}
PY=${PY:-.venv/bin/python}
E5=$ROOT/models/multilingual-e5-small
[ -f "$E5/model.safetensors" ] || "$SEG" convert-e5 --output "$E5"
BASE="--model bilstm --window 2:2 --features brackets"
train() {   # split name options...
  local split=$1 name=$2; shift 2
  [ -f "$ROOT/runs-$split/$name/metrics.json" ] && { echo "kept $split/$name"; return 0; }
  # shellcheck disable=SC2086
  "$SEG" train "$ROOT/datasets/aozora30k-$split" --output "$ROOT/runs-$split" --name "$name" "$@"
}
for split in document author; do
  ds=$ROOT/datasets/aozora30k-$split
  [ -f "$ds/stats.json" ] || OUTPUT=$ds SEG=$SEG bench/prep_aozora30k.sh --split-by "$split"
  "$SEG" embed "$ds" --encoder e5 --cache "$ROOT/vectors"
  "$SEG" embed "$ds" --encoder sbert --model "$E5" --tokens --layer 11 --cache "$ROOT/tokens"
  # shellcheck disable=SC2086
  train "$split" bilstm-2x2-brackets --repeats 5 --encoder e5 $BASE
  # shellcheck disable=SC2086
  train "$split" finetune1-bilstm-2x2-brackets --repeats 5 --encoder sbert-tokens-l11 --finetune-layers 1 $BASE --epochs 4
done
ds=$ROOT/datasets/aozora30k-document
for lr in 1e-4 3e-4; do
  # shellcheck disable=SC2086
  train document "finetune1-lr$lr-bilstm-2x2-brackets" --repeats 1 --encoder sbert-tokens-l11 --finetune-layers 1 \
    --encoder-lr "$lr" $BASE --epochs 4
done
"$SEG" embed "$ds" --encoder sbert --model "$E5" --tokens --layer 8 --cache "$ROOT/tokens"
# shellcheck disable=SC2086
train document finetune4-bilstm-2x2-brackets --repeats 1 --encoder sbert-tokens-l8 --finetune-layers 4 $BASE --epochs 4
for split in document author; do
  "$PY" bench/run_breakdown.py "$ROOT/runs-$split"/*/ --md "$ROOT/breakdown-$split.md"
done
