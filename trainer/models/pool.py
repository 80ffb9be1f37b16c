"""`pool`: left/right pooling. The left and right windows are pooled separately (masked mean
or max of the projected sentence vectors) and combined as [l, r, |l - r|, l * r] for an MLP
with `layers` hidden layers."""

from __future__ import annotations

import torch

from .common import Integrator, input_projection, masked_max, masked_mean, mlp_head


class PoolIntegrator(Integrator):
    def __init__(self, dim: int, left: int, right: int, hidden: int = 128, layers: int = 1,
                 dropout: float = 0.1, pooling: str = "mean", **_):
        super().__init__()
        self.left, self.right, self.pooling = left, right, pooling
        self.proj = input_projection(dim, hidden, dropout)
        self.head = mlp_head(4 * hidden, hidden, layers, dropout)

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """h (B, L+R, hidden) projected window, mask (B, L+R) -> logits (B,) [, None: pooling has no attention]."""
        pool = masked_max if self.pooling == "max" else masked_mean
        L = self.left
        l, r = pool(h[:, :L], mask[:, :L]), pool(h[:, L:], mask[:, L:])
        logits = self.head(torch.cat([l, r, (l - r).abs(), l * r], dim=-1)).squeeze(-1)
        return (logits, None) if return_attention else logits
