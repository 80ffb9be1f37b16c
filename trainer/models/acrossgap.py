"""`--finetune-layers N --across-gap`: the transferred top layers read the window across the gap.

The states are those `seg embed --tokens --layer K` cached per sentence (every token the model
saw: [CLS]/<s>, the prompt's tokens, the sentence's, [SEP]/</s>). For a gap with L sentences
before it and R from it on, one sequence is built from them, in the model's pair template:

    [CLS] left sentences' own tokens [SEP] right sentences' own tokens [SEP]

[CLS] and the middle [SEP] are the cached states of those tokens of the sentence before the
gap, the last [SEP] that of the sentence after it; every other special or prompt token is
dropped (they are the rows whose span is (0, 0); a sentence's own word-start marker at its first
character, rare, goes with them). Sentences are added outward from the gap while they fit whole
in max_length - 3 tokens, the two at the gap cut at their far ends when they alone do not fit
(trainer.crossdata.fit_pair, as crossseg truncates). Layers K+1 .. K+N (models/toplayers.py)
then run over the sequence with its attention mask, so the tokens on either side of the gap
attend to each other; the [CLS] state (--pooling cls) or the mean over the sequence (mean),
beside the --features columns of the window's sentences, feeds an MLP head: one logit per gap.

Positions: position embeddings were added once, before layer 1, when each sentence was encoded
alone, so every token keeps the position it had in its own sentence's input (the left and right
sentences all count from 0); nothing is added here. The layers below K never saw the other
sentences: only layers K+1 .. K+N look across the gap.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..crossdata import fit_pair
from .common import masked_mean, mlp_head
from .toplayers import TopLayers, group_size


class AcrossGapModel(nn.Module):
    def __init__(self, *, top: dict, left: int, right: int, pooling: str, hidden: int, layers: int, dropout: float,
                 features: int, max_length: int):
        super().__init__()
        self.top = TopLayers(**top)
        self.left, self.right, self.pooling = int(left), int(right), pooling
        self.features, self.max_length = int(features), int(max_length)
        self.head = mlp_head(self.top.hidden + self.features * (self.left + self.right), hidden, layers, dropout)

    def load_pretrained(self) -> None:
        self.top.load_pretrained()

    def transferred_parameters(self) -> list[nn.Parameter]:
        return list(self.top.parameters())

    def set_input_stats(self, bank) -> None:
        """Nothing to fit: the pretrained layers read the states as the model computed them."""

    def sequences(self, bank, index: torch.Tensor) -> tuple[torch.Tensor, list[np.ndarray]]:
        """The packed states of the window's sentences and, per gap, the rows of its sequence."""
        uniq, inverse = torch.unique(index, return_inverse=True)
        x, _, n = bank.tokens(uniq, 0)
        spans = bank.states.batch_spans(uniq.cpu().numpy(), 0)
        own = ~((spans[:, 0] == 0) & (spans[:, 1] == 0))
        n = n.cpu().numpy()
        start = np.cumsum(n) - n
        mine = [start[u] + np.flatnonzero(own[start[u]:start[u] + n[u]]) for u in range(len(n))]
        inv = inverse.cpu().numpy()
        valid = index.cpu().numpy() >= 0
        L = self.left
        seqs = []
        for b in range(len(inv)):
            before = [u for u, ok in zip(inv[b, :L], valid[b, :L]) if ok]
            after = [u for u, ok in zip(inv[b, L:], valid[b, L:]) if ok]
            a, c = fit_pair([list(mine[u]) for u in before], [list(mine[u]) for u in after], self.max_length - 3)
            g, h = before[-1], after[0]
            seqs.append(np.asarray([start[g], *a, start[g] + n[g] - 1, *c, start[h] + n[h] - 1], dtype=np.int64))
        return x, seqs

    def forward_indexed(self, bank, index: torch.Tensor, return_attention: bool = False):
        """Logits (B,) of the gaps whose windows are `index` (B, L+R) over a TokenBank."""
        x, seqs = self.sequences(bank, index)
        lengths = np.asarray([len(s) for s in seqs])
        order = np.argsort(lengths, kind="stable")
        pooled = x.new_zeros(len(seqs), self.top.hidden)
        size = group_size(x.device)
        for g in range(0, len(order), size):          # groups of similar length: little padding
            rows = order[g:g + size]
            T = int(lengths[rows].max())
            gather = np.full((len(rows), T), -1, dtype=np.int64)
            for j, r in enumerate(rows):
                gather[j, :lengths[r]] = seqs[r]
            gi = torch.from_numpy(gather).to(x.device)
            mask = gi >= 0
            h = x[gi.clamp(min=0)] * mask[..., None]
            out = self.top.padded(h, mask)
            p = out[:, 0] if self.pooling == "cls" else masked_mean(out, mask)
            pooled = pooled.index_copy(0, torch.from_numpy(rows).to(x.device), p.to(pooled.dtype))
        if self.features:
            pooled = torch.cat([pooled, bank.features[index].reshape(len(index), -1)], dim=-1)
        logits = self.head(pooled).squeeze(-1)
        return (logits, None) if return_attention else logits
