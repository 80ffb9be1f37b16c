"""Token states aligned with a split: the h5 export `seg embed --tokens` writes, and its reader.

    <dataset>/embeddings/<name>/<split>.h5
        states    (T, dim) float16, contiguous (not chunked): every token of the split, sentence
                  after sentence, so that a reader memory-maps it (np.memmap at its file offset)
        spans     (T, 2) int32, contiguous: the characters of its sentence each token covers
        offsets   (n + 1,) int64: the tokens of sentence j are rows offsets[j] .. offsets[j+1]-1
        doc, i    document id and index of each sentence (as the vector export)
        attrs     fingerprint, dataset_fingerprint, name, split, tokens, states_blake2b

The export is written in blocks of sentences straight from the token cache (a temp file, then
renamed), and `TokenStates` reads rows on demand from the mapped file: neither ever holds a
split's token states in memory (tests/test_wordatt.py checks the peak as the data grows).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .errors import SegError
from .fsutil import atomic_file

BLOCK = 2048   # sentences per read/write block of the export


def export_is_current(path: Path, fp: str, dataset_fp: str, n: int) -> bool:
    """Whether `path` is the export of these token states (fingerprint) for this dataset version
    and its split of n sentences."""
    import h5py

    if not Path(path).is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return (f.attrs.get("fingerprint") == fp and f.attrs.get("dataset_fingerprint") == dataset_fp
                    and len(f["offsets"]) == n + 1)
    except (OSError, KeyError):
        return False


def export_token_h5(out: Path, split, cache, fp: str, dataset_fp: str, name: str) -> Path:
    """Write the token-state export of `split` from TokenCache `cache`; skip it when current."""
    import h5py

    n = len(split.texts)
    if export_is_current(out, fp, dataset_fp, n):
        return out
    dim = int(cache.meta()["dim"])
    lengths = cache.lengths(split.texts)          # pass 1: token counts (value headers only)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    digest = hashlib.blake2b(digest_size=16)
    with atomic_file(out, "write the token-state export") as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("states", shape=(total, dim), dtype=np.float16)   # contiguous
        sp = f.create_dataset("spans", shape=(total, 2), dtype=np.int32)
        f.create_dataset("offsets", data=offsets)
        f.create_dataset("doc", data=np.array(split.docs, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("i", data=np.asarray(split.index, dtype=np.int32))
        for a in range(0, n, BLOCK):                          # pass 2: the states, a block at a time
            b = min(a + BLOCK, n)
            items = list(cache.read(split.texts[a:b]))
            if offsets[b] > offsets[a]:
                block = np.concatenate([s for s, _ in items])
                ds[offsets[a]:offsets[b]] = block
                sp[offsets[a]:offsets[b]] = np.concatenate([s for _, s in items])
                digest.update(block.tobytes())
        f.attrs.update({"fingerprint": fp, "dataset_fingerprint": dataset_fp, "name": name, "split": split.name,
                        "tokens": True, "states_blake2b": digest.hexdigest()})
    return out


class TokenStates:
    """The token states of n sentences: rows on demand, from a mapped export or from memory.

    states(j) / spans(j)   one sentence's (n_j, dim) float16 states and (n_j, 2) spans
    batch(idx)             the rows of sentences idx packed (no padding) as float32, the sentence
                           of each row and the sentences' lengths; idx -1 has no rows
    """

    def __init__(self, states, spans, offsets: np.ndarray, path: Path | None = None):
        self._states, self._spans = states, spans
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.path = path
        self.dim = int(states.shape[1])

    @classmethod
    def open(cls, path: Path) -> "TokenStates":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                ds, sp = f["states"], f["spans"]
                offsets = f["offsets"][:]
                shape, sshape = ds.shape, sp.shape
                at, sat = ds.id.get_offset(), sp.id.get_offset()
                if ds.chunks or sp.chunks or (shape[0] and (at is None or sat is None)):
                    raise SegError(f"{path}: token states are not stored contiguously; re-run `seg embed --tokens --force`")
        except (OSError, KeyError) as e:
            raise SegError(f"{path}: not a readable token-state export ({type(e).__name__}); re-run `seg embed --tokens`") from None
        if offsets[-1] != shape[0] or sshape[0] != shape[0]:
            raise SegError(f"{path}: offsets and states disagree ({offsets[-1]} vs {shape[0]} rows); re-run `seg embed --tokens --force`")
        if not shape[0]:
            return cls(np.zeros(shape, np.float16), np.zeros((0, 2), np.int32), offsets, Path(path))
        try:
            states = np.memmap(path, dtype=np.float16, mode="r", offset=at, shape=shape)
            spans = np.memmap(path, dtype=np.int32, mode="r", offset=sat, shape=sshape)
        except (OSError, ValueError) as e:
            raise SegError(f"{path}: the token-state export is truncated or unreadable ({e}); re-run `seg embed --tokens --force`") from None
        return cls(states, spans, offsets, Path(path))

    @classmethod
    def from_items(cls, items: list[tuple[np.ndarray, np.ndarray]], dim: int) -> "TokenStates":
        """In memory, from (states, spans) pairs (new text to segment: small)."""
        lengths = [len(s) for s, _ in items]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        states = np.concatenate([s for s, _ in items]) if items else np.zeros((0, dim), np.float16)
        spans = np.concatenate([p for _, p in items]) if items else np.zeros((0, 2), np.int32)
        return cls(states, spans, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def states(self, j: int) -> np.ndarray:
        return np.asarray(self._states[self.offsets[j]:self.offsets[j + 1]])

    def spans(self, j: int) -> np.ndarray:
        return np.asarray(self._spans[self.offsets[j]:self.offsets[j + 1]])

    def lengths(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        n = self.offsets[idx + 1] - self.offsets[idx]
        return np.where(idx >= 0, n, 0)

    def batch(self, idx: np.ndarray, max_tokens: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The states of sentences `idx` (-1 = a sentence without tokens), packed without padding:
        (states (total, dim) float32, sentence (total,) position in idx of each row, lengths
        (len(idx),)); a sentence's rows are consecutive and in order. `max_tokens` > 0 keeps each
        sentence's first max_tokens tokens. One gather of every row needed."""
        rows, n = self._rows(idx, max_tokens)
        x = self._states[rows].astype(np.float32) if len(rows) else np.zeros((0, self.dim), np.float32)
        return x, np.repeat(np.arange(len(n)), n), n

    def batch_spans(self, idx: np.ndarray, max_tokens: int = 0) -> np.ndarray:
        """The spans (total, 2) of the rows batch(idx, max_tokens) gives, in the same order."""
        rows, _ = self._rows(idx, max_tokens)
        return np.asarray(self._spans[rows]) if len(rows) else np.zeros((0, 2), np.int32)

    def _rows(self, idx: np.ndarray, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of sentences idx (each's first max_tokens, 0 = all) and their counts."""
        idx = np.asarray(idx, dtype=np.int64)
        n = self.lengths(idx)
        if max_tokens:
            n = np.minimum(n, max_tokens)
        total = int(n.sum())
        within = np.arange(total) - np.repeat(np.cumsum(n) - n, n)       # position of each token in its sentence
        return np.repeat(self.offsets[np.maximum(idx, 0)], n) + within, n   # its row in the states

    def verify(self) -> bool:
        """Whether the mapped states still hash to the export's states_blake2b (reads them all)."""
        import h5py

        if self.path is None:
            return True
        with h5py.File(self.path, "r") as f:
            want = f.attrs.get("states_blake2b")
        h = hashlib.blake2b(digest_size=16)
        for a in range(0, len(self), BLOCK):
            b = min(a + BLOCK, len(self))
            h.update(np.asarray(self._states[self.offsets[a]:self.offsets[b]]).tobytes())
        return h.hexdigest() == want
