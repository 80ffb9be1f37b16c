"""How far could per-document calibration take a run? A diagnostic, not a result (issue 12).

    .venv/bin/python bench/threshold_ceiling.py RUN [RUN ...] [--split test] [--works]

A trained run decides every gap with one threshold chosen on dev. Works differ a lot in how
often a paragraph starts in running narration, so a natural hope is that a model which adapted
its threshold to each work would gain a lot. This script bounds that hope from above: for each
repeat it finds, ON THE SPLIT'S OWN LABELS, the per-document thresholds that maximise the pooled
F1 (coordinate ascent over documents on a 0.01 grid, starting from the repeat's dev threshold)
and prints that F1 next to the run's real one. No method that only moves thresholds per
document — a document-level prior, a per-work calibration — can score above the oracle on these
probabilities; only better per-gap scores can. Nothing here is used for selection: the oracle
looks at the labels it is scored on, which is exactly why it is a ceiling and not a result.

--works also prints, per document of the split (best-dev repeat), the gaps, the true and
predicted break rate, and the F1 at the dev threshold and at the oracle threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from trainer.run import read_run  # noqa: E402

GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


def counts(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(len(GRID), 3): true positives, false positives, false negatives at each grid threshold."""
    pred = probs[None, :] >= GRID[:, None]
    pos = labels.astype(bool)[None, :]
    return np.stack([(pred & pos).sum(1), (pred & ~pos).sum(1), (~pred & pos).sum(1)], axis=1)


def f1_of(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def oracle_thresholds(per_doc: list[np.ndarray], start: int, passes: int = 4) -> list[int]:
    """Grid index per document maximising the pooled F1, by coordinate ascent from `start`."""
    pick = [start] * len(per_doc)
    total = sum(c[start] for c in per_doc).astype(np.float64)
    for _ in range(passes):
        moved = False
        for d, c in enumerate(per_doc):
            rest = total - c[pick[d]]
            cand = rest[None, :] + c
            f1 = 2 * cand[:, 0] / np.maximum(2 * cand[:, 0] + cand[:, 1] + cand[:, 2], 1)
            best = int(np.argmax(f1))
            if f1[best] > f1[pick[d]] + 1e-12:
                pick[d], total, moved = best, rest + c[best], True
        if not moved:
            break
    return pick


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories")
    ap.add_argument("--split", default="test", choices=("dev", "test"), help="split to bound (default test)")
    ap.add_argument("--works", action="store_true", help="also print one line per document (default off)")
    args = ap.parse_args()
    print("run\tsplit\tF1 (dev thresholds, mean over repeats)\tF1 with oracle per-document thresholds\tgain")
    for path in args.runs:
        run = read_run(path)
        preds = run.predictions(args.split)
        if preds is None:
            sys.exit(f"{path}: no predictions-{args.split}.jsonl; train the run to the end first")
        docs = np.asarray(preds.docs)
        names = list(dict.fromkeys(preds.docs))
        rows = [np.flatnonzero(docs == d) for d in names]
        decided = preds.decisions(run.thresholds)
        real, oracle, picks = [], [], []
        for k, thr in enumerate(run.thresholds):
            tp = int((decided[:, k] & (preds.labels == 1)).sum())
            fp = int((decided[:, k] & (preds.labels == 0)).sum())
            fn = int((~decided[:, k] & (preds.labels == 1)).sum())
            real.append(f1_of(tp, fp, fn))
            per_doc = [counts(preds.labels[r], preds.probs[r, k]) for r in rows]
            start = int(np.argmin(np.abs(GRID - thr)))
            pick = oracle_thresholds(per_doc, start)
            tot = sum(c[p] for c, p in zip(per_doc, pick))
            oracle.append(f1_of(*tot))
            picks.append((per_doc, pick, start))
        r, o = np.mean(real), np.mean(oracle)
        print(f"{run.name}\t{args.split}\t{r:.3f} ± {np.std(real):.3f}\t{o:.3f} ± {np.std(oracle):.3f}\t{o - r:+.3f}")
        if args.works:
            k = run.best_repeat
            per_doc, pick, start = picks[k]
            print(f"  per document (repeat {k}): gaps, true break rate, predicted break rate, F1 at the dev threshold, F1 at the oracle's")
            for name, rr, c, p in zip(names, rows, per_doc, pick):
                lab, dec = preds.labels[rr], decided[rr, k]
                print(f"  {name}\t{len(rr)}\t{lab.mean():.3f}\t{dec.mean():.3f}\t{f1_of(*c[start]):.3f}\t{f1_of(*c[p]):.3f} (t {GRID[p]:.2f})")


if __name__ == "__main__":
    main()
