"""How far could per-document calibration take a run? A diagnostic, not a result.

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

--dataset DIR asks the follow-up question: could a model know, from a work's unlabeled text,
how often its narration breaks? Over the dataset's TRAINING works only (test is not read), it
prints the 10-fold cross-validated R² of each work's narration→narration break rate predicted by
ridge regression from (a) text statistics of the work (dialogue share, inline dialogue, sentence
length, endings, dashes and ellipses, length) and (b) the work's mean sentence vector
(--encoder, default e5; PCA to 10 and 50 dimensions).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from trainer.data import load_data  # noqa: E402
from trainer.report.gaptypes import gap_type_codes, is_dialogue  # noqa: E402
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


def text_statistics(texts: list[str], dialogue: np.ndarray) -> list[float]:
    """A work's unlabeled style: dialogue share, dialogue lines that go on after their closing
    bracket (inline dialogue), sentence length (log mean, log median, spread), た。/る。 endings,
    ―― and …… shares, log number of sentences."""
    length = np.log(np.array([max(len(t), 1) for t in texts], dtype=np.float64))
    inline = [any(c in "」』" for c in t.rstrip()[:-1]) for t, d in zip(texts, dialogue) if d]
    return [float(dialogue.mean()), float(np.mean(inline)) if inline else 0.0, float(length.mean()),
            float(np.median(length)), float(length.std()),
            float(np.mean([t.rstrip().endswith("た。") for t in texts])),
            float(np.mean([t.rstrip().endswith("る。") for t in texts])),
            float(np.mean(["――" in t for t in texts])), float(np.mean(["……" in t for t in texts])),
            float(np.log(len(texts)))]


def predictability(dataset: Path, encoder: str, min_gaps: int = 20) -> None:
    """10-fold CV R² of each training work's narration→narration break rate from its own text."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = load_data(dataset, encoder, None, ("train",))[0]["train"]   # texts, labels, documents and vectors
    vectors = train.vectors
    dialogue = is_dialogue(train.texts)
    stats, means, rate = [], [], []
    for _, b, e in train.ranges:
        sent = np.arange(b + 1, e)
        narr = sent[gap_type_codes(dialogue, sent) == 3]
        if len(narr) < min_gaps:
            continue
        stats.append(text_statistics(train.texts[b:e], dialogue[b:e]))
        means.append(vectors[b:e].mean(0))
        rate.append(train.labels[narr].mean())
    y = np.array(rate)
    folds = KFold(10, shuffle=True, random_state=0)
    alphas = np.logspace(-3, 3, 13)
    print(f"{dataset}: {len(y)} training works with ≥ {min_gaps} narration→narration gaps; their break rate "
          f"{y.mean():.3f} ± {y.std():.3f} (10th-90th percentile {np.quantile(y, 0.1):.3f}-{np.quantile(y, 0.9):.3f})")
    for name, x, model in (("text statistics", np.array(stats), make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))),
                           (f"mean {encoder} vector, PCA 10", np.array(means), make_pipeline(PCA(10), RidgeCV(alphas=alphas))),
                           (f"mean {encoder} vector, PCA 50", np.array(means), make_pipeline(PCA(50), RidgeCV(alphas=alphas)))):
        p = cross_val_predict(model, x, y, cv=folds)
        print(f"  R² of the rate from {name}: {1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="run directories")
    ap.add_argument("--split", default="test", choices=("dev", "test"), help="split to bound (default test)")
    ap.add_argument("--works", action="store_true", help="also print one line per document (default off)")
    ap.add_argument("--dataset", help="also: how predictable each training work's narration break rate is (default off)")
    ap.add_argument("--encoder", default="e5", help="embedding the --dataset part reads (default e5)")
    args = ap.parse_args()
    if args.dataset:
        predictability(Path(args.dataset), args.encoder)
    if not args.runs:
        return
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
