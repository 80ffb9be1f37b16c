"""Fingerprints: short hashes of everything that changes a sentence vector.

In the style of HF datasets' fingerprints: a stable JSON rendering of the encoder's
identity (kind, model, a content hash of its files, pooling, max length, normalisation,
prefix, ENCODING_VERSION) hashed to 16 hex characters. A cache key is
blake2b(fingerprint + "\\x00" + sentence), so changing any part never serves a stale vector.

File contents are hashed in full; a memo keyed by (path, size, mtime_ns, inode) keeps a
re-run from re-reading large weight files (a rewrite changes mtime, so the memo cannot
go stale short of forging timestamps).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from .errors import SegError
from .fsutil import write_json_atomic

# Bump when the encoding recipe changes in a way no setting captures (e.g. a pooling fix).
ENCODING_VERSION = "1"

# Files in a model folder that do not influence the vectors.
_SKIP_SUFFIXES = (".md", ".txt.lock", ".lock", ".gitattributes", ".png", ".jpg")
_SKIP_NAMES = {".git", ".cache", "__pycache__", "README", "LICENSE", "runs", "eval", "checkpoints"}


def fingerprint(parts: dict) -> str:
    """16-hex-character hash of a JSON-able dict (key order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=8).hexdigest()


def sentence_key(fp: str, text: str) -> bytes:
    """The 16-byte cache key of one sentence under one fingerprint."""
    return hashlib.blake2b((fp + "\x00" + text).encode("utf-8"), digest_size=16).digest()


class FileHashMemo:
    """(path, size, mtime_ns, inode) -> content digest, persisted as JSON beside a cache."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        self._dirty = False
        if self.path and self.path.is_file():
            try:
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._data = {}

    def digest(self, file: Path) -> str:
        file = Path(file)
        real = file.resolve()
        st = real.stat()
        memo_key = f"{real}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
        with self._lock:
            hit = self._data.get(memo_key)
        if hit:
            return hit
        h = hashlib.blake2b(digest_size=16)
        with open(real, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        d = h.hexdigest()
        with self._lock:
            self._data[memo_key] = d
            self._dirty = True
        return d

    def save(self) -> None:
        if self.path and self._dirty:
            try:
                write_json_atomic(self.path, self._data)
                self._dirty = False
            except (OSError, SegError):
                pass  # the memo is only a speed-up


def _wanted(rel: Path) -> bool:
    if any(p in _SKIP_NAMES or p.startswith(".") for p in rel.parts):
        return False
    return not rel.name.endswith(_SKIP_SUFFIXES)


def hash_folder(folder: Path, memo: FileHashMemo | None = None) -> str:
    """Content hash of a model folder: every config, tokenizer and weight file in it."""
    memo = memo or FileHashMemo(None)
    folder = Path(folder)
    h = hashlib.blake2b(digest_size=16)
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_NAMES and not d.startswith("."))
        for name in sorted(files):
            f = Path(root) / name
            rel = f.relative_to(folder)
            if not _wanted(rel):
                continue
            h.update(str(rel.as_posix()).encode() + b"\x00" + memo.digest(f).encode() + b"\n")
    return h.hexdigest()


def hash_file(file: Path, memo: FileHashMemo | None = None) -> str:
    return (memo or FileHashMemo(None)).digest(Path(file))


def hash_strings_counts(counts: dict[str, int]) -> str:
    """Hash of a word-frequency table (order independent)."""
    h = hashlib.blake2b(digest_size=16)
    for w in sorted(counts):
        h.update(w.encode("utf-8") + b"\x00" + str(counts[w]).encode() + b"\n")
    return h.hexdigest()
