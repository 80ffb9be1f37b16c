"""The content-addressed vector cache: one LMDB environment per cache directory.

    <cache>/data.mdb, lock.mdb     LMDB, two named databases:
        vectors   key = blake2b(fingerprint + "\\x00" + sentence)[:16], value = raw float32 bytes
        meta      b"meta:<fingerprint>" -> JSON {dim, dtype, encoder, model, parts}
                  b"state:<fingerprint>" -> encoder state bytes (wiki2vec's SIF weights + component)
    <cache>/file-hashes.json        memo of model-file content hashes (a speed-up only)

Writers commit short transactions (one per encoded batch), so a crash loses at most the
batch in flight and two processes can fill one cache (LMDB allows one writer at a time,
the other waits for the lock). Readers open the environment read-only with lock=False.
Environments are opened lazily, once per process and path, and re-opened after a fork.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lmdb
import numpy as np

from .errors import SegError
from .fingerprint import sentence_key

MAP_SIZE = 64 << 30          # sparse: the file grows only as data is written
MAX_DBS = 4
DTYPE = "float32"

_ENVS: dict[str, tuple[int, bool, lmdb.Environment]] = {}


def _open_env(path: Path, write: bool) -> lmdb.Environment:
    key = str(Path(path).resolve())
    pid = os.getpid()
    hit = _ENVS.get(key)
    if hit is not None:
        hpid, hwrite, env = hit
        if hpid == pid and (hwrite or not write):
            return env
        # Either a read-only handle to upgrade to a writable one (one env per path per process),
        # or one inherited across a fork, which must not be used in the child. Closing it in the
        # child is safe: LMDB then only clears reader slots held by the child's own pid.
        env.close()
        del _ENVS[key]
    p = Path(key)
    if write:
        try:
            p.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(key, map_size=MAP_SIZE, max_dbs=MAX_DBS, subdir=True, readahead=False, meminit=False)
        except (OSError, lmdb.Error) as e:
            raise SegError(f"{p}: cannot open the vector cache for writing ({e}); choose another --cache") from None
    else:
        if not (p / "data.mdb").is_file():
            raise SegError(f"{p}: no vector cache here; run `seg embed` with --cache {p} first")
        env = None
        if os.access(p / "lock.mdb", os.W_OK):
            # registered readers: a concurrent writer (a background `seg embed` on the same
            # cache) then never recycles pages a read transaction still sees
            try:
                env = lmdb.open(key, readonly=True, max_dbs=MAX_DBS, subdir=True, readahead=False)
            except lmdb.Error:
                env = None
        if env is None:
            try:
                env = lmdb.open(key, readonly=True, lock=False, max_dbs=MAX_DBS, subdir=True, readahead=False)
            except lmdb.Error as e:
                raise SegError(f"{p}: cannot open the vector cache ({e}); delete it and re-run `seg embed`") from None
    _ENVS[key] = (pid, write, env)
    return env


class VectorCache:
    """Vectors of one fingerprint in one cache directory."""

    def __init__(self, path: Path, fingerprint: str, write: bool = False):
        self.path = Path(path)
        self.fp = fingerprint
        self.write = write
        self.env = _open_env(self.path, write)
        try:
            self._vec = self.env.open_db(b"vectors", create=write)
            self._meta = self.env.open_db(b"meta", create=write)
        except lmdb.NotFoundError:
            raise SegError(f"{self.path}: not a seg vector cache (no vectors database); choose another --cache") from None
        self._meta_cache: dict | None = None

    # ---- metadata ---------------------------------------------------------------
    def meta(self) -> dict | None:
        if self._meta_cache is None:
            with self.env.begin(db=self._meta) as txn:
                raw = txn.get(f"meta:{self.fp}".encode())
            self._meta_cache = json.loads(raw) if raw else None
        return self._meta_cache

    def check_dim(self, dim: int) -> None:
        m = self.meta()
        if m is not None and int(m["dim"]) != int(dim):
            raise SegError(
                f"cache {self.path} was made with dim {m['dim']} for fingerprint {self.fp}, but the encoder gives dim {dim}; "
                f"use another --cache or delete it")

    def set_meta(self, meta: dict) -> None:
        self.check_dim(meta["dim"])
        self._put(self._meta, [(f"meta:{self.fp}".encode(), json.dumps(meta, ensure_ascii=False).encode())])
        self._meta_cache = meta

    def get_state(self) -> bytes | None:
        with self.env.begin(db=self._meta) as txn:
            raw = txn.get(f"state:{self.fp}".encode())
        return bytes(raw) if raw is not None else None

    def setdefault_state(self, blob: bytes) -> bytes:
        """Store `blob` as this fingerprint's encoder state unless one is there already
        (written meanwhile by another process); return the stored state."""
        key = f"state:{self.fp}".encode()
        while True:
            try:
                with self.env.begin(write=True, db=self._meta) as txn:
                    old = txn.get(key)
                    if old is not None:
                        return bytes(old)
                    txn.put(key, blob)
                    return blob
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)

    # ---- vectors ----------------------------------------------------------------
    def key(self, text: str) -> bytes:
        return sentence_key(self.fp, text)

    def missing(self, texts: list[str]) -> list[int]:
        """Indices of texts with no vector under this fingerprint."""
        out = []
        with self.env.begin(db=self._vec, buffers=True) as txn:
            get = txn.get
            for i, t in enumerate(texts):
                if get(sentence_key(self.fp, t)) is None:
                    out.append(i)
        return out

    def get_many(self, texts: list[str], dim: int | None = None) -> tuple[np.ndarray, list[int]]:
        """(n, dim) float32 of the texts' vectors and the indices not found (left as zeros)."""
        m = self.meta()
        if dim is None:
            if m is None:
                return np.zeros((len(texts), 0), np.float32), list(range(len(texts)))
            dim = int(m["dim"])
        dtype = np.dtype((m or {}).get("dtype", DTYPE))
        nbytes = dim * dtype.itemsize
        out = np.zeros((len(texts), dim), np.float32)
        missing = []
        with self.env.begin(db=self._vec, buffers=True) as txn:
            get = txn.get
            for i, t in enumerate(texts):
                buf = get(sentence_key(self.fp, t))
                if buf is None:
                    missing.append(i)
                elif len(buf) != nbytes:
                    raise SegError(
                        f"cache {self.path} holds a vector of {len(buf) // dtype.itemsize} values where dim {dim} was expected "
                        f"(fingerprint {self.fp}); use another --cache or delete it")
                else:
                    out[i] = np.frombuffer(buf, dtype=dtype)
        return out, missing

    def put_many(self, texts: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=DTYPE)
        self._put(self._vec, [(sentence_key(self.fp, t), v.tobytes()) for t, v in zip(texts, vectors)])

    def count(self) -> int:
        """Entries in the vectors database (all fingerprints)."""
        with self.env.begin() as txn:
            return int(txn.stat(self._vec)["entries"])

    def _put(self, db, items: list[tuple[bytes, bytes]]) -> None:
        if not self.write:
            raise RuntimeError("VectorCache opened read-only")
        while True:
            try:
                with self.env.begin(write=True, db=db) as txn:
                    cur = txn.cursor()
                    cur.putmulti(items, dupdata=False, overwrite=True)
                return
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
