#!/usr/bin/env bash
# Issue 24's scale-up, end to end: a larger corpus from a local Aozora Bunko mirror, added to the
# train split of the shared corpus (dev and test unchanged), embedded with e5, then the same system
# trained with and without it on both splits (bench/scale_aozora.py), and the learning curve.
#
#   bench/scale_aozora.sh MIRROR [N_WORKS] [ROOT]
#     MIRROR   a clone or snapshot of aozorahack/aozorabunko_text (fetch github:aozorahack/aozorabunko_text)
#     N_WORKS  works to add (default 400; 0 = all 6,078 that pass the rules)
#     ROOT     datasets and caches (default cache; the vector cache ROOT/vectors is shared with bench/quality.sh)
#
# Every step resumes: the corpus keeps the files it wrote, prep is skipped when its dataset
# exists, embed encodes only sentences missing from the content-addressed cache (so a larger
# N_WORKS later encodes only the new works), the learning curve keeps the trainings in its json.
set -euo pipefail
cd "$(dirname "$0")/.."
MIRROR=${1:?give the mirror path}
N=${2:-400}
ROOT=${3:-cache}
SEG=${SEG:-.venv/bin/seg}
PY=${PY:-.venv/bin/python}
TAG=x$N
"$SEG" corpus aozora "$MIRROR" --output "$ROOT/corpora/aozora-$N" --exclude ../shared/corpus/aozora --max-works "$N"
for split in document author; do
  base=$ROOT/datasets/aozora-$split
  [ -f "$base/stats.json" ] || "$SEG" prep ../shared/corpus/aozora --output "$base" --split 8:1:1 --seed 0 --split-by "$split"
  ds=$ROOT/datasets/aozora-$split-$TAG
  [ -f "$ds/stats.json" ] || "$SEG" prep ../shared/corpus/aozora --output "$ds" --split 8:1:1 --seed 0 --split-by "$split" \
    --train-extra "$ROOT/corpora/aozora-$N"
  "$SEG" embed "$base" --encoder e5 --cache "$ROOT/vectors"
  "$SEG" embed "$ds" --encoder e5 --cache "$ROOT/vectors"
done
for split in document author; do
  "$PY" bench/scale_aozora.py --root "$ROOT" --split "$split" --extra "$TAG" --repeats 3 &
done
wait
