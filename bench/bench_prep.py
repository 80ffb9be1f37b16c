"""Prep throughput in MB of raw text per second, on one core, over the shared Aozora corpus.

    .venv/bin/python bench/bench_prep.py [CORPUS_DIR]

Times the parse (decode, Aozora clean-up, headings, sentence splitting) of every file, then
the whole `seg prep` including writing the dataset, and prints MB/s against the 5 MB/s target.
The reference in the same run is the bare cost of reading and decoding the bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.documents import load_document  # noqa: E402
from pipeline.prep import PrepConfig, prep  # noqa: E402
from pipeline.reader import read_text  # noqa: E402

TARGET_MB_S = 5.0


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "corpus" / "aozora"
    files = sorted(corpus.glob("*.txt"))
    if not files:
        sys.exit(f"no .txt files under {corpus}")
    mb = sum(f.stat().st_size for f in files) / 1e6
    t_read = best_of(lambda: [read_text(f) for f in files])
    t_parse = best_of(lambda: [load_document(f) for f in files])
    with tempfile.TemporaryDirectory() as tmp:
        t_prep = best_of(lambda: prep(PrepConfig(inputs=[str(corpus)], output=f"{tmp}/ds", force=True)), repeats=2)
    n_sent = sum(len(load_document(f).sentences) for f in files)
    print(f"\ncorpus: {len(files)} files, {mb:.1f} MB, {n_sent:,} sentences (one core)")
    print(f"{'step':<34}{'seconds':>9}{'MB/s':>9}{'vs target':>11}")
    for name, t in (("read + decode (reference)", t_read), ("parse (clean, headings, split)", t_parse),
                    ("seg prep (parse + write dataset)", t_prep)):
        print(f"{name:<34}{t:>9.2f}{mb / t:>9.1f}{mb / t / TARGET_MB_S:>10.1f}x")
    print(f"parse costs {t_parse / t_read:.1f}x the bare read; target {TARGET_MB_S} MB/s")


if __name__ == "__main__":
    main()
