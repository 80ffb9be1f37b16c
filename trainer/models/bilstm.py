"""`bilstm`: a bidirectional LSTM over the window's sentence vectors, read out at the gap.

Only the document's own sentences enter the LSTM: each window's valid block is shifted to
the front and packed, so padding never touches the recurrent state. The read-out is the
concatenation of the bidirectional states at the last sentence before the gap (position
L-1) and the first one after it (position L). `layers` stacks LSTM layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .common import Integrator, input_projection, mlp_head


class BiLSTMIntegrator(Integrator):
    def __init__(self, dim: int, left: int, right: int, hidden: int = 128, layers: int = 1,
                 dropout: float = 0.1, **_):
        super().__init__()
        self.left, self.right = left, right
        self.proj = input_projection(dim, hidden, dropout)
        self.lstm = nn.LSTM(hidden, hidden // 2, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        out = 2 * (hidden // 2)
        self.head = mlp_head(2 * out, hidden, 1, dropout)

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """h (B, L+R, hidden) projected window, mask (B, L+R) -> logits (B,) [, None: no attention]."""
        B, T, _ = h.shape
        pad_left = (~mask[:, : self.left]).sum(1)                 # padding before the document starts
        lengths = mask.sum(1)
        pos = torch.arange(T, device=h.device)[None, :]
        shift = (pos + pad_left[:, None]).clamp(max=T - 1)
        h = h.gather(1, shift[:, :, None].expand(-1, -1, h.shape[-1]))
        packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        rows = torch.arange(B, device=h.device)
        before = out[rows, self.left - 1 - pad_left]
        after = out[rows, self.left - pad_left]
        logits = self.head(torch.cat([before, after], dim=-1)).squeeze(-1)
        return (logits, None) if return_attention else logits
