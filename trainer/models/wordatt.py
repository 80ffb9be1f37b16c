"""Word-level attention: each sentence's vector built by learned attention over its token states.

`--sentence-pooling attention` (with a `seg embed --tokens` embedding) wraps any window
integrator: for every sentence of a batch's windows, `AttentionPooling` scores each of its
cached token states with a small MLP (Yang et al. 2016's word attention: v^T tanh(W h_t + b),
one v per head), takes the softmax over the sentence's tokens per head, and concatenates the
heads' weighted means; the integrator (pool, bilstm, transformer, attmem) reads those vectors
(plus the run's --features columns) exactly as it reads cached sentence vectors.

    TokenPooled.forward_indexed(bank, index)       logits (B,) of windows `index` over a TokenBank
    TokenPooled.token_weights(bank, sentences)     per sentence its (n_tokens, heads) weights

With `top` (`seg train --finetune-layers N` on a `seg embed --tokens --layer K` embedding) the
cached states first go through layers K+1 .. K+N of the model that produced them
(models/toplayers.py), trained with the rest; `pool="mean"` then takes the plain mean of the
top layer's states over every token of the sentence (its weights are uniform: 1/n each)
instead of word attention.

The token states stay in the memory-mapped export (pipeline/token_states.py); a batch reads
only the distinct sentences of its windows (trainer/tokendata.py).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import Standardize


class AttentionPooling(nn.Module):
    def __init__(self, *, token_dim: int, heads: int, hidden: int):
        super().__init__()
        self.heads = heads
        self.norm = Standardize(token_dim)
        self.score = nn.Sequential(nn.Linear(token_dim, hidden), nn.Tanh(), nn.Linear(hidden, heads))

    def forward(self, x: torch.Tensor, seg: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Packed token states x (total, token_dim) of U sentences (seg: the sentence of each row,
        n: (U,) lengths) -> vectors (U, heads * token_dim), weights (U, T, heads) and mask (U, T),
        T the longest sentence. A sentence without tokens (padding) gets a zero vector.

        Only the real tokens go through the scorer (no padding). The token states are standardised
        (self.norm) without a standardised copy: the first scoring layer absorbs it,
        W((x - m) / s) + b = (W / s) x + (b - (W / s) m), and as a sentence's weights sum to 1 the
        weighted mean of standardised states is the standardised weighted mean."""
        U = len(n)
        T = max(int(n.max()) if U else 0, 1)
        first, rest = self.score[0], self.score[1:]
        w_in = first.weight / self.norm.std
        b_in = first.bias - w_in @ self.norm.mean
        s = rest(torch.nn.functional.linear(x, w_in, b_in))                   # (total, heads)
        pos = torch.arange(len(x), device=x.device) - (torch.cumsum(n, 0) - n)[seg]
        scores = s.new_full((U, T, self.heads), float("-inf"))
        scores[seg, pos] = s
        w = torch.softmax(scores, dim=1).nan_to_num(0.0)                       # an empty row: all -inf -> 0
        wp = w[seg, pos]                                                        # (total, heads)
        v = torch.stack([x.new_zeros(U, x.shape[1]).index_add(0, seg, x * wp[:, h:h + 1]) for h in range(self.heads)], 1)
        has = (n > 0).to(v.dtype)[:, None, None]
        v = (v - self.norm.mean) / self.norm.std * has                          # empty rows stay zero
        mask = torch.arange(T, device=x.device)[None, :] < n[:, None]
        return v.reshape(U, -1), w, mask


class MeanPooling(nn.Module):
    """The plain mean of each sentence's token states, as AttentionPooling returns it (uniform
    weights 1/n, one head); a sentence without tokens gets a zero vector."""

    heads = 1

    def __init__(self, token_dim: int):
        super().__init__()
        self.norm = Standardize(token_dim)

    def forward(self, x: torch.Tensor, seg: torch.Tensor, n: torch.Tensor):
        U = len(n)
        T = max(int(n.max()) if U else 0, 1)
        v = x.new_zeros(U, x.shape[1]).index_add(0, seg, x) / n.clamp(min=1)[:, None].to(x.dtype)
        has = (n > 0).to(v.dtype)[:, None]
        v = (v - self.norm.mean) / self.norm.std * has
        mask = torch.arange(T, device=x.device)[None, :] < n[:, None]
        w = mask.to(x.dtype) / n.clamp(min=1)[:, None].to(x.dtype)
        return v, w[:, :, None], mask


