"""Segmentation metrics over candidate gaps; the positive class is "paragraph starts here".

precision, recall, f1, bacc   scikit-learn over all gaps of the split (zero_division=0).
pk, windowdiff                nltk.metrics.segmentation, per document, on the document's
                              boundary string (one character per gap, "1" = break). The
                              window k of a document is half its mean true segment length in
                              sentences, rounded half up, at least 2 (Beeferman et al. 1999),
                              and at most the number of gaps. The split's value is the mean
                              over documents weighted by each document's number of gaps.

Lower is better for pk and windowdiff; higher for the rest.
"""

from __future__ import annotations

import math

import numpy as np
from nltk.metrics.segmentation import pk as nltk_pk, windowdiff as nltk_windowdiff
from sklearn.metrics import balanced_accuracy_score, precision_recall_curve, precision_recall_fscore_support

METRICS = ("precision", "recall", "f1", "bacc", "pk", "windowdiff")
LOWER_IS_BETTER = ("pk", "windowdiff")


def window_k(ref: str) -> int:
    """Pk/WindowDiff window of one document's boundary string (see the module docstring)."""
    n_sentences = len(ref) + 1
    mean_segment = n_sentences / (ref.count("1") + 1)
    k = max(2, int(math.floor(mean_segment / 2 + 0.5)))
    return min(k, len(ref))


def pk_windowdiff(labels: np.ndarray, preds: np.ndarray, doc_gap_counts: list[int]) -> tuple[float, float]:
    """Gap-weighted mean Pk and WindowDiff over documents.

    `labels`/`preds` hold every gap of the split in document order; `doc_gap_counts` says how
    many consecutive gaps belong to each document (documents without gaps are skipped).
    """
    pk_sum = wd_sum = 0.0
    total = 0
    start = 0
    lab = "".join("1" if v else "0" for v in np.asarray(labels))
    hyp = "".join("1" if v else "0" for v in np.asarray(preds))
    for n in doc_gap_counts:
        if n <= 0:
            continue
        ref_s, hyp_s = lab[start:start + n], hyp[start:start + n]
        start += n
        k = window_k(ref_s)
        pk_sum += n * nltk_pk(ref_s, hyp_s, k=k)
        wd_sum += n * nltk_windowdiff(ref_s, hyp_s, k)
        total += n
    if total == 0:
        return float("nan"), float("nan")
    return pk_sum / total, wd_sum / total


def segmentation_metrics(labels, preds, doc_gap_counts: list[int]) -> dict[str, float]:
    """All METRICS for binary gap predictions (0/1) against gap labels."""
    y = np.asarray(labels).astype(np.int64)
    p = np.asarray(preds).astype(np.int64)
    prec, rec, f1, _ = precision_recall_fscore_support(y, p, average="binary", pos_label=1, zero_division=0)
    if len(np.unique(y)) < 2:
        bacc = float(np.mean(y == p))
    else:
        bacc = balanced_accuracy_score(y, p)
    pk, wd = pk_windowdiff(y, p, doc_gap_counts)
    return {"precision": float(prec), "recall": float(rec), "f1": float(f1), "bacc": float(bacc),
            "pk": float(pk), "windowdiff": float(wd)}


def best_threshold(labels, probs) -> tuple[float, float]:
    """(threshold, f1) maximising F1 of `probs >= threshold` over the precision-recall curve.

    Ties go to the highest threshold (the fewest predicted breaks). With no positive label the
    threshold is 0.5 and F1 is 0.
    """
    y = np.asarray(labels).astype(np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if y.sum() == 0:
        return 0.5, 0.0
    prec, rec, thr = precision_recall_curve(y, probs)
    prec, rec = prec[:-1], rec[:-1]            # the last point has no threshold
    denom = prec + rec
    f1 = np.where(denom > 0, 2 * prec * rec / np.where(denom > 0, denom, 1), 0.0)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thr[best]), float(f1[best])
