#!/usr/bin/env bash
# The control group's results row on the CPU: crossseg (the converted e5 fine-tuned across the
# gap) on a seeded sample of train gaps, and pool / bilstm on cached e5 vectors trained on the
# very same sample (--max-train-gaps draws it from --seed), same split, same seed; then
# `seg report` over the three (printed, and written to <OUT>/report-md/report.md).
#
#   bench/crossseg_results.sh DATASET E5_FOLDER GAPS EPOCHS OUT
#     DATASET    a dataset embedded with `seg embed DATASET --encoder e5`
#     E5_FOLDER  `seg convert-e5 --output E5_FOLDER`
#     GAPS       train gaps in the sample (crossseg costs ~0.2-0.3 s per gap and epoch on one core,
#                plus ~0.1 s per dev gap per epoch and per test gap once)
#     EPOCHS     crossseg epochs (pool and bilstm keep seg train's defaults: 15, patience 4)
#     OUT        runs directory
#
# Full-scale crossseg runs need a GPU: there drop --max-train-gaps and add --device cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=$1; E5=$2; GAPS=$3; EPOCHS=$4; OUT=$5
SEG=${SEG:-.venv/bin/seg}
"$SEG" train "$DATASET" --model crossseg --encoder-model "$E5" --window 2:2 --max-train-gaps "$GAPS" \
  --epochs "$EPOCHS" --patience 0 --seed 0 --name "crossseg-e5-$GAPS" --output "$OUT" --force
for m in pool bilstm; do
  "$SEG" train "$DATASET" --encoder e5 --model $m --window 2:2 --max-train-gaps "$GAPS" --seed 0 \
    --name "$m-e5-$GAPS" --output "$OUT" --force
done
"$SEG" report "$OUT/crossseg-e5-$GAPS" "$OUT/pool-e5-$GAPS" "$OUT/bilstm-e5-$GAPS" --format md \
  --output "$OUT/report-md" --force
