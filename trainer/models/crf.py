"""A linear-chain CRF over the binary break labels of consecutive gaps.

The gap scorer gives each gap an emission logit z_t (score of "break" against "no break" =
0); the CRF adds a learned 2x2 transition score A[y_{t-1}, y_t] between neighbouring gaps,
so the model can learn patterns a per-gap decision cannot see (a short dialogue line is
rarely followed by another break, say). Training minimises -log P(y | z) (forward algorithm
in log space). A run's per-gap probability is the CRF marginal P(y_t = 1 | z) from
forward-backward over the whole document, and `--decode crf` breaks where that marginal
reaches the dev-chosen threshold (posterior decoding: it maximises the expected number of
correct gaps, which suits F1 better than the single best path). The torch code trains on
chunks; `crf_marginals` runs on whole documents at inference (no start or end scores: a
chunk's first gap is rarely a document's).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _emissions(z: torch.Tensor) -> torch.Tensor:
    """(B, T) break logits -> (B, T, 2) emission scores [no break = 0, break = z]."""
    return torch.stack([torch.zeros_like(z), z], dim=-1)


class BinaryCRF(nn.Module):
    def __init__(self):
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(2, 2))

    def nll(self, z: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of labels y (B, T) under logits z (B, T); mask (B, T)
        True on real gaps, which must come first in each row (padding after)."""
        e = _emissions(z)
        y = y.long()
        A = self.transitions
        # score of the true path
        gold = e.gather(-1, y.unsqueeze(-1)).squeeze(-1)                     # (B, T)
        trans = A[y[:, :-1], y[:, 1:]]                                       # (B, T-1)
        m = mask.to(z.dtype)
        path = (gold * m).sum(1) + (trans * m[:, 1:]).sum(1)
        # log partition
        alpha = e[:, 0]                                                      # (B, 2)
        for t in range(1, z.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + A.unsqueeze(0), dim=1) + e[:, t]
            alpha = torch.where(mask[:, t:t + 1], nxt, alpha)
        log_z = torch.logsumexp(alpha, dim=1)
        has = mask[:, 0]
        return ((log_z - path) * has).sum() / has.sum().clamp(min=1)

    def numpy_transitions(self) -> np.ndarray:
        return self.transitions.detach().cpu().double().numpy()


def crf_marginals(z: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """P(break) of each gap of one document by forward-backward."""
    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    if n == 0:
        return np.zeros(0)
    A = np.asarray(transitions, dtype=np.float64)
    e = np.stack([np.zeros(n), z], axis=1)
    fw = np.zeros((n, 2))
    bw = np.zeros((n, 2))
    fw[0] = e[0]
    for t in range(1, n):
        fw[t] = np.logaddexp.reduce(fw[t - 1][:, None] + A, axis=0) + e[t]
    for t in range(n - 2, -1, -1):
        bw[t] = np.logaddexp.reduce(A + (e[t + 1] + bw[t + 1])[None, :], axis=1)
    post = fw + bw
    post -= np.logaddexp(post[:, 0], post[:, 1])[:, None]
    return np.exp(post[:, 1])


def per_document(fn, z: np.ndarray, doc_gap_counts: list[int], *args) -> np.ndarray:
    """Apply a one-document function to every document's slice of the gap array."""
    out, start = [], 0
    for n in doc_gap_counts:
        out.append(fn(z[start:start + n], *args))
        start += n
    return np.concatenate(out) if out else np.zeros(0)
