"""Does a difference between two runs hold up?

Every run is compared with one reference run: the run with the highest mean F1 on the
**dev** split (reference_run), so that the choice of what to compare against never looks
at the test labels the comparison is then made on. Two views:

* bootstrap over documents: resample the split's documents with replacement, recompute
  each run's F1 (pooled over the resampled documents, at each repeat's chosen threshold,
  then averaged over repeats); the 2.5/97.5 percentiles of the difference give the
  (unadjusted) 95% interval and the two-sided bootstrap p-value is
  2 * min(P(d <= 0), P(d >= 0)) with the (count + 1) / (B + 1) correction.
  Documents, not gaps, are resampled because gaps within one novel are not independent.
* Welch's t-test over repeats (scipy.stats.ttest_ind, equal_var=False): repeats of two
  runs share nothing but a seed number (different architectures or settings draw different
  initialisations from one seed), so the samples are independent; needs at least two
  repeats on each side.

With several runs there are several comparisons against one reference; both families of
p-values (bootstrap and t-test) are corrected with Holm's step-down method (holm), which
controls the family-wise error rate at 5% without assuming independence. A difference
"holds up" when its Holm-adjusted bootstrap p-value is below 0.05 (and the split has at
least MIN_DOCS documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats

from .collect import Predictions, Run


MIN_DOCS = 5   # fewer documents than this: the interval is shown but no verdict is drawn
ALPHA = 0.05   # family-wise error rate of the Holm-corrected verdicts
REFERENCE_SPLIT = "dev"   # the split that chooses the reference run (never test)


@dataclass
class Comparison:
    run: str
    best: str
    diff: Optional[float] = None          # F1(run) - F1(best) on the full split
    lo: Optional[float] = None            # 95% bootstrap interval of the difference (unadjusted)
    hi: Optional[float] = None
    n_docs: int = 0
    resamples: int = 0
    p_boot: Optional[float] = None        # two-sided bootstrap p-value of the difference
    p_boot_holm: Optional[float] = None   # ... Holm-adjusted over the comparisons of the report
    test: str = ""                        # "Welch t" | ""
    t: Optional[float] = None
    p: Optional[float] = None             # Welch t-test p-value over repeats
    p_holm: Optional[float] = None        # ... Holm-adjusted
    note: str = ""

    def cells(self, yes: str, no: str) -> tuple[str, str, str, str, str]:
        """(ΔF1, 95% interval, bootstrap p (Holm), holds up?, t-test) as the report's tables print them;
        `yes` / `no` are the format's marks for a difference that holds up or not."""
        ci = "—" if self.lo is None else f"[{self.lo:+.3f}, {self.hi:+.3f}]"
        d = "—" if self.diff is None else f"{self.diff:+.3f}"
        pb = "—" if self.p_boot is None else f"{self.p_boot:.3g} ({self.p_boot_holm:.3g})"
        hu = self.holds_up
        hold = ("too few documents" if self.lo is not None else "—") if hu is None else (yes if hu else no)
        tt = "—" if not self.test else f"{self.test}: t = {self.t:.2f}, p = {self.p:.3g} ({self.p_holm:.3g})"
        return d, ci, pb, hold, tt

    @property
    def holds_up(self) -> Optional[bool]:
        """True when the Holm-adjusted bootstrap p-value is below ALPHA; None without a bootstrap
        or with fewer than MIN_DOCS documents (a handful of documents can put it anywhere)."""
        p = self.p_boot_holm if self.p_boot_holm is not None else self.p_boot
        if p is None or self.n_docs < MIN_DOCS:
            return None
        return p < ALPHA


def holm(pvalues: list[Optional[float]]) -> list[Optional[float]]:
    """Holm's step-down adjustment (Holm 1979) of a family of p-values; None entries are skipped.

    Sort the m p-values ascending, multiply the k-th smallest (k = 0..m-1) by m - k, make the
    sequence non-decreasing (running maximum) and cap it at 1. Every adjusted value is >= its
    raw value, and the adjusted values keep the order of the raw ones. (statsmodels'
    multipletests(method="holm") computes the same; it is not a dependency here.)
    """
    idx = [k for k, p in enumerate(pvalues) if p is not None]
    out: list[Optional[float]] = [None] * len(pvalues)
    m = len(idx)
    running = 0.0
    for rank, k in enumerate(sorted(idx, key=lambda k: pvalues[k])):
        running = max(running, min(1.0, (m - rank) * float(pvalues[k])))
        out[k] = running
    return out


