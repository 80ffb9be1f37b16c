"""The window family's data: one split's candidate gaps as windows of L:R sentence rows on the
device (the window models: pool, bilstm, transformer, attmem, and --across-gap), gathered per
batch by index.

GapSet keeps the interface of every family's set (data.SplitSet), which is all train.fit uses;
seqdata.ChunkSet and crossdata.CrossSet are the others (catalog.FAMILIES).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .data import SplitData, SplitSet
from .predict import indexed_logits
from .tokendata import model_inputs
from .windows import gap_windows


@dataclass
class GapSet(SplitSet):
    """One split's candidate gaps on the device: windows are gathered per batch by index."""

    split: SplitData
    sentence: np.ndarray          # (G,) sentence after each gap (index into the split)
    vectors: torch.Tensor         # (n_sentences + 1, D), last row zero (padding)
    index: torch.Tensor           # (G, L+R) long, -1 = padding
    targets: torch.Tensor         # (G,) float
    doc_gap_counts: list[int]


    @classmethod
    def build(cls, split: SplitData, spec: dict, device: torch.device, rows: np.ndarray | None = None) -> "GapSet":
        gs = make_gapset(split, spec["left"], spec["right"], device)
        return gs if rows is None else gs.subset(rows)

    def logits(self, model: torch.nn.Module) -> torch.Tensor:
        return indexed_logits(model, self.vectors, self.index)

    def probs(self, model: torch.nn.Module, logits: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(logits).double().cpu().numpy()

    def steps(self, batch: int) -> int:
        return max(math.ceil(len(self) / batch), 1)

    def epoch(self, model, opt, loss_fn, gen: torch.Generator, batch: int, shuffle_block: int) -> float:
        return train_epoch(model, opt, self, loss_fn, batch, shuffle_block, gen)

    def subset(self, rows: np.ndarray) -> "GapSet":
        """The gaps `rows` only (a --max-train-gaps sample; train sets only)."""
        r = torch.as_tensor(np.asarray(rows), device=self.index.device)
        return GapSet(self.split, self.sentence[np.asarray(rows)], self.vectors, self.index[r], self.targets[r],
                      self.doc_gap_counts)


def make_gapset(split: SplitData, left: int, right: int, device: torch.device) -> GapSet:
    gaps = gap_windows(split.spans, left, right)
    return GapSet(
        split=split,
        sentence=gaps.sentence,
        vectors=model_inputs(split.vectors, split.tokens, device),
        index=torch.from_numpy(gaps.index).to(device),
        targets=torch.from_numpy(split.labels[gaps.sentence].astype(np.float32)).to(device),
        doc_gap_counts=split.gap_counts,
    )


@torch.no_grad()
def score(model: torch.nn.Module, gs: GapSet, loss_fn: Callable | None = None) -> tuple[np.ndarray, float]:
    """(probabilities per gap, mean loss) with the model in eval mode (predict.indexed_logits)."""
    z = indexed_logits(model, gs.vectors, gs.index)
    loss = float(loss_fn(z, gs.targets)) if loss_fn is not None else float("nan")
    return torch.sigmoid(z).double().cpu().numpy(), loss


def block_permutation(n: int, block: int, gen: torch.Generator) -> torch.Tensor:
    """A random order of n gaps that keeps runs of `block` consecutive gaps together.

    Blocks are shuffled, gaps within a block stay in document order, so a batch holds
    batch_size / block random stretches of text whose windows share most sentences
    (Integrator.forward_indexed then projects each sentence once). block=1 is a plain
    random permutation.
    """
    if block <= 1:
        return torch.randperm(n, generator=gen)
    n_blocks = -(-n // block)
    order = (torch.randperm(n_blocks, generator=gen)[:, None] * block + torch.arange(block)[None, :]).reshape(-1)
    return order[order < n]


def train_epoch(model: torch.nn.Module, opt: Optimization, train: GapSet, loss_fn: Callable,
                batch_size: int, shuffle_block: int, gen: torch.Generator) -> float:
    """One pass over the train gaps in block-shuffled batches; returns the mean train loss."""
    model.train()
    device = train.index.device
    perm = block_permutation(len(train), shuffle_block, gen).to(device)
    total = torch.zeros((), device=device)
    for b in range(0, len(train), batch_size):
        rows = perm[b:b + batch_size]
        loss = loss_fn(model.forward_indexed(train.vectors, train.index[rows]), train.targets[rows])
        opt.update(loss, b + batch_size >= len(train))
        total += loss.detach() * len(rows)
    return float(total) / len(train)
