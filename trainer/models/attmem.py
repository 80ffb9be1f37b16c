"""`attmem`: an attention-memory network in the style of SECTOR (Arnold et al. 2019).

A query built from the two sentences at the gap (i-1 and i) attends, with `heads` heads,
over the window's sentences (with learned position embeddings, padding masked) plus
`memory_size` learned memory slots shared by all gaps (0 = none). `layers` = attention
hops: each hop refines the query with a residual update. The final query feeds an MLP.
With return_attention=True the forward also returns the last hop's attention weights
(B, heads, L+R+M), one distribution per head over window positions then memory slots;
`attention_labels()` names them.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import AttentionBlock, WindowIntegrator, mlp_head, window_labels


class Hop(AttentionBlock):
    """One attention hop: the query attends over the window and the memory (post-norm)."""

    def forward(self, q, keys, key_padding_mask, need_weights: bool = False):
        a, w = self.attend(q, keys, key_padding_mask, need_weights)
        q = self.norm1(q + self.drop(a))
        q = self.norm2(q + self.drop(self.ff(q)))
        return q, w


class AttentionMemoryIntegrator(WindowIntegrator):
    def __init__(self, *, dim: int, left: int, right: int, hidden: int, layers: int, heads: int, memory_size: int,
                 dropout: float):
        super().__init__(dim, left, right, hidden, dropout)
        self.position = nn.Parameter(torch.randn(left + right, hidden) * 0.02)
        self.memory_size = memory_size
        self.memory = nn.Parameter(torch.randn(memory_size, hidden) * 0.02) if memory_size else None
        self.query = nn.Linear(2 * hidden, hidden)
        self.hops = nn.ModuleList(Hop(hidden, heads, dropout) for _ in range(layers))
        self.head = mlp_head(hidden, hidden, 1, dropout)

    def attention_labels(self) -> list[str]:
        return window_labels(self.left, self.right) + [f"m{k}" for k in range(self.memory_size)]

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """h (B, L+R, hidden) projected window, mask (B, L+R) -> logits (B,) [, attention (B, heads, L+R+M)]."""
        B = h.shape[0]
        L = self.left
        h = h + self.position
        q = self.query(torch.cat([h[:, L - 1], h[:, L]], dim=-1)).unsqueeze(1)
        keys, pad = h, ~mask
        if self.memory is not None:
            keys = torch.cat([h, self.memory.expand(B, -1, -1)], dim=1)
            pad = torch.cat([pad, pad.new_zeros(B, self.memory_size)], dim=1)
        attn = None
        for k, hop in enumerate(self.hops):
            q, w = hop(q, keys, pad, need_weights=return_attention and k == len(self.hops) - 1)
            attn = w if w is not None else attn
        logits = self.head(q.squeeze(1)).squeeze(-1)
        return (logits, attn.squeeze(2) if attn is not None else None) if return_attention else logits
