#!/usr/bin/env bash
# The "user-sized" experiment set: the 115 shortest works of the shared Aozora corpus
# (29,933 sentences, 29,635 distinct, 29 authors; the user's own data had ~28.5k sentences), listed in
# bench/aozora30k.txt. Prepped with the default 8:1:1 document split, seed 0.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/corpus/aozora}
SEG=${SEG:-.venv/bin/seg}
mapfile -t files < <(sed "s|^|$CORPUS/|" bench/aozora30k.txt)
"$SEG" prep "${files[@]}" --output "${OUTPUT:-cache/datasets/aozora30k}" "$@"
