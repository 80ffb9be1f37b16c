"""One split as the trainer sees it: cached vectors, labels, texts and document ranges.

The trainer reads sentence vectors only from the cache written by `seg embed`
(pipeline/vectors.py); it never runs an encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.dataset import SPLITS, load_split
from pipeline.errors import SegError

from .features import with_features


def gap_counts(spans) -> list[int]:
    """Candidate gaps per document of (start, end) sentence ranges: one fewer than its sentences."""
    return [max(e - s - 1, 0) for s, e in spans]


class SplitSet:
    """A split as a model family reads it on the device (windowdata.GapSet, seqdata.ChunkSet,
    crossdata.CrossSet; catalog.FAMILIES): the one interface train.fit uses. Subclasses are
    dataclasses with at least `split`, `sentence` (the sentence after each gap), `targets` and
    `doc_gap_counts`, and define build, logits, probs, steps and epoch."""

    def __len__(self) -> int:
        return len(self.sentence)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.split.labels)[self.sentence]

    # build(split, spec, device, rows=None) (classmethod)   the split's set for a model spec (rows: a train sample)
    # logits(model) -> (G,) tensor                          logit per gap, in gap order, eval mode
    # probs(model, logits) -> (G,) numpy                    P(break) per gap
    # steps(batch) -> int                                   optimizer batches per epoch at `batch` gaps per step
    # epoch(model, opt, loss_fn, gen, batch, shuffle_block) one training pass; its mean loss


@dataclass
class SplitData:
    name: str
    vectors: np.ndarray                  # (n_sentences, dim) float32
    labels: np.ndarray                   # (n_sentences,) int64, 1 = sentence starts a paragraph
    texts: list[str]
    docs: list[str]                      # document id per sentence
    index: list[int]                     # sentence index within its document
    ranges: list[tuple[str, int, int]]   # (doc, start, end) per document
    tokens: object = None                # a --tokens embedding: TokenStates (memory-mapped); vectors then hold only --features columns
    token_model: dict | None = None      # a --tokens --layer K embedding: the manifest's "transformer" (the model, K, its depth)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [(s, e) for _, s, e in self.ranges]

    @property
    def gap_counts(self) -> list[int]:
        return gap_counts(self.spans)

    def with_labels(self, labels: np.ndarray) -> "SplitData":
        """A copy with other labels (tests use it to show test labels never steer selection)."""
        return SplitData(self.name, self.vectors, np.asarray(labels, dtype=np.int64), self.texts,
                         self.docs, self.index, self.ranges, self.tokens, self.token_model)

    @property
    def token_dim(self) -> int | None:
        return None if self.tokens is None else self.tokens.dim


def load_data(dataset: Path, encoder: str, features: str | None = None, splits=SPLITS) -> tuple[dict[str, SplitData], dict]:
    """Every split of `dataset` with its cached `encoder` vectors, and the embedding manifest.

    `features` (see features.py) appends surface-feature columns to every vector.

    Raises SegError when a split holds no candidate gap, when `encoder` names no embedding
    of the dataset (naming the `seg embed` command), or when the vectors do not line up.
    """
    from pipeline.encoders import ENCODERS
    from pipeline.vectors import available, embedding_info, load_split_vectors

    dataset = Path(dataset)
    loaded = _load_splits(dataset, splits)
    have = available(dataset)
    if encoder not in have and encoder not in ENCODERS:
        raise SegError(f"--encoder {encoder!r}: no such embedding of {dataset} "
                       f"(embedded: {', '.join(have) or 'none yet'}) and no such encoder; "
                       f"embed with `seg embed {dataset} --encoder NAME` where NAME is one of {', '.join(ENCODERS)}")
    info = embedding_info(dataset, encoder)
    out: dict[str, SplitData] = {}
    for split, s in loaded.items():
        if info.get("tokens"):   # token states stay in their mapped export; vectors carry the --features columns
            from pipeline.vectors import load_split_tokens

            tokens = load_split_tokens(dataset, encoder, split)
            vec = with_features(np.zeros((len(s), 0), np.float32), s.texts, features, [(b, e) for _, b, e in s.doc_ranges()])
            out[split] = SplitData(split, vec, np.asarray(s.labels, dtype=np.int64), s.texts, s.docs, s.index,
                                   s.doc_ranges(), tokens, info.get("transformer"))
            continue
        vec = np.asarray(load_split_vectors(dataset, encoder, split), dtype=np.float32)
        if vec.ndim != 2 or vec.shape[0] != len(s):
            raise SegError(f"{dataset}: cached {encoder!r} vectors of the {split} split have shape {vec.shape}, "
                           f"the split has {len(s)} sentences; re-run `seg embed {dataset} --encoder {encoder}`")
        vec = with_features(vec, s.texts, features, [(b, e) for _, b, e in s.doc_ranges()])
        out[split] = SplitData(split, vec, np.asarray(s.labels, dtype=np.int64), s.texts, s.docs, s.index, s.doc_ranges())
    return out, info


def _load_splits(dataset: Path, splits=SPLITS) -> dict:
    """The dataset's splits (pipeline.dataset.Split); SegError when one holds no candidate gap."""
    loaded = {split: load_split(dataset, split) for split in splits}
    for split, s in loaded.items():
        ranges = s.doc_ranges()
        if sum(max(e - b - 1, 0) for _, b, e in ranges) == 0:
            why = "has no documents" if not ranges else "has no document of two or more sentences"
            raise SegError(f"{dataset}: the {split} split {why}, so there is nothing to "
                           f"{'train on' if split == 'train' else 'select or evaluate on'}; re-run "
                           f"`seg prep --force --output {dataset}` with another --split (e.g. 8:1:1) or more documents")
    return loaded


def load_texts(dataset: Path, splits=SPLITS) -> dict[str, SplitData]:
    """Every split of `dataset` without vectors (an empty (n, 0) array): the raw sentence texts
    --model crossseg reads. The same checks of the splits as load_data."""
    dataset = Path(dataset)
    return {split: SplitData(split, np.zeros((len(s), 0), dtype=np.float32), np.asarray(s.labels, dtype=np.int64),
                             s.texts, s.docs, s.index, s.doc_ranges())
            for split, s in _load_splits(dataset, splits).items()}
