"""Pieces shared by the integrators: the classifier head, positions, window readout."""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp_head(in_dim: int, hidden: int, layers: int = 1, dropout: float = 0.1) -> nn.Sequential:
    """`layers` hidden Linear+GELU+Dropout blocks, then one logit."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(max(layers, 1)):
        mods += [nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout)]
        d = hidden
    mods.append(nn.Linear(d, 1))
    return nn.Sequential(*mods)


class Standardize(nn.Module):
    """(x - mean) / std per dimension, with the train split's statistics as saved buffers.

    Sentence encoders give vectors that are nearly parallel (e5's cosine similarities sit
    around 0.8) with tiny per-dimension spread; standardising them makes the first epochs
    learn instead of idling at the class prior. The statistics are set once from the train
    vectors (Integrator.set_input_stats) and travel in the state_dict.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    @torch.no_grad()
    def fit(self, vectors: torch.Tensor) -> None:
        """Take the mean and std of these (train) sentence vectors (std 1 where it is ~0)."""
        std = vectors.std(0)
        self.mean.copy_(vectors.mean(0))
        self.std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))


def input_projection(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Encoder dimension -> hidden, applied to each sentence vector of the window.

    No dropout on the raw encoder vectors: drawing a mask over D-dim inputs costs more than
    the projection itself on a small CPU; dropout acts on the projected vectors instead.
    """
    return nn.Sequential(Standardize(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout))


class Integrator(nn.Module):
    """Base of every model: `proj` maps each sentence vector to `hidden`, `integrate` reads
    a window of projected vectors.

    forward(x, mask) gathers nothing: x is the window tensor. forward_indexed(vectors, index)
    is the same computation on a window *index* (-1 = padding, the last row of `vectors`
    being the zero padding vector) that projects each distinct sentence of the batch once:
    neighbouring gaps share L+R-1 sentences, so a batch of contiguous gaps projects about
    a quarter as many vectors as forward() on the gathered windows.
    """

    proj: nn.Module

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        raise NotImplementedError

    def set_input_stats(self, vectors: torch.Tensor) -> None:
        """Standardise inputs with the mean and std of these (train) sentence vectors."""
        self.proj[0].fit(vectors)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """x (B, L+R, D), mask (B, L+R) bool -> logits (B,) [, attention or None]."""
        return self.integrate(self.proj(x), mask, return_attention)

    def forward_indexed(self, vectors: torch.Tensor, index: torch.Tensor, return_attention: bool = False):
        """vectors (N+1, D) with a zero last row, index (B, L+R) long -> as forward()."""
        uniq, inverse = torch.unique(index, return_inverse=True)
        h = self.proj(vectors[uniq])
        return self.integrate(h[inverse], index >= 0, return_attention)


class AttentionBlock(nn.Module):
    """The modules of a transformer block: multi-head attention and a feed-forward layer (2x
    wide, GELU), each with a LayerNorm, and dropout. Subclasses order them (pre- or post-norm)."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def attend(self, q: torch.Tensor, kv: torch.Tensor, key_padding_mask: torch.Tensor, need_weights: bool):
        """(output, per-head weights or None) of q attending over kv."""
        return self.attn(q, kv, kv, key_padding_mask=key_padding_mask, need_weights=need_weights,
                         average_attn_weights=False)


class WindowIntegrator(Integrator):
    """An integrator over the window of `left` sentences before each gap and `right` from it
    on: the input projection of every window model, built here."""

    def __init__(self, dim: int, left: int, right: int, hidden: int, dropout: float):
        super().__init__()
        self.left, self.right = left, right
        self.proj = input_projection(dim, hidden, dropout)


def sinusoidal(length: int, dim: int) -> torch.Tensor:
    """(length, dim) fixed sinusoidal position encodings (Vaswani et al. 2017)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


def window_labels(left: int, right: int) -> list[str]:
    """Names of window positions relative to the gap before sentence i: i-L .. i+R-1."""
    return [f"i{k:+d}" if k else "i" for k in range(-left, right)]


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def masked_max(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values
