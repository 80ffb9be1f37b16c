"""TextTiling over sentence vectors: the unsupervised baseline of `seg segment --run texttiling`.

Hearst (1997), "TextTiling: Segmenting Text into Multi-paragraph Subtopic Passages",
with sentence embeddings in place of term-frequency vectors:

1. gap score: for the gap before sentence g (1 <= g < n), the cosine similarity of the
   mean vector of the `window` sentences before the gap and the mean vector of the
   `window` sentences after it (blocks are cut short at the document edges);
2. depth score: how deep the gap's score sits in its valley, (left peak - s_g) +
   (right peak - s_g), each peak found by climbing from g while the score rises;
3. a break is placed at every gap whose depth score exceeds mean - C * std of the
   document's depth scores (Hearst's cut-off; C = `depth_cutoff`, 0.5 is her "liberal"
   setting). Hearst keeps only local maxima of the depth because her segments are
   multi-paragraph; paragraphs of a novel are a few sentences long, so every gap over
   the cut-off becomes a break here.

The first sentence of a document always starts a paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import SegError


@dataclass
class TextTilingConfig:
    window: int = 2             # sentences in the block on each side of a gap
    depth_cutoff: float = 0.5   # break where depth > mean - depth_cutoff * std


def gap_scores(vectors: np.ndarray, window: int) -> np.ndarray:
    """Cosine similarity across each gap: scores[g] is for the gap before sentence g; scores[0] = nan."""
    if window < 1:
        raise SegError(f"--window {window}: give a block size of at least 1 sentence")
    v = np.asarray(vectors, dtype=np.float64)
    n = len(v)
    scores = np.full(n, np.nan)
    if n < 2:
        return scores
    csum = np.concatenate([np.zeros((1, v.shape[1])), np.cumsum(v, axis=0)])
    g = np.arange(1, n)
    lo = np.maximum(g - window, 0)
    hi = np.minimum(g + window, n)
    left = (csum[g] - csum[lo]) / (g - lo)[:, None]
    right = (csum[hi] - csum[g]) / (hi - g)[:, None]
    norm = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    scores[1:] = np.einsum("ij,ij->i", left, right) / np.maximum(norm, 1e-12)
    return scores


def depth_scores(scores: np.ndarray) -> np.ndarray:
    """Depth of each gap's score in its valley; depth[0] = nan like scores[0]."""
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    depth = np.full(n, np.nan)
    for g in range(1, n):
        left = s[g]
        k = g - 1
        while k >= 1 and s[k] >= left:
            left = s[k]
            k -= 1
        right = s[g]
        k = g + 1
        while k < n and s[k] >= right:
            right = s[k]
            k += 1
        depth[g] = (left - s[g]) + (right - s[g])
    return depth


def texttiling(vectors: np.ndarray, cfg: TextTilingConfig = TextTilingConfig()) -> tuple[np.ndarray, np.ndarray]:
    """One document's sentence vectors -> (depth score per sentence, 0/1 break decision per sentence).

    Entry i is about the gap before sentence i; entry 0 has depth nan and decision 1.
    """
    depth = depth_scores(gap_scores(vectors, cfg.window))
    n = len(depth)
    decisions = np.zeros(n, dtype=np.int64)
    if n == 0:
        return depth, decisions
    decisions[0] = 1
    if n > 1:
        d = depth[1:]
        cutoff = d.mean() - cfg.depth_cutoff * d.std()
        decisions[1:] = d > cutoff
    return depth, decisions
