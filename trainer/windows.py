"""Candidate gaps and their sentence windows, as index arithmetic over one vector tensor.

A candidate gap sits between sentences i-1 and i of one document (i >= 1 within the
document: the first sentence of a document is not a candidate). Its window holds the L
sentences before the gap (i-L .. i-1) and the R sentences from it on (i .. i+R-1). Window
positions that fall outside the gap's document are padding: index -1 in the index tensor,
a zero vector after `gather`, and False in the mask. A window never crosses into another
document. The target of a gap is the label of sentence i (1 = a paragraph starts there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.errors import SegError


def parse_window(spec: str) -> tuple[int, int]:
    """'L:R' -> (L, R) with L >= 1 and R >= 1 (the gap needs a sentence on each side)."""
    try:
        left, right = (int(x) for x in str(spec).split(":"))
    except ValueError:
        left = right = -1
    if left < 1 or right < 1 or left > 64 or right > 64:
        raise SegError(f"--window {spec!r}: give L:R, the sentences before:after the gap, each 1..64, e.g. 2:2")
    return left, right


@dataclass
class Gaps:
    """The candidate gaps of one split.

    sentence: (G,) index (into the split's sentence array) of the sentence after each gap
    index:    (G, L+R) sentence indices of each gap's window, -1 for padding
    """

    sentence: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.sentence)


def gap_windows(ranges: list[tuple[int, int]] | np.ndarray, left: int, right: int) -> Gaps:
    """Windows of every candidate gap of documents given as (start, end) sentence ranges.

    Fully vectorised: no Python loop over gaps. Ranges must be disjoint and cover
    contiguous runs of the sentence array (as `Split.doc_ranges()` gives them).
    """
    r = np.asarray([(s, e) for s, e in ranges], dtype=np.int64).reshape(-1, 2)
    lengths = r[:, 1] - r[:, 0]
    n_gaps = np.maximum(lengths - 1, 0)
    starts = np.repeat(r[:, 0], n_gaps)
    ends = np.repeat(r[:, 1], n_gaps)
    # sentence after each gap: start+1 .. end-1 of each document
    first_gap = np.cumsum(n_gaps) - n_gaps
    within = np.arange(int(n_gaps.sum()), dtype=np.int64) - np.repeat(first_gap, n_gaps)
    sentence = starts + 1 + within
    offsets = np.arange(-left, right, dtype=np.int64)
    pos = sentence[:, None] + offsets[None, :]
    valid = (pos >= starts[:, None]) & (pos < ends[:, None])
    index = np.where(valid, pos, -1)
    return Gaps(sentence=sentence, index=index)


def padded(vectors: torch.Tensor) -> torch.Tensor:
    """The vectors with one zero row appended: index -1 then gathers a zero vector."""
    return torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])], dim=0)


def gather(vectors_padded: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L+R) window indices -> x (B, L+R, D) and mask (B, L+R) (True = a real sentence).

    `vectors_padded` is `padded(vectors)`: its last row is the zero padding vector, which
    index -1 selects.
    """
    return vectors_padded[index], index >= 0
