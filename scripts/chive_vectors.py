"""Real Japanese word vectors for `seg embed --encoder wiki2vec`: chiVe, as shipped in ja-ginza.

No Wikipedia2Vec file can be downloaded on the project machines, but the `ja-ginza` wheel on
PyPI carries chiVe (Sudachi-based word2vec, 300 dims; pruned to 20,000 distinct vectors, every
other word of its 480k-word vocabulary mapped to its nearest kept vector). This script turns
those vectors into a word2vec text file for the words a dataset actually uses, so gensim loads
a few MB instead of 1.2 GB. Two steps, two Pythons (spaCy is not a seg dependency):

    .venv/bin/python scripts/chive_vectors.py vocab DATASET > vocab.txt
        the dataset's words as seg's wiki2vec encoder splits them (fugashi + ipadic surfaces)
    SPACY_PYTHON scripts/chive_vectors.py export GINZA_MODEL_DIR vocab.txt OUT.txt
        the vectors of those words from ja_ginza's vocab/ (read with spaCy's own Vectors and
        StringStore), in word2vec text format

scripts/chive_vectors.sh runs both (a throwaway venv with spaCy, the ja-ginza wheel).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def vocab(dataset: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pipeline.dataset import SPLITS
    from pipeline.encoders.wiki2vec import words as split_words

    words: set[str] = set()
    for split in SPLITS:
        path = Path(dataset) / f"{split}.jsonl"
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                words.update(split_words(json.loads(line)["text"]))
    for w in sorted(words):
        print(w)


def export(model_dir: str, vocab_file: str, out: str) -> None:
    import numpy as np
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    vdir = Path(model_dir) / "vocab"
    vectors = Vectors().from_disk(vdir)
    strings = StringStore(json.loads((vdir / "strings.json").read_text(encoding="utf-8")))
    data = np.asarray(vectors.data)
    wanted = [w for w in Path(vocab_file).read_text(encoding="utf-8").split("\n") if w and not any(c.isspace() for c in w)]
    rows = {}
    for w in wanted:
        key = strings[w] if w in strings else None
        if key is not None and key in vectors.key2row:
            rows[w] = vectors.key2row[key]
    tmp = Path(out + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f"{len(rows)} {data.shape[1]}\n")
        for w, r in rows.items():
            fh.write(w + " " + " ".join(f"{x:.5f}" for x in data[r]) + "\n")
    tmp.replace(out)
    print(f"{out}: {len(rows)} of {len(wanted)} words have a chiVe vector ({data.shape[1]} dims)", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "vocab":
        vocab(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "export":
        export(*sys.argv[2:])
    else:
        sys.exit(__doc__)
