"""`transformer`: a Transformer encoder over [CLS] + left window + [SEP] + right window.

[CLS] and [SEP] are learned vectors; [SEP] is the boundary marker placed at the gap.
Fixed sinusoidal positions are added to every token. Padding (window positions outside the
document) is masked as attention keys. `layers` encoder layers (pre-norm), `heads` heads.
Read-out (`pooling`): the [CLS] state, the [SEP] state, or the masked mean of the sentence
states. With return_attention=True the forward also returns the last layer's attention
weights (B, heads, T, T), T = L + R + 2, one map per head (rows attend over columns);
`attention_labels()` names the T positions.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import AttentionBlock, WindowIntegrator, masked_mean, mlp_head, sinusoidal, window_labels


class EncoderLayer(AttentionBlock):
    """Pre-norm self-attention + feed-forward block whose attention weights can be returned."""

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor, need_weights: bool = False):
        y = self.norm1(x)
        a, w = self.attend(y, y, key_padding_mask, need_weights)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm2(x)))
        return x, w


class TransformerIntegrator(WindowIntegrator):
    def __init__(self, *, dim: int, left: int, right: int, hidden: int, layers: int, heads: int, dropout: float,
                 pooling: str):
        super().__init__(dim, left, right, hidden, dropout)
        self.pooling = pooling
        self.cls = nn.Parameter(torch.randn(hidden) * 0.02)
        self.sep = nn.Parameter(torch.randn(hidden) * 0.02)
        self.register_buffer("positions", sinusoidal(left + right + 2, hidden), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = mlp_head(hidden, hidden, 1, dropout)

    def attention_labels(self) -> list[str]:
        w = window_labels(self.left, self.right)
        return ["[CLS]", *w[: self.left], "[SEP]", *w[self.left:]]

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """h (B, L+R, hidden) projected window, mask (B, L+R) -> logits (B,) [, attention (B, heads, T, T)]."""
        B = h.shape[0]
        L = self.left
        cls = self.cls.expand(B, 1, -1)
        sep = self.sep.expand(B, 1, -1)
        seq = torch.cat([cls, h[:, :L], sep, h[:, L:]], dim=1) + self.positions
        one = mask.new_ones(B, 1)
        valid = torch.cat([one, mask[:, :L], one, mask[:, L:]], dim=1)
        attn = None
        for k, layer in enumerate(self.layers):
            seq, w = layer(seq, ~valid, need_weights=return_attention and k == len(self.layers) - 1)
            attn = w if w is not None else attn
        seq = self.norm(seq)
        if self.pooling == "sep":
            z = seq[:, L + 1]
        elif self.pooling == "mean":
            z = masked_mean(torch.cat([seq[:, 1:L + 1], seq[:, L + 2:]], dim=1), mask)
        else:
            z = seq[:, 0]
        logits = self.head(z).squeeze(-1)
        return (logits, attn) if return_attention else logits
