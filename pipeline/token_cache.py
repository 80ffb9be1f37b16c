"""The token-state cache: each sentence's last-layer token states, content-addressed like vectors.

    <cache>/data.mdb     LMDB (the environment of pipeline/vector_cache.py), database `tokens`:
        key   = blake2b(fingerprint + "\\x00" + sentence)[:16]   (fingerprint of the encoder + "tokens")
        value = uint32 n | n x dim float16 states | n x 2 int32 character spans | 8-byte checksum
                (blake2b of key + everything before it)
        meta  = b"meta:<fingerprint>" -> JSON {dim, dtype: float16, encoder, model, identity}

A span (start, end) gives the characters of the sentence a token covers (end > start; a
token made only of the model's word-start marker gets the empty span (k, k) at the
character it precedes). Special tokens ([CLS], <s>, </s>) and a prompt such as e5's
"passage: " are not stored: the states are those of the sentence's own tokens, computed with
the prompt and special tokens in the input exactly as the sentence encoder sees them.

Token states are ~40x the size of a sentence vector (fp16, one row per token), so `seg embed
--tokens` keeps them in their own cache directory (default cache/tokens) and training reads
them from the per-split h5 export (pipeline/token_states.py), memory-mapped, never whole.
"""

from __future__ import annotations

import struct
from typing import Iterator

import numpy as np

from .errors import SegError
from .fingerprint import sentence_key
from .vector_cache import CHECKSUM_BYTES, Lookup, VectorCache, begin, checksum, guarded

TOKEN_DTYPE = "float16"
TOKEN_CHECKSUM = "blake2b-8(key + n + float16 states + int32 spans)"
_HEAD = struct.Struct("<I")


def pack(key: bytes, states: np.ndarray, spans: np.ndarray) -> bytes:
    """The stored value of one sentence's token states (n, dim) and spans (n, 2)."""
    states = np.ascontiguousarray(states, dtype=TOKEN_DTYPE)
    spans = np.ascontiguousarray(spans, dtype=np.int32).reshape(-1, 2)
    if len(states) != len(spans):
        raise ValueError(f"{len(states)} token states but {len(spans)} spans")
    data = _HEAD.pack(len(states)) + states.tobytes() + spans.tobytes()
    return data + checksum(key, data)


def unpack(key: bytes, buf, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(states (n, dim) float16, spans (n, 2) int32) of a stored value; None when it is damaged
    (length or checksum wrong)."""
    if len(buf) < _HEAD.size + CHECKSUM_BYTES:
        return None
    n, = _HEAD.unpack_from(buf, 0)
    size = _HEAD.size + n * dim * 2 + n * 8
    if len(buf) != size + CHECKSUM_BYTES or checksum(key, buf[:size]) != bytes(buf[size:]):
        return None
    states = np.frombuffer(buf, dtype=TOKEN_DTYPE, count=n * dim, offset=_HEAD.size).reshape(n, dim)
    spans = np.frombuffer(buf, dtype=np.int32, count=n * 2, offset=_HEAD.size + n * dim * 2).reshape(n, 2)
    return states.copy(), spans.copy()


class TokenCache(VectorCache):
    """Token states of one fingerprint in one cache directory (values of variable length)."""

    DB = b"tokens"
    VALUE_DTYPE = TOKEN_DTYPE
    VALUE_CHECKSUM = TOKEN_CHECKSUM

    def check_batch(self, batch: list[str], result, dim: int, who: str) -> None:
        if len(result) != len(batch) or any(s.ndim != 2 or s.shape[1] != dim or len(s) != len(sp) for s, sp in result):
            raise SegError(f"encoder {who} returned token states that do not fit {len(batch)} texts of dim {dim}")

    def lookup(self, texts: list[str], dim: int | None = None, vectors: bool = False) -> Lookup:
        """The indices of texts missing and corrupt (never legacy: token values always had checksums)."""
        dim = self._dim(dim)
        res = Lookup(None)
        if dim is None:
            res.missing = list(range(len(texts)))
            return res
        with guarded(self.path), begin(self.env, db=self._vec, buffers=True) as txn:
            for i, t in enumerate(texts):
                key = sentence_key(self.fp, t)
                buf = txn.get(key)
                if buf is None:
                    res.missing.append(i)
                elif unpack(key, buf, dim) is None:
                    res.corrupt.append(i)
        return res

    def read(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(states, spans) of each text in order; SegError for one that is missing or damaged."""
        dim = self._dim(None)
        if dim is None:
            raise SegError(f"cache {self.path}: no token states for fingerprint {self.fp}; run `seg embed --tokens`")
        with guarded(self.path), begin(self.env, db=self._vec, buffers=True) as txn:
            for t in texts:
                key = sentence_key(self.fp, t)
                buf = txn.get(key)
                got = None if buf is None else unpack(key, buf, dim)
                if got is None:
                    raise self._unusable(t, buf is None)
                yield got

    def lengths(self, texts: list[str]) -> np.ndarray:
        """Token count of each text, from the value headers (`read` verifies the values); SegError
        for a text that is missing or whose value is too short to hold a header."""
        out = np.zeros(len(texts), dtype=np.int64)
        with guarded(self.path), begin(self.env, db=self._vec, buffers=True) as txn:
            for j, t in enumerate(texts):
                buf = txn.get(sentence_key(self.fp, t))
                if buf is None or len(buf) < _HEAD.size:
                    raise self._unusable(t, buf is None)
                out[j] = _HEAD.unpack_from(buf, 0)[0]
        return out

    def _unusable(self, text: str, missing: bool) -> SegError:
        return SegError(f"the token states of {text[:20]!r} are {'missing from' if missing else 'damaged in'} cache "
                        f"{self.path} (fingerprint {self.fp}); re-run `seg embed --tokens` on the dataset")

    def put_many(self, texts: list[str], items) -> None:
        out = []
        for t, (states, spans) in zip(texts, items):
            key = sentence_key(self.fp, t)
            out.append((key, pack(key, states, spans)))
        self._put(self._vec, out)

    def add_checksums(self, texts: list[str], dim: int, batch: int = 4096) -> int:
        return 0
