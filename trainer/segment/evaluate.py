"""`seg segment --evaluate`: the decisions scored against the inputs' own paragraph breaks."""

from __future__ import annotations

import numpy as np
from rich.table import Table

from pipeline.errors import SegError

from ..metrics import METRICS, segmentation_metrics
from .segmentation import DocResult


def evaluate(results: list[DocResult]) -> dict:
    """Metrics of trainer.metrics against the inputs' own breaks: per document and over all
    documents together (gaps pooled, Pk/WindowDiff gap-weighted), as `seg train` scores a split."""
    labels, preds, counts = [], [], []
    per_doc = {}
    for r in results:
        y, p = r.reference[1:], r.decisions[1:]
        n = len(y)
        per_doc[r.doc.doc_id] = {"gaps": n, "breaks": int(y.sum()),
                                 "metrics": segmentation_metrics(y, p, [n]) if n else None}
        labels.append(y)
        preds.append(p)
        counts.append(n)
    y_all, p_all = np.concatenate(labels), np.concatenate(preds)
    if not len(y_all):
        raise SegError("--evaluate: every input has a single sentence, so there is no gap to score")
    return {"overall": segmentation_metrics(y_all, p_all, counts), "documents": per_doc,
            "gaps": int(len(y_all)), "breaks": int(y_all.sum())}


def metrics_table(metrics: dict, title: str) -> Table:
    """Per-document rows (when there are several) and the overall row."""
    t = Table(title=title)
    t.add_column("document", justify="left")
    t.add_column("gaps", justify="right")
    t.add_column("breaks", justify="right")
    for k in ("P", "R", "F1", "bAcc", "Pk", "WindowDiff"):
        t.add_column(k, justify="right")
    docs = metrics["documents"]
    if len(docs) > 1:
        for d, r in docs.items():
            m = r["metrics"]
            cells = [f"{m[k]:.3f}" for k in METRICS] if m else ["-"] * len(METRICS)
            t.add_row(d, str(r["gaps"]), str(r["breaks"]), *cells)
    m = metrics["overall"]
    t.add_row("all" if len(docs) > 1 else next(iter(docs)), str(metrics["gaps"]), str(metrics["breaks"]),
              *(f"{m[k]:.3f}" for k in METRICS), style="bold")
    return t
