"""Chunks of whole documents for `--model seq`: index arithmetic over one vector tensor.

Each document of n sentences is cut into chunks of `chunk` consecutive sentences that
overlap by half (starts 0, chunk/2, chunk, ..., and a last one ending at the document's
end); a document shorter than `chunk` is one chunk padded with -1. A chunk scores the gaps
before its sentences 1 .. len-1. Training uses every gap of every chunk (a gap in two chunks
counts twice); scoring keeps, for each gap, the chunk in which it sits nearest the middle,
so at inference every gap sees at least chunk/4 sentences on each side or its document's
edge. Gaps come out in the order of trainer.windows.gap_windows: document order, gaps
1 .. n-1 within each document — the order of every other model's probabilities.

Training reads each document once per epoch in chunks that do not overlap, cut at a random
offset drawn anew every epoch (`train_chunks`): half the work of the overlapping chunks, and
every gap sits at a different place in its chunk from one epoch to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import SplitSet, gap_counts
from .tokendata import TokenBank, model_inputs
from .windows import gap_windows


@dataclass
class Chunks:
    index: np.ndarray        # (C, T) sentence index per chunk position, -1 = padding
    gap_pos: np.ndarray      # (C, T-1) position (in gap order) of the gap before chunk sentence t+1, -1 = none
    keep: np.ndarray         # (C, T-1) bool: the chunk that scores this gap at inference
    n_gaps: int


def make_chunks(spans: list[tuple[int, int]], chunk: int, pos_of: np.ndarray | None = None) -> Chunks:
    """Chunks of documents given as (start, end) ranges over the sentence array
    (`pos_of`: their gap_positions, computed here when not given)."""
    if chunk < 2:
        raise ValueError("a chunk needs at least 2 sentences")
    pos_of = gap_positions(spans) if pos_of is None else pos_of
    n_sent = len(pos_of) - 1
    n_gaps = int((pos_of >= 0).sum())
    stride = max(chunk // 2, 1)
    rows = []
    for s, e in spans:
        n = e - s
        if n < 2:
            continue
        if n <= chunk:
            starts = [0]
        else:
            starts = list(range(0, n - chunk, stride)) + [n - chunk]
        for st in starts:
            rows.append((s + st, min(s + st + chunk, e)))
    C = len(rows)
    index = np.full((C, chunk), -1, dtype=np.int64)
    for c, (a, b) in enumerate(rows):
        index[c, : b - a] = np.arange(a, b)
    after = index[:, 1:]                                         # sentence after each chunk gap
    gap_pos = np.where(after >= 0, pos_of[np.where(after >= 0, after, n_sent)], -1)
    lengths = (index >= 0).sum(1)
    t = np.arange(1, chunk)[None, :]
    central = np.minimum(t, lengths[:, None] - t)                # sentences on the shorter side
    central = np.where(gap_pos >= 0, central, -1)
    best = np.full(n_gaps, -1, dtype=np.int64)
    flat_pos, flat_c = gap_pos.reshape(-1), central.reshape(-1)
    valid = flat_pos >= 0
    np.maximum.at(best, flat_pos[valid], flat_c[valid])
    keep = np.zeros_like(gap_pos, dtype=bool)
    claimed = np.zeros(n_gaps, dtype=bool)
    for c in range(C):                                           # first chunk with the best centrality wins
        g = gap_pos[c]
        ok = (g >= 0) & (central[c] == best[np.where(g >= 0, g, 0)]) & ~claimed[np.where(g >= 0, g, 0)]
        keep[c] = ok
        claimed[g[ok]] = True
    assert claimed.all(), "every gap must be scored by one chunk"
    return Chunks(index, gap_pos, keep, n_gaps)


def gap_positions(spans: list[tuple[int, int]]) -> np.ndarray:
    """sentence index -> position of the gap before it in gap order (-1: a document's first sentence)."""
    gap_sentence = gap_windows(spans, 1, 1).sentence
    n_sent = max((e for _, e in spans), default=0)
    pos_of = np.full(n_sent + 1, -1, dtype=np.int64)
    pos_of[gap_sentence] = np.arange(len(gap_sentence))
    return pos_of


def train_chunks(spans: list[tuple[int, int]], chunk: int, pos_of: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(index (C, T), gap_pos (C, T-1)) of non-overlapping chunks cut at a random offset per document."""
    rows = []
    for s, e in spans:
        n = e - s
        if n < 2:
            continue
        off = int(rng.integers(0, min(chunk, n))) if n > chunk else 0
        cuts = [0] + list(range(off, n, chunk)) if off else list(range(0, n, chunk))
        for a, b in zip(cuts, cuts[1:] + [n]):
            if b - a >= 2:
                rows.append((s + a, s + b))
    index = np.full((len(rows), chunk), -1, dtype=np.int64)
    for c, (a, b) in enumerate(rows):
        index[c, : b - a] = np.arange(a, b)
    after = index[:, 1:]
    gap_pos = np.where(after >= 0, pos_of[np.where(after >= 0, after, len(pos_of) - 1)], -1)
    return index, gap_pos


@dataclass
class ChunkSet(SplitSet):
    """One split's chunks on the device (the seq counterpart of train.GapSet)."""

    split: object                 # data.SplitData
    sentence: np.ndarray          # (G,) sentence after each gap, gap order
    vectors: torch.Tensor         # (n_sentences + 1, D), last row zero
    index: torch.Tensor           # (C, T) long
    gap_pos: torch.Tensor         # (C, T-1) long
    keep: torch.Tensor            # (C, T-1) bool
    targets: torch.Tensor         # (G,) float, gap order
    doc_gap_counts: list[int]
    spans: list[tuple[int, int]]
    pos_of: np.ndarray            # sentence -> gap position (gap_positions)


    # the set interface of every family (data.SplitSet)
    @classmethod
    def build(cls, split, spec: dict, device: torch.device, rows: np.ndarray | None = None) -> "ChunkSet":
        if rows is not None:
            raise ValueError("--model seq trains on whole documents and takes no sample of gaps")
        return make_chunkset(split, spec["chunk"], device)

    def logits(self, model) -> torch.Tensor:
        return seq_logits(model, self)

    def probs(self, model, logits: torch.Tensor) -> np.ndarray:
        return seq_probs(model, self, logits)

    def steps(self, batch: int) -> int:
        chunk = self.index.shape[1]
        return max(math.ceil(len(self) / max(chunk - 1, 1) / chunks_per_batch(batch, chunk)), 1)

    def epoch(self, model, opt, loss_fn, gen: torch.Generator, batch: int, shuffle_block: int) -> float:
        return train_epoch_seq(model, opt, self, loss_fn, chunks_per_batch(batch, self.index.shape[1]), gen)


def chunks_per_batch(batch: int, chunk: int) -> int:
    """--batch-size counts gaps; a seq batch holds that many gaps in whole chunks (at least one)."""
    return max(1, round(batch / max(chunk - 1, 1)))


def make_chunkset(split, chunk: int, device: torch.device) -> ChunkSet:
    pos_of = gap_positions(split.spans)
    ch = make_chunks(split.spans, chunk, pos_of)
    sentence = gap_windows(split.spans, 1, 1).sentence
    return ChunkSet(
        split=split, sentence=sentence,
        vectors=model_inputs(split.vectors, getattr(split, "tokens", None), device),
        index=torch.from_numpy(ch.index).to(device),
        gap_pos=torch.from_numpy(ch.gap_pos).to(device),
        keep=torch.from_numpy(ch.keep).to(device),
        targets=torch.from_numpy(split.labels[sentence].astype(np.float32)).to(device),
        doc_gap_counts=gap_counts(split.spans),
        spans=list(split.spans), pos_of=pos_of,
    )


def chunk_logits(model, cs: ChunkSet, rows: torch.Tensor, index: torch.Tensor | None = None,
                 gap_pos: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (b, T-1), gap mask (b, T-1)) of the chunks `rows` (of `index`, default the scoring chunks)."""
    index = cs.index if index is None else index
    gap_pos = cs.gap_pos if gap_pos is None else gap_pos
    idx = index[rows]
    if isinstance(cs.vectors, TokenBank):      # --sentence-pooling attention: sentence vectors pooled per batch
        return model.forward_chunks(cs.vectors, idx), gap_pos[rows] >= 0
    z = model(cs.vectors[idx], idx >= 0)
    return z, gap_pos[rows] >= 0


def train_epoch_seq(model, opt, cs: ChunkSet, loss_fn, chunks_per_batch: int, gen: torch.Generator) -> float:
    """One pass over every document in non-overlapping chunks at a random offset, in random
    order; returns the mean loss per gap."""
    model.train()
    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    device = cs.index.device
    index, gap_pos = (torch.from_numpy(a).to(device) for a in train_chunks(cs.spans, cs.index.shape[1], cs.pos_of, rng))
    perm = torch.randperm(len(index), generator=gen).to(device)
    total, count = 0.0, 0
    for b in range(0, len(perm), chunks_per_batch):
        rows = perm[b:b + chunks_per_batch]
        z, gmask = chunk_logits(model, cs, rows, index, gap_pos)
        y = cs.targets[gap_pos[rows].clamp(min=0)]
        loss = loss_fn(z[gmask], y[gmask])
        if model.crf is not None:
            loss = loss + model.crf.nll(z, y, gmask) / gmask.sum(1).float().mean().clamp(min=1)
        opt.update(loss, b + chunks_per_batch >= len(perm))   # train.Optimization
        n = int(gmask.sum())
        total += float(loss.detach()) * n
        count += n
    return total / max(count, 1)


@torch.no_grad()
def seq_logits(model, cs: ChunkSet, batch: int = 256) -> torch.Tensor:
    """(G,) logit of every gap, each from the chunk that keeps it."""
    model.eval()
    out = torch.zeros(len(cs), device=cs.vectors.device)
    for b in range(0, len(cs.index), batch):
        rows = torch.arange(b, min(b + batch, len(cs.index)), device=cs.index.device)
        z, _ = chunk_logits(model, cs, rows)
        keep = cs.keep[rows]
        out[cs.gap_pos[rows][keep]] = z[keep].float()
    return out


def seq_probs(model, cs: ChunkSet, logits: torch.Tensor | None = None) -> np.ndarray:
    """P(break) per gap: sigmoid of the logits, or the CRF marginals over each document."""
    z = seq_logits(model, cs) if logits is None else logits
    if model.crf is None:
        return torch.sigmoid(z).double().cpu().numpy()
    from .models.crf import crf_marginals, per_document
    return per_document(crf_marginals, z.double().cpu().numpy(), cs.doc_gap_counts, model.crf.numpy_transitions())
