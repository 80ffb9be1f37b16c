#!/usr/bin/env bash
# chiVe word vectors (from the ja-ginza wheel) for the words of a dataset, as a word2vec text
# file for `seg embed --encoder wiki2vec --vectors FILE`. See scripts/chive_vectors.py.
#   scripts/chive_vectors.sh [DATASET] [OUT]     defaults: cache/datasets/aozora, cache/chive-<dataset>.txt
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:-cache/datasets/aozora}
OUT=${2:-cache/chive-$(basename "$DATASET").txt}
WORK=${CHIVE_WORK:-/tmp/seg-chive}
GINZA=ja-ginza==5.3.0
mkdir -p "$WORK"
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/python" -m pip install --quiet spacy
fi
if [ ! -d "$WORK/ja_ginza" ]; then
  "$WORK/venv/bin/python" -m pip download --quiet --no-deps "$GINZA" -d "$WORK"
  (cd "$WORK" && python3 -m zipfile -e ja_ginza-*.whl .)
fi
model=$(dirname "$(ls -d "$WORK"/ja_ginza/ja_ginza-*/vocab)")
.venv/bin/python scripts/chive_vectors.py vocab "$DATASET" > "$WORK/vocab.txt"
"$WORK/venv/bin/python" scripts/chive_vectors.py export "$model" "$WORK/vocab.txt" "$OUT"