class TokenPooled(nn.Module):
    """An integrator reading attention-pooled sentence vectors (see the module docstring)."""

    def __init__(self, integrator: nn.Module, *, token_dim: int, heads: int, hidden: int, features: int, max_tokens: int,
                 pool: str = "attention", top: dict | None = None):
        super().__init__()
        self.integrator = integrator
        self.pool = (AttentionPooling(token_dim=token_dim, heads=heads, hidden=hidden) if pool == "attention"
                     else MeanPooling(token_dim))
        self.features = features
        self.max_tokens = max_tokens
        if top:
            from .toplayers import TopLayers

            self.top = TopLayers(**top)

    def load_pretrained(self) -> None:
        """The transferred layers' weights from their model (--finetune-layers); nothing otherwise."""
        if hasattr(self, "top"):
            self.top.load_pretrained()

    def transferred_parameters(self) -> list[nn.Parameter]:
        """The parameters initialised from the encoder's own (--finetune-layers, at --encoder-lr)."""
        return list(self.top.parameters()) if hasattr(self, "top") else []

    def tokens(self, bank, sentences: torch.Tensor):
        """(states, sentence, lengths) of sentence indices over a TokenBank, through the
        transferred top layers when the run has them."""
        x, seg, n = bank.tokens(sentences, self.max_tokens)
        if hasattr(self, "top"):
            x = self.top(x, seg, n)
        return x, seg, n

    def sentence_vectors(self, bank, sentences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(vectors (U, heads*token_dim + features), weights (U, T, heads), mask (U, T)) of sentence
        indices (-1 = padding) over a TokenBank."""
        v, w, mask = self.pool(*self.tokens(bank, sentences))
        if self.features:
            v = torch.cat([v, bank.features[sentences]], dim=-1)
        return v, w, mask

    @property
    def chunk(self):
        """--model seq: sentences per chunk (None for window integrators), as predict expects."""
        return getattr(self.integrator, "chunk", None)

    @property
    def crf(self):
        return getattr(self.integrator, "crf", None)

    def forward_chunks(self, bank, index: torch.Tensor) -> torch.Tensor:
        """--model seq: chunks of sentence indices (B, T), -1 = padding -> the seq model's logits."""
        uniq, inverse = torch.unique(index, return_inverse=True)
        v, _, _ = self.sentence_vectors(bank, uniq)
        return self.integrator(v[inverse], index >= 0)

    def forward_indexed(self, bank, index: torch.Tensor, return_attention: bool = False):
        uniq, inverse = torch.unique(index, return_inverse=True)
        v, _, _ = self.sentence_vectors(bank, uniq)
        h = self.integrator.proj(v)
        return self.integrator.integrate(h[inverse], index >= 0, return_attention)

    @torch.no_grad()
    def set_input_stats(self, bank, sample: int = 4096) -> None:
        """Standardise token states with the mean and std of (a seeded sample of) the train
        sentences' tokens, then the integrator's inputs with those of the sentence vectors the
        untrained pooling gives on the sample (it rescales them as training goes on)."""
        n = len(bank)
        g = torch.Generator().manual_seed(0)
        rows = torch.randperm(n, generator=g)[:sample].sort().values.to(bank.device)
        was = self.training
        self.eval()   # the transferred layers' dropout off: the statistics of what they give
        step = 512 if hasattr(self, "top") else len(rows) or 1
        self.pool.norm.fit(torch.cat([self.tokens(bank, rows[a:a + step])[0] for a in range(0, len(rows), step)]))
        v = torch.cat([self.sentence_vectors(bank, rows[a:a + step])[0] for a in range(0, len(rows), step)])
        self.integrator.set_input_stats(v)
        self.train(was)

    @torch.no_grad()
    def token_weights(self, bank, sentences) -> list:
        """Per sentence (in order) its token weights (n_tokens, heads) as a numpy array."""
        idx = torch.as_tensor(sentences, dtype=torch.long, device=bank.device)
        out = []
        for a in range(0, len(idx), 512):
            _, w, mask = self.sentence_vectors(bank, idx[a:a + 512])
            n = mask.sum(1).tolist()
            out += [w[r, :k].float().cpu().numpy() for r, k in enumerate(n)]
        return out

    def attention_labels(self):
        return getattr(self.integrator, "attention_labels", lambda: None)()
