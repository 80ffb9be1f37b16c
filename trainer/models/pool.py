"""`pool`: left/right pooling. The left and right windows are pooled separately and combined
as [l, r, |l - r|, l * r] for an MLP with `layers` hidden layers.

Pooling `mean` is a position-weighted masked mean: each window position has a learned
weight (softmax over the real sentences of its side), starting at weights that halve with
each sentence away from the gap. A plain mean over 2:2 windows dilutes the sentences next
to the gap and trains markedly worse than 1:1 (test F1 0.647 vs 0.695 on the 30k-sentence
Aozora set with e5). `max` is the masked max per dimension.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import WindowIntegrator, masked_max, mlp_head


def weighted_mean(h: torch.Tensor, mask: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Softmax(logits) over the real positions of each row, as weights of a mean of h."""
    w = torch.softmax(logits.expand(mask.shape).masked_fill(~mask, float("-inf")), dim=1)
    return (w.unsqueeze(-1) * h).sum(1)


class PoolIntegrator(WindowIntegrator):
    def __init__(self, *, dim: int, left: int, right: int, hidden: int, layers: int, dropout: float, pooling: str):
        super().__init__(dim, left, right, hidden, dropout)
        self.pooling = pooling
        # start from weights that halve with each sentence away from the gap
        distance = torch.cat([torch.arange(left - 1, -1, -1), torch.arange(right)]).float()
        self.position_logits = nn.Parameter(-distance * math.log(2.0))
        self.head = mlp_head(4 * hidden, hidden, layers, dropout)

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """h (B, L+R, hidden) projected window, mask (B, L+R) -> logits (B,) [, None: pooling has no attention]."""
        L = self.left
        if self.pooling == "max":
            l, r = masked_max(h[:, :L], mask[:, :L]), masked_max(h[:, L:], mask[:, L:])
        else:
            p = self.position_logits[None, :]
            l = weighted_mean(h[:, :L], mask[:, :L], p[:, :L])
            r = weighted_mean(h[:, L:], mask[:, L:], p[:, L:])
        logits = self.head(torch.cat([l, r, (l - r).abs(), l * r], dim=-1)).squeeze(-1)
        return (logits, None) if return_attention else logits
