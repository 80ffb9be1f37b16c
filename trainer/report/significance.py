"""Does a difference between two runs hold up?

Two views, both against the best run of the table:

* bootstrap over documents: resample the split's documents with replacement, recompute
  each run's F1 (pooled over the resampled documents, at each repeat's chosen threshold,
  then averaged over repeats) and take the 2.5/97.5 percentiles of the difference.
  Documents, not gaps, are resampled because gaps within one novel are not independent.
* a t-test over repeats (scipy.stats): paired when both runs used the same seeds,
  Welch's otherwise; needs at least two repeats on each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats

from .collect import Predictions, RunInfo


MIN_DOCS = 5   # fewer documents than this: the interval is shown but no verdict is drawn


@dataclass
class Comparison:
    run: str
    best: str
    diff: Optional[float] = None          # F1(run) - F1(best) on the full split
    lo: Optional[float] = None            # 95% bootstrap interval of the difference
    hi: Optional[float] = None
    n_docs: int = 0
    resamples: int = 0
    test: str = ""                        # "paired t" | "Welch t" | ""
    t: Optional[float] = None
    p: Optional[float] = None
    note: str = ""

    @property
    def holds_up(self) -> Optional[bool]:
        """True when the bootstrap interval excludes 0; None without an interval or with fewer
        than MIN_DOCS documents (a handful of documents can put the interval anywhere)."""
        if self.lo is None or self.hi is None or self.n_docs < MIN_DOCS:
            return None
        return self.lo > 0 or self.hi < 0


def doc_counts(preds: Predictions, thresholds: list[float], docs: list[str]) -> np.ndarray:
    """(len(docs), repeats, 3) true positives, false positives, false negatives per document."""
    pred = preds.probs >= np.asarray(thresholds, dtype=np.float64)[None, :]
    lab = preds.labels[:, None].astype(bool)
    tp, fp, fn = pred & lab, pred & ~lab, ~pred & lab
    sl = preds.doc_slices()
    out = np.zeros((len(docs), preds.probs.shape[1], 3), dtype=np.float64)
    for k, d in enumerate(docs):
        rows = sl[d]
        out[k, :, 0] = tp[rows].sum(0)
        out[k, :, 1] = fp[rows].sum(0)
        out[k, :, 2] = fn[rows].sum(0)
    return out


def f1_from_counts(c: np.ndarray) -> np.ndarray:
    """F1 from (..., 3) counts; 0 where there is nothing to find and nothing predicted."""
    tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den, dtype=np.float64), where=den > 0)


def bootstrap_f1_diff(a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """Difference F1(a) - F1(b) and its bootstrap interval; a, b are doc_counts over the same documents."""
    n = a.shape[0]
    point = float(f1_from_counts(a.sum(0)).mean() - f1_from_counts(b.sum(0)).mean())
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)   # (B, docs)
    fa = f1_from_counts(np.einsum("bd,drc->brc", w, a)).mean(1)
    fb = f1_from_counts(np.einsum("bd,drc->brc", w, b)).mean(1)
    d = fa - fb
    alpha = (1 - level) / 2
    lo, hi = np.quantile(d, [alpha, 1 - alpha])
    return point, float(lo), float(hi)


def repeat_test(a: list[float], b: list[float], paired: bool) -> tuple[str, Optional[float], Optional[float]]:
    """t-test of per-repeat scores; paired needs equal lengths. (name, t, p) or ("", None, None)."""
    if len(a) < 2 or len(b) < 2:
        return "", None, None
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if paired and len(a_) == len(b_):
        d = a_ - b_
        if np.allclose(d, d[0]):          # constant difference: t is undefined (0 or infinite)
            return "paired t", (0.0 if d[0] == 0 else float(np.sign(d[0]) * np.inf)), (1.0 if d[0] == 0 else 0.0)
        r = stats.ttest_rel(a_, b_)
        return "paired t", float(r.statistic), float(r.pvalue)
    if np.allclose(a_, a_[0]) and np.allclose(b_, b_[0]):
        same = np.isclose(a_[0], b_[0])
        return "Welch t", (0.0 if same else float(np.sign(a_[0] - b_[0]) * np.inf)), (1.0 if same else 0.0)
    r = stats.ttest_ind(a_, b_, equal_var=False)
    return "Welch t", float(r.statistic), float(r.pvalue)


def compare(run: RunInfo, best: RunInfo, split: str, resamples: int = 2000, seed: int = 0) -> Comparison:
    c = Comparison(run.name, best.name, resamples=resamples)
    seeds_a = [r.get("seed") for r in run.repeats]
    seeds_b = [r.get("seed") for r in best.repeats]
    c.test, c.t, c.p = repeat_test(run.per_repeat(split, "f1"), best.per_repeat(split, "f1"),
                                   paired=seeds_a == seeds_b and None not in seeds_a)
    if run.dataset_key != best.dataset_key:
        c.note = "different datasets: no bootstrap"
        return c
    pa, pb = run.predictions(split), best.predictions(split)
    if pa is None or pb is None:
        c.note = f"no predictions-{split}.jsonl: no bootstrap"
        return c
    docs = [d for d in pa.doc_slices() if d in set(pb.docs)]
    if not docs:
        c.note = "no documents in common: no bootstrap"
        return c
    c.n_docs = len(docs)
    if c.n_docs < 2:
        c.diff = float(f1_from_counts(doc_counts(pa, run.thresholds(), docs).sum(0)).mean()
                       - f1_from_counts(doc_counts(pb, best.thresholds(), docs).sum(0)).mean())
        c.note = f"one document in the {split} split: resampling documents gives no interval"
        return c
    c.diff, c.lo, c.hi = bootstrap_f1_diff(doc_counts(pa, run.thresholds(), docs),
                                           doc_counts(pb, best.thresholds(), docs), resamples, seed)
    if c.n_docs < MIN_DOCS:
        c.note = f"only {c.n_docs} documents in the {split} split: too few to tell"
    return c


def compare_all(runs: list[RunInfo], best: RunInfo, split: str, resamples: int = 2000, seed: int = 0) -> list[Comparison]:
    return [compare(r, best, split, resamples, seed) for r in runs if r.complete and r is not best]
