"""What a segmenter returns: the flattened inputs' scores and decisions (Segmentation), each
input's share of them (DocResult) and a whole `seg segment` call's (SegmentResults)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.documents import Document, join_paragraphs


@dataclass
class Segmentation:
    """What every segmenter (trained run, rule, texttiling) returns for the flattened inputs."""

    probs: np.ndarray          # (n,) score of the gap before each sentence: probability, rule 0/1 or
                               # texttiling depth; nan at the first sentence of each input
    decisions: np.ndarray      # (n,) int 0/1: the sentence starts a paragraph (1 at each input's start)
    threshold: float | None    # the cut applied to probs (None: rule, texttiling's own cut-off)
    description: str
    attention: list | None = None   # word-attention runs: per sentence [[token text, weight], ...] (mean over heads)

    @classmethod
    def cut(cls, probs: np.ndarray, spans: list[tuple[int, int]], threshold: float | None,
            decisions: np.ndarray | None, description: str) -> "Segmentation":
        """decisions = probs >= threshold unless given; 1 at every input's first sentence."""
        dec = (probs >= threshold) if decisions is None else decisions
        dec = np.asarray(np.nan_to_num(dec, nan=1.0), dtype=np.int64).copy()
        for s, _ in spans:
            dec[s] = 1
        return cls(probs, dec, threshold, description)


@dataclass
class DocResult:
    doc: Document
    probs: np.ndarray         # (n,) float, nan at i = 0
    decisions: np.ndarray     # (n,) int 0/1, 1 at i = 0
    attention: list | None = None   # per sentence [[token text, weight], ...] (word-attention runs)

    @property
    def reference(self) -> np.ndarray:
        return np.asarray(self.doc.labels, dtype=np.int64)

    def paragraphs(self) -> list[str]:
        """The input's cleaned text cut at the decisions (see join_paragraphs: nothing is lost)."""
        doc = self.doc
        return join_paragraphs(doc.sentences, self.decisions, doc.seps or [""] * len(doc.sentences))


@dataclass
class SegmentResults:
    segmenter: str                       # "run <dir> (repeat k | ensemble of n)", "rule", "texttiling ..."
    threshold: float | None
    docs: list[DocResult]
    metrics: dict | None = None          # {"overall": {...}, "documents": {doc: {...}}} with --evaluate
    outputs: list[str] = field(default_factory=list)
    sentences: int = 0
    seconds: float = 0.0


def split_results(docs: list[Document], seg: Segmentation) -> list[DocResult]:
    results: list[DocResult] = []
    start = 0
    for d in docs:
        end = start + len(d.sentences)
        dec = seg.decisions[start:end].copy()
        dec[0] = 1
        results.append(DocResult(d, seg.probs[start:end], dec, seg.attention[start:end] if seg.attention else None))
        start = end
    return results
