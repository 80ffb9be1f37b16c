"""`seq`: a document-level model that reads long runs of sentences and labels every gap jointly.

Where the window integrators see L+R sentences around one gap, `seq` reads a chunk of up to
`chunk` consecutive sentences of one document (Koshorek et al. 2018's hierarchical model,
on cached sentence vectors) and scores each gap inside it from the contextual states of
the sentences on both sides:

    sentence vectors (B, T, D) -> Standardize -> Linear -> GELU -> dropout    (B, T, H)
      -> arch bilstm:      a bidirectional LSTM over the chunk (`layers` layers; each direction a
                           plain LSTM, the backward one over the chunk reversed within its length)
         arch transformer: `layers` pre-norm encoder layers with sinusoidal positions
      -> gap t (between sentences t-1 and t): MLP([h_{t-1}; h_t])  -> logit   (B, T-1)
      -> optional CRF over neighbouring gaps (models/crf.py, --decode crf)

Chunks (seqdata.py) overlap by half, so every gap is scored where it sits nearest the
middle of a chunk: it sees at least chunk/4 sentences on each side, or the document's edge.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import input_projection, mlp_head, sinusoidal
from .crf import BinaryCRF


class SeqModel(nn.Module):
    def __init__(self, *, dim: int, hidden: int, layers: int, heads: int, dropout: float, arch: str,
                 chunk: int, crf: bool):
        super().__init__()
        self.arch, self.chunk = arch, chunk
        self.proj = input_projection(dim, hidden, dropout)
        if arch == "bilstm":
            half = hidden // 2
            self.forward_lstms = nn.ModuleList(nn.LSTM(hidden if k == 0 else 2 * half, half, batch_first=True)
                                               for k in range(layers))
            self.backward_lstms = nn.ModuleList(nn.LSTM(hidden if k == 0 else 2 * half, half, batch_first=True)
                                                for k in range(layers))
            out = 2 * half
        elif arch == "transformer":
            layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.register_buffer("positions", sinusoidal(chunk, hidden), persistent=False)
            self.norm = nn.LayerNorm(hidden)
            out = hidden
        else:
            raise ValueError(f"unknown seq arch {arch!r}")
        self.drop = nn.Dropout(dropout)
        self.head = mlp_head(2 * out, hidden, 1, dropout)
        self.crf = BinaryCRF() if crf else None

    def set_input_stats(self, vectors: torch.Tensor) -> None:
        """Standardise inputs with the mean and std of these (train) sentence vectors."""
        self.proj[0].fit(vectors)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) sentence vectors, mask (B, T) True on real sentences (real ones first)
        -> logits (B, T-1) of the gaps before sentences 1 .. T-1 (meaningless where masked)."""
        h = self.proj(x)
        if self.arch == "bilstm":
            # real sentences come first, padding after: the forward LSTM never reaches padding
            # before a real sentence; the backward one runs over each row reversed within its
            # own length (padding stays at the end), then is flipped back. No packing needed.
            T = h.shape[1]
            n = mask.sum(1, keepdim=True)
            pos = torch.arange(T, device=h.device)[None, :]
            rev = torch.where(pos < n, n - 1 - pos, pos)[:, :, None].expand(-1, -1, h.shape[-1])
            for k, (fw, bw) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
                if k:
                    h = self.drop(h)
                of, _ = fw(h)
                ob, _ = bw(h.gather(1, rev[:, :, : h.shape[-1]]))
                ob = ob.gather(1, rev[:, :, : ob.shape[-1]])
                h = torch.cat([of, ob], dim=-1)
        else:
            h = h + self.positions[: h.shape[1]]
            h = self.norm(self.encoder(h, src_key_padding_mask=~mask))
        h = self.drop(h)
        return self.head(torch.cat([h[:, :-1], h[:, 1:]], dim=-1)).squeeze(-1)
