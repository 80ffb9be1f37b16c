#!/usr/bin/env bash
# The README's results tables: the user's experiment families on one embedded dataset,
# 5 repeats each, then `seg report` over them (the table is printed and written to
# report-<prefix>/report.md).
#
#   bench/experiments.sh DATASET PREFIX [EXTRA_ENCODER]
#     DATASET        a dataset embedded with `seg embed DATASET --encoder e5 --export h5`
#     PREFIX         run-name prefix, e.g. a30k or aozora
#     EXTRA_ENCODER  also train bilstm 2:2 (plain and --features brackets) on this embedding
#                    name (e.g. chive: scripts/chive_vectors.sh, then
#                    `seg embed DATASET --encoder wiki2vec --vectors FILE --name chive --export h5`)
#
# Two runs at a time: seg train uses one thread on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=$1
P=$2
EXTRA=${3:-}
SEG=${SEG:-.venv/bin/seg}
# a finished run is kept (re-running the script only trains what is missing)
train() { local name=$1; shift; [ -f "runs/$P-$name/metrics.json" ] && { echo "kept $P-$name"; return 0; }
  "$SEG" train "$DATASET" --repeats 5 --name "$P-$name" "$@" > "runs/.$P-$name.log" 2>&1 && echo "done $P-$name" || { echo "FAILED $P-$name (runs/.$P-$name.log)"; return 1; }; }
mkdir -p runs
train pool-2x2 --model pool --window 2:2 &
train bilstm-1x1 --model bilstm --window 1:1 &
wait
train bilstm-2x2 --model bilstm --window 2:2 &
train bilstm-2x2-focal2 --model bilstm --window 2:2 --loss focal --gamma 2 &
wait
train transformer-2x2-cls --model transformer --window 2:2 --pooling cls &
train attmem-2x2-mem4 --model attmem --window 2:2 --memory-size 4 &
wait
train bilstm-2x2-brackets --model bilstm --window 2:2 --features brackets &
train attmem-2x2-mem4-brackets --model attmem --window 2:2 --memory-size 4 --features brackets &
wait
runs=("$P-pool-2x2" "$P-bilstm-1x1" "$P-bilstm-2x2" "$P-bilstm-2x2-focal2" "$P-transformer-2x2-cls" "$P-attmem-2x2-mem4"
      "$P-bilstm-2x2-brackets" "$P-attmem-2x2-mem4-brackets")
if [ -n "$EXTRA" ]; then
  train "$EXTRA-bilstm-2x2" --encoder "$EXTRA" --model bilstm --window 2:2 &
  train "$EXTRA-bilstm-2x2-brackets" --encoder "$EXTRA" --model bilstm --window 2:2 --features brackets &
  wait
  runs+=("$P-$EXTRA-bilstm-2x2" "$P-$EXTRA-bilstm-2x2-brackets")
fi
"$SEG" report "${runs[@]}" --format md --output "report-$P" --force