def doc_counts(preds: Predictions, thresholds: list[float], docs: list[str]) -> np.ndarray:
    """(len(docs), repeats, 3) true positives, false positives, false negatives per document."""
    pred = preds.decisions(thresholds)
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
                      level: float = 0.95) -> tuple[float, float, float, float]:
    """Difference F1(a) - F1(b), its bootstrap interval and two-sided bootstrap p-value;
    a, b are doc_counts over the same documents."""
    n = a.shape[0]
    point = float(f1_from_counts(a.sum(0)).mean() - f1_from_counts(b.sum(0)).mean())
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)   # (B, docs)
    fa = f1_from_counts(np.einsum("bd,drc->brc", w, a)).mean(1)
    fb = f1_from_counts(np.einsum("bd,drc->brc", w, b)).mean(1)
    d = fa - fb
    alpha = (1 - level) / 2
    lo, hi = np.quantile(d, [alpha, 1 - alpha])
    tail = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0))
    p = min(1.0, 2 * (tail + 1) / (resamples + 1))
    return point, float(lo), float(hi), float(p)


def repeat_test(a: list[float], b: list[float]) -> tuple[str, Optional[float], Optional[float]]:
    """Welch's t-test of per-repeat scores of two runs. (name, t, p) or ("", None, None).

    Unpaired: repeat k of one run and repeat k of another share a seed number but no
    initialisation (other architectures draw other weights from it), so nothing pairs them.
    """
    if len(a) < 2 or len(b) < 2:
        return "", None, None
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.allclose(a_, a_[0]) and np.allclose(b_, b_[0]):
        same = np.isclose(a_[0], b_[0])
        return "Welch t", (0.0 if same else float(np.sign(a_[0] - b_[0]) * np.inf)), (1.0 if same else 0.0)
    r = stats.ttest_ind(a_, b_, equal_var=False)
    return "Welch t", float(r.statistic), float(r.pvalue)


def compare(run: Run, best: Run, split: str, resamples: int = 2000, seed: int = 0) -> Comparison:
    c = Comparison(run.name, best.name, resamples=resamples)
    c.test, c.t, c.p = repeat_test(run.per_repeat(split, "f1"), best.per_repeat(split, "f1"))
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
        c.diff = float(f1_from_counts(doc_counts(pa, run.thresholds, docs).sum(0)).mean()
                       - f1_from_counts(doc_counts(pb, best.thresholds, docs).sum(0)).mean())
        c.note = f"one document in the {split} split: resampling documents gives no interval"
        return c
    c.diff, c.lo, c.hi, c.p_boot = bootstrap_f1_diff(doc_counts(pa, run.thresholds, docs),
                                           doc_counts(pb, best.thresholds, docs), resamples, seed)
    if c.n_docs < MIN_DOCS:
        c.note = f"only {c.n_docs} documents in the {split} split: too few to tell"
    return c


def reference_run(runs: list[Run]) -> Optional[Run]:
    """The finished run with the highest mean F1 on REFERENCE_SPLIT (dev); ties: the first in order.
    Test labels play no part in the choice."""
    have = [r for r in runs if r.complete and isinstance(r.summary(REFERENCE_SPLIT).get("f1"), dict)]
    return max(have, key=lambda r: float(r.summary(REFERENCE_SPLIT)["f1"]["mean"])) if have else None


def compare_all(runs: list[Run], best: Run, split: str, resamples: int = 2000, seed: int = 0) -> list[Comparison]:
    """Every other finished run against `best`, with Holm-adjusted p-values over the family."""
    out = [compare(r, best, split, resamples, seed) for r in runs if r.complete and r is not best]
    for c, p in zip(out, holm([c.p_boot for c in out])):
        c.p_boot_holm = p
    for c, p in zip(out, holm([c.p for c in out])):
        c.p_holm = p
    return out
