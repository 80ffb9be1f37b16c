"""Reference points scored on the same gaps as the models.

everywhere  a break at every candidate gap (recall 1; its precision is the break rate).
rule        the dialogue bracket rule of Japanese typesetting: a break before a sentence
            that opens with 「 or 『, or after a sentence that closes with 」 or 』.
"""

from __future__ import annotations

import numpy as np

from .data import SplitData, gap_counts
from .features import BLANKS, CLOSERS, OPENERS
from .metrics import segmentation_metrics
from .windows import gap_windows

BASELINES = ("everywhere", "rule")


def rule_predictions(texts: list[str], sentence: np.ndarray) -> np.ndarray:
    """0/1 per gap (gap before sentence i = `sentence[g]`) from the bracket rule."""
    opens = np.fromiter((t.lstrip(BLANKS).startswith(OPENERS) for t in texts), dtype=bool, count=len(texts))
    closes = np.fromiter((t.rstrip(BLANKS).endswith(CLOSERS) for t in texts), dtype=bool, count=len(texts))
    return (opens[sentence] | closes[sentence - 1]).astype(np.int64)


def baseline_metrics(split: SplitData) -> dict[str, dict[str, float]]:
    """{"everywhere": metrics, "rule": metrics} on every candidate gap of the split."""
    gaps = gap_windows(split.spans, 1, 1)
    y = split.labels[gaps.sentence]
    counts = gap_counts(split.spans)
    return {
        "everywhere": segmentation_metrics(y, np.ones_like(y), counts),
        "rule": segmentation_metrics(y, rule_predictions(split.texts, gaps.sentence), counts),
    }
