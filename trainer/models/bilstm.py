"""`bilstm`: a bidirectional LSTM over the window's sentence vectors, read out at the gap.

Only the document's own sentences enter the LSTM. Instead of packing, each direction runs
a plain unidirectional LSTM over an aligned copy of the window: the forward LSTM over the
valid block shifted to the front, the backward LSTM over the valid block reversed from its
last sentence. Each direction's state at a real sentence has then seen real sentences only
(padding comes after, and an LSTM does not look ahead); the states are mapped back to
window positions. The read-out is the concatenation of the bidirectional states at the last
sentence before the gap (position L-1) and the first one after it (position L). `layers`
stacks bidirectional layers (dropout between them).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import WindowIntegrator, mlp_head


def _take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, T, H), idx (B, T) -> x[b, idx[b, t]]."""
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[-1]))


class BiLSTMIntegrator(WindowIntegrator):
    def __init__(self, *, dim: int, left: int, right: int, hidden: int, layers: int, dropout: float):
        super().__init__(dim, left, right, hidden, dropout)
        half = hidden // 2
        self.forward_lstms = nn.ModuleList(nn.LSTM(hidden if k == 0 else 2 * half, half, batch_first=True) for k in range(layers))
        self.backward_lstms = nn.ModuleList(nn.LSTM(hidden if k == 0 else 2 * half, half, batch_first=True) for k in range(layers))
        self.drop = nn.Dropout(dropout)
        self.head = mlp_head(4 * half, hidden, 1, dropout)

    def integrate(self, h: torch.Tensor, mask: torch.Tensor, return_attention: bool = False):
        """h (B, L+R, hidden) projected window, mask (B, L+R) -> logits (B,) [, None: no attention]."""
        B, T, _ = h.shape
        pad_left = (~mask[:, : self.left]).sum(1, keepdim=True)     # padding before the document starts
        last = T - 1 - (~mask[:, self.left:]).sum(1, keepdim=True)  # last real position
        pos = torch.arange(T, device=h.device)[None, :]
        fw_in = (pos + pad_left).clamp(max=T - 1)       # forward: real block first
        bw_in = (last - pos).clamp(min=0)               # backward: real block reversed, first
        fw_out = (pos - pad_left).clamp(0, T - 1)       # window position -> step of each direction
        bw_out = (last - pos).clamp(0, T - 1)
        x = h
        for k, (fw, bw) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if k:
                x = self.drop(x)
            of, _ = fw(_take(x, fw_in))
            ob, _ = bw(_take(x, bw_in))
            x = torch.cat([_take(of, fw_out), _take(ob, bw_out)], dim=-1)
        logits = self.head(torch.cat([x[:, self.left - 1], x[:, self.left]], dim=-1)).squeeze(-1)
        return (logits, None) if return_attention else logits
