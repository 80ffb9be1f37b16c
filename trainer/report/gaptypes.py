"""Error analysis by gap type: where a model beats the bracket rule and where it loses.

Every candidate gap lies between sentence i-1 and sentence i of a document. A sentence is
*dialogue* when it opens with a dialogue bracket (trainer.features.OPENERS: 「 or 『, after
the blanks features.BLANKS), else *narration*, so each gap has one of four types:

    dialogue→dialogue   narration→dialogue   dialogue→narration   narration→narration

For each type: the number of gaps, the share that are true breaks, and precision, recall
and F1 of the breaks predicted there (scikit-learn, zero_division=0), for

* every finished run: its best repeat by dev F1 at that repeat's dev threshold (the
  model and threshold `seg segment` uses by default; the repeat is chosen on dev);
* both baselines of trainer/baselines.py on the same gaps: the bracket rule and a break
  at every gap ("everywhere").

The sentence texts come from the run's dataset (`seg prep` output); a run whose dataset
is not readable, or whose predictions do not match it, is skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from ..baselines import rule_predictions
from ..features import BLANKS, OPENERS
from ..run import Run

GAP_TYPES = ("dialogue→dialogue", "narration→dialogue", "dialogue→narration", "narration→narration")


def is_dialogue(texts: list[str]) -> np.ndarray:
    """True for each sentence that opens with a dialogue bracket (the one definition in features.py)."""
    return np.fromiter((t.lstrip(BLANKS).startswith(OPENERS) for t in texts), dtype=bool, count=len(texts))


def gap_type_codes(dialogue: np.ndarray, sentence: np.ndarray) -> np.ndarray:
    """Index into GAP_TYPES of the gap before each sentence in `sentence` (never a document's first)."""
    before, after = dialogue[sentence - 1], dialogue[sentence]
    return np.where(before, np.where(after, 0, 2), np.where(after, 1, 3))


def scores_by_type(labels: np.ndarray, preds: np.ndarray, codes: np.ndarray) -> dict[str, dict]:
    """{gap type: {"gaps", "breaks", "precision", "recall", "f1"}} (metrics None where there is no gap)."""
    out = {}
    for k, name in enumerate(GAP_TYPES):
        sel = codes == k
        y, p = np.asarray(labels)[sel].astype(np.int64), np.asarray(preds)[sel].astype(np.int64)
        row = {"gaps": int(sel.sum()), "breaks": int(y.sum()), "precision": None, "recall": None, "f1": None}
        if sel.any():
            pr, rc, f1, _ = precision_recall_fscore_support(y, p, average="binary", pos_label=1, zero_division=0)
            row.update(precision=float(pr), recall=float(rc), f1=float(f1))
        out[name] = row
    return out


@dataclass
class GapTypeResult:
    split: str
    systems: dict[str, dict[str, dict]] = field(default_factory=dict)   # system -> gap type -> scores
    kinds: dict[str, str] = field(default_factory=dict)                  # system -> "run" | "baseline"


class _SplitTexts:
    """A dataset split's sentences, addressable by (doc, i)."""

    def __init__(self, dataset: Path, split: str):
        from pipeline.dataset import load_split

        s = load_split(dataset, split)
        self.texts = list(s.texts)
        self.labels = np.asarray(s.labels, dtype=np.int64)
        self.dialogue = is_dialogue(self.texts)
        self.pos = {(d, int(i)): k for k, (d, i) in enumerate(zip(s.docs, s.index))}
        # every candidate gap of the split: sentences that are not the first of their document
        self.gap_sentence = np.asarray([k for k, i in enumerate(s.index) if int(i) > 0], dtype=np.int64)


def gap_type_analysis(runs: list[Run], split: str) -> Optional[GapTypeResult]:
    """Scores by gap type for every finished run with predictions on `split`, and the baselines
    on each dataset's gaps (labelled with the dataset's name when the runs use several)."""
    from pipeline.errors import SegError

    res = GapTypeResult(split)
    datasets: dict[str, _SplitTexts] = {}
    for r in runs:
        preds = r.predictions(split) if r.complete else None
        if preds is None or r.dataset is None:
            continue
        key = str(r.dataset)
        if key not in datasets:
            try:
                datasets[key] = _SplitTexts(r.dataset, split)
            except (SegError, OSError, ValueError):
                r.note(f"dataset {r.dataset} not readable: error analysis by gap type skipped")
                continue
        st = datasets[key]
        rows = [st.pos.get((d, int(i))) for d, i in zip(preds.docs, preds.index)]
        if any(k is None or k == 0 or st.pos.get((preds.docs[n], int(preds.index[n]) - 1)) != k - 1
               for n, k in enumerate(rows)):
            r.note(f"predictions-{split}.jsonl does not match the sentences of {r.dataset}: error analysis skipped")
            continue
        sentence = np.asarray(rows, dtype=np.int64)
        k = r.best_repeat
        res.systems[r.name] = scores_by_type(preds.labels, preds.decisions(r.thresholds)[:, k],
                                             gap_type_codes(st.dialogue, sentence))
        res.kinds[r.name] = "run"
    for key, st in datasets.items():
        suffix = f" ({Path(key).name})" if len(datasets) > 1 else ""
        codes = gap_type_codes(st.dialogue, st.gap_sentence)
        y = st.labels[st.gap_sentence]
        res.systems[f"rule{suffix}"] = scores_by_type(y, rule_predictions(st.texts, st.gap_sentence), codes)
        res.systems[f"everywhere{suffix}"] = scores_by_type(y, np.ones_like(y), codes)
        res.kinds[f"rule{suffix}"] = res.kinds[f"everywhere{suffix}"] = "baseline"
    return res if any(v == "run" for v in res.kinds.values()) else None
