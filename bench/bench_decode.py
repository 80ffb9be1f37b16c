"""Cost of structured decoding in `seg segment`: threshold vs Viterbi (length prior) vs CRF runs.

    .venv/bin/python bench/bench_decode.py RUN_THRESHOLD RUN_VITERBI [RUN_CRF] [--runs-dir DIR]

Each run is loaded once (seg.load: model, encoder and vector cache), then segments the raw files
of its dataset's test documents with a warm vector cache (a first pass fills it); the figure is
the best of three passes, in sentences per second, and the ratio to the threshold run on the
same text, measured in the same process (target: Viterbi or CRF within 1.5x of threshold). The
runs should be the same model and settings apart from --decode, e.g. bench/quality.sh's
document-seq, document-seq-viterbi and document-seq-crf.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories or names: the first decodes with a threshold")
    ap.add_argument("--runs-dir", default="runs")
    args = ap.parse_args()

    import seg
    from pipeline.dataset import load_documents, load_split
    from pipeline.documents import load_document
    from trainer.run import load_run

    first = load_run(Path(args.runs_dir) / args.runs[0] if not Path(args.runs[0]).is_dir() else args.runs[0])
    dataset = Path(first.config["dataset"])
    sources = {d["doc"]: d["source"] for d in load_documents(dataset)}
    docs = [load_document(Path(sources[d])) for d, _, _ in load_split(dataset, "test").doc_ranges()]
    n = sum(len(d.sentences) for d in docs)
    rates = []
    for run in args.runs:
        s = seg.load(run, runs_dir=args.runs_dir, progress=False)
        s.segment_documents(docs)                      # warm the cache and the model
        best = min(_timed(s, docs) for _ in range(3))
        rates.append(n / best)
        kind = (s.run.config.get("decoder") or {}).get("kind", "threshold") if getattr(s, "run", None) else "?"
        print(f"{run}: decode {kind}, {n:,} sentences in {best:.2f} s = {n / best:,.0f} sent/s "
              f"({rates[0] / rates[-1]:.2f}x the time of {args.runs[0]})", flush=True)


def _timed(segmenter, docs) -> float:
    t0 = time.perf_counter()
    segmenter.segment_documents(docs)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
