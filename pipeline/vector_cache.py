"""The content-addressed vector cache: one LMDB environment per cache directory.

    <cache>/data.mdb, lock.mdb     LMDB, two named databases:
        vectors   key = blake2b(fingerprint + "\\x00" + sentence)[:16],
                  value = float32 bytes + 8-byte checksum, blake2b(key + float32 bytes)
        meta      b"meta:<fingerprint>" -> JSON {dim, dtype, encoder, model, parts}
                  b"state:<fingerprint>" -> encoder state bytes (wiki2vec's SIF weights + component)
    <cache>/file-hashes.json        memo of model-file content hashes (a speed-up only)
    <cache>/verified.json           size, mtime and inode of data.mdb when it last passed lmdb.verify

Trust: every value carries a checksum of its key and its floats, so a value damaged on
disk (or moved to another key) is detected on read. `seg embed` re-encodes such values;
the pure readers (`load_split_vectors`) refuse them with the command that repairs them.
Values written by seg before checksums existed (exactly dim x 4 bytes, "legacy") cannot be
verified after the fact: `seg embed` adds checksums to the legacy values of the sentences
it embeds (trusting them, as the older seg did) and says how many; readers refuse legacy
values until then. A data file shorter than its own header says (truncated: mapping it
would die of SIGBUS) and every LMDB error (a corrupted page, a full disk) become one
SegError naming the cache and the fix.

Writers commit short transactions (one per encoded batch), so a crash loses at most the
batch in flight and two processes can fill one cache (LMDB allows one writer at a time,
the other waits for the lock). Readers open the environment read-only with lock=False.
Environments are opened lazily, once per process and path, and re-opened after a fork.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import lmdb
import numpy as np

from .errors import SegError
from .fingerprint import sentence_key
from .fsutil import os_error

MAP_SIZE = 64 << 30          # sparse: the file grows only as data is written
MAX_DBS = 4
DTYPE = "float32"
CHECKSUM_BYTES = 8
#: what each value carries after its floats (recorded in new caches' meta, for readers of the file)
CHECKSUM = "blake2b-8(key + float32 bytes)"

_ENVS: dict[str, tuple[int, bool, lmdb.Environment]] = {}


# ---------------------------------------------------------------------------------
# damaged caches: one clear error instead of SIGBUS or a traceback
# ---------------------------------------------------------------------------------

class CacheDamaged(SegError):
    """The cache file itself is damaged (as opposed to unwritable or missing)."""


def damaged(path: Path, detail: str) -> SegError:
    return CacheDamaged(f"{path}: the vector cache is damaged ({detail}); remove it (rm -r {path}) and re-run `seg embed`, "
                    f"or re-run with --cache pointing elsewhere")


_STRERROR = {os.strerror(n): n for n in errno.errorcode}


def cache_error(path: Path, e: lmdb.Error) -> SegError:
    """The one-line error of an LMDB failure: a write the file system refused (disk full,
    read-only) names the errno; anything else means the file is damaged."""
    msg = str(e)
    code = None
    if isinstance(e, lmdb.DiskError):
        code = errno.ENOSPC
    elif isinstance(e, lmdb.ReadonlyError):
        code = errno.EACCES
    else:
        code = _STRERROR.get(msg.rsplit(": ", 1)[-1].strip())
    if code == errno.EIO:
        code = _short_write_cause(path)
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):  # LMDB reports a short write as EIO
        return os_error(path, OSError(code, os.strerror(code)), "write the vector cache",
                        "free some space (or choose another --cache) and re-run: finished batches are kept")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return os_error(path, OSError(code, os.strerror(code)), "write the vector cache", "choose a writable --cache")
    return damaged(path, f"{type(e).__name__}: {msg}")


def _short_write_cause(path: Path) -> int:
    """LMDB reports a write that stopped short as EIO; name the usual cause when it is
    visible: a full file system (ENOSPC) or the process's file-size limit (EFBIG)."""
    try:
        st = os.statvfs(path)
        if st.f_bavail * st.f_frsize < 1 << 20:
            return errno.ENOSPC
    except OSError:
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY and (Path(path) / "data.mdb").stat().st_size + (1 << 20) > soft:
            return errno.EFBIG
    except (ImportError, OSError, ValueError):
        pass
    return errno.EIO


def begin(env: "lmdb.Environment", **kwargs) -> "lmdb.Transaction":
    """env.begin(), adopting a map that another process has grown since this one opened the cache
    (MDB_MAP_RESIZED: `seg train` reading a cache while `seg embed` fills it): LMDB's own remedy,
    set_mapsize(0), then the transaction again. The cache is fine; without this the reader stops."""
    try:
        return env.begin(**kwargs)
    except lmdb.MapResizedError:
        env.set_mapsize(0)
        return env.begin(**kwargs)


def open_db(env: "lmdb.Environment", name: bytes, create: bool):
    """env.open_db() (a transaction of its own), adopting a grown map as begin() does."""
    try:
        return env.open_db(name, create=create)
    except lmdb.MapResizedError:
        env.set_mapsize(0)
        return env.open_db(name, create=create)


@contextmanager
def guarded(path: Path) -> Iterator[None]:
    """Turn LMDB errors inside the block into the SegError of `cache_error`."""
    try:
        yield
    except lmdb.MapFullError:
        raise
    except lmdb.Error as e:
        raise cache_error(path, e) from None


_MAGIC = 0xBEEFC0DE


def check_data_file(path: Path) -> None:
    """Refuse a data.mdb shorter than its committed meta page says it is.

    LMDB maps the file and reads pages in place: a page past the end of a truncated file
    kills the process with SIGBUS. The two meta pages at the start of the file (LMDB 0.9
    and 1.0 layouts, 64-bit, host byte order) give the page size and the last page in use.
    A file shorter than that is checked page by page with lmdb.verify where available
    (LMDB may leave free pages at the tail unwritten), else refused."""
    f = Path(path) / "data.mdb"
    if not f.is_file():
        return  # a new cache
    try:
        with open(f, "rb") as fh:
            head = fh.read(64)
            if not head:
                return  # created but never committed: LMDB initialises it
            hdr = next((o for o in (16, 24) if len(head) >= o + 4 and struct.unpack_from("=I", head, o)[0] == _MAGIC), None)
            if hdr is None:
                raise damaged(path, f"{f.name} is not an LMDB file (no header)")
            metas = []
            psize = None
            for pg in (0, 1):
                fh.seek(pg * (psize or 0))
                buf = fh.read(hdr + 160)
                if len(buf) < hdr + 152:
                    raise damaged(path, f"{f.name} is truncated to {os.fstat(fh.fileno()).st_size} bytes (meta page {pg} cut off)")
                magic, = struct.unpack_from("=I", buf, hdr)
                if magic != _MAGIC:
                    raise damaged(path, f"{f.name} meta page {pg} has a bad magic number")
                m_psize, = struct.unpack_from("=I", buf, hdr + 24)          # free db's md_pad
                last_pg, txnid = struct.unpack_from("=QQ", buf, hdr + 24 + 96)
                if pg == 0:
                    if m_psize < 256 or m_psize & (m_psize - 1) or m_psize > 1 << 16:
                        raise damaged(path, f"{f.name} has an implausible page size {m_psize}")
                    psize = m_psize
                metas.append((txnid, last_pg))
            size = os.fstat(fh.fileno()).st_size  # after reading the metas: a writer only grows the file
    except OSError as e:
        raise os_error(f, e, "read the vector cache") from None
    txnid, last_pg = max(metas)
    need = (last_pg + 1) * psize
    if size >= need:
        return
    try:
        from lmdb.verify import verify
    except ImportError:
        verify = None
    problems = ["short file"] if verify is None else verify(str(path))
    if problems:
        raise damaged(path, f"{f.name} is truncated: {size} bytes where its header needs {need}")


STAMP = "verified.json"   # <cache>/verified.json: the data file's [size, mtime_ns, inode] when it last passed


def _file_state(f: Path) -> list[int]:
    st = os.stat(f)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def verify_structure(path: Path) -> bool:
    """Walk every page of data.mdb with lmdb.verify (py-lmdb >= 3; reads, never maps the file)
    unless the file is unchanged since it last passed. LMDB trusts the offsets and sizes inside
    its pages, so a damaged page can make it read past the end of the mapped file (SIGBUS);
    this catches such a file before LMDB touches it. Returns whether the file is known good:
    False where lmdb.verify is missing or a writer changed the file during the walk (its view
    was then not consistent; LMDB's own checks still apply)."""
    try:
        from lmdb.verify import VerifyError, verify
    except ImportError:
        return False
    f = Path(path) / "data.mdb"
    if not f.is_file():
        return True  # a new cache: only LMDB's own commits will shape it
    try:
        before = _file_state(f)
        if before[0] == 0:
            return True
        try:
            if json.loads((Path(path) / STAMP).read_text(encoding="utf-8")) == before:
                return True
        except (OSError, ValueError):
            pass
        try:
            problems = verify(str(path))
        except VerifyError as e:
            problems = [str(e)]
        after = _file_state(f)
    except OSError as e:
        raise os_error(f, e, "read the vector cache") from None
    if after != before:
        return False  # a writer committed meanwhile
    if problems:
        more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
        raise damaged(path, f"{f.name}: {problems[0]}{more}")
    mark_verified(path, before)
    return True


def mark_verified(path: Path, state: list[int] | None = None) -> None:
    """Record the data file's state as verified (a speed-up only: failures are ignored)."""
    from .fsutil import write_json_atomic

    try:
        write_json_atomic(Path(path) / STAMP, state or _file_state(Path(path) / "data.mdb"))
    except (OSError, SegError):
        pass


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
        except OSError as e:
            raise os_error(p, e, "create the vector cache", "choose another --cache") from None
        check_data_file(p)
        verified = verify_structure(p)
        try:
            env = lmdb.open(key, map_size=MAP_SIZE, max_dbs=MAX_DBS, subdir=True, readahead=False, meminit=False)
        except lmdb.Error as e:
            err = cache_error(p, e)
            raise err if isinstance(err, CacheDamaged) else SegError(f"{err}; or choose another --cache") from None
        except OSError as e:
            raise os_error(p, e, "open the vector cache for writing", "choose another --cache") from None
    else:
        if not (p / "data.mdb").is_file():
            raise SegError(f"{p}: no vector cache here; run `seg embed` with --cache {p} first")
        check_data_file(p)
        verified = verify_structure(p)
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
                raise damaged(p, f"{type(e).__name__}: {e}") from None
    _ENVS[key] = (pid, write, env)
    _VERIFIED[key] = verified
    return env


_VERIFIED: dict[str, bool] = {}


def checksum(key: bytes, data) -> bytes:
    """The checksum stored after a value's floats: blake2b of its key and its float bytes."""
    h = hashlib.blake2b(key, digest_size=CHECKSUM_BYTES)
    h.update(data)
    return h.digest()


@dataclass
class Lookup:
    """What the cache holds for a list of texts (indices into that list)."""
    vectors: np.ndarray | None
    missing: list[int] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)   # checksum or length wrong
    legacy: list[int] = field(default_factory=list)    # no checksum (an older seg wrote them)


class VectorCache:
    """Vectors of one fingerprint in one cache directory."""

    #: the LMDB database holding the values (pipeline/token_cache.py keeps token states apart)
    DB = b"vectors"
    #: what a value holds, recorded in a new cache's metadata for readers of the file
    VALUE_DTYPE = DTYPE
    VALUE_CHECKSUM = CHECKSUM

    def __init__(self, path: Path, fingerprint: str, write: bool = False):
        self.path = Path(path)
        self.fp = fingerprint
        self.write = write
        self.env = _open_env(self.path, write)
        try:
            with guarded(self.path):
                self._vec = open_db(self.env, self.DB, create=write)
                self._meta = open_db(self.env, b"meta", create=write)
        except lmdb.NotFoundError:
            raise SegError(f"{self.path}: not a seg vector cache (no {self.DB.decode()} database); choose another --cache") from None
        self._meta_cache: dict | None = None

    # ---- metadata ---------------------------------------------------------------
    def meta(self) -> dict | None:
        if self._meta_cache is None:
            with guarded(self.path), begin(self.env, db=self._meta) as txn:
                raw = txn.get(f"meta:{self.fp}".encode())
            try:
                self._meta_cache = json.loads(raw) if raw else None
            except ValueError:
                raise damaged(self.path, f"the metadata of fingerprint {self.fp} is not JSON") from None
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
        with guarded(self.path), begin(self.env, db=self._meta) as txn:
            raw = txn.get(f"state:{self.fp}".encode())
        return bytes(raw) if raw is not None else None

    def setdefault_state(self, blob: bytes) -> bytes:
        """Store `blob` as this fingerprint's encoder state unless one is there already
        (written meanwhile by another process); return the stored state."""
        key = f"state:{self.fp}".encode()
        while True:
            try:
                with guarded(self.path), begin(self.env, write=True, db=self._meta) as txn:
                    old = txn.get(key)
                    if old is not None:
                        return bytes(old)
                    txn.put(key, blob)
                    return blob
            except lmdb.MapFullError:
                self._grow()

    # ---- vectors ----------------------------------------------------------------
    def missing(self, texts: list[str]) -> list[int]:
        """Indices of texts with no vector under this fingerprint."""
        out = []
        with guarded(self.path), begin(self.env, db=self._vec, buffers=True) as txn:
            get = txn.get
            for i, t in enumerate(texts):
                if get(sentence_key(self.fp, t)) is None:
                    out.append(i)
        return out

    def _dim(self, dim: int | None) -> int | None:
        if dim is None:
            m = self.meta()
            return int(m["dim"]) if m is not None else None
        return int(dim)

    def lookup(self, texts: list[str], dim: int | None = None, vectors: bool = True) -> Lookup:
        """Read and verify the texts' vectors: (n, dim) float32 (zeros where not served) unless
        `vectors` is False, and the indices missing, corrupt (checksum or length wrong) and
        legacy (written without a checksum by an older seg)."""
        dim = self._dim(dim)
        if dim is None:
            return Lookup(np.zeros((len(texts), 0), np.float32) if vectors else None, list(range(len(texts))))
        nbytes = dim * np.dtype(DTYPE).itemsize
        res = Lookup(np.zeros((len(texts), dim), np.float32) if vectors else None)
        out = res.vectors
        with guarded(self.path), begin(self.env, db=self._vec, buffers=True) as txn:
            get = txn.get
            for i, t in enumerate(texts):
                key = sentence_key(self.fp, t)
                buf = get(key)
                if buf is None:
                    res.missing.append(i)
                    continue
                n = len(buf)
                if n == nbytes + CHECKSUM_BYTES:
                    data = buf[:nbytes]
                    if checksum(key, data) != buf[nbytes:]:
                        res.corrupt.append(i)
                        continue
                elif n == nbytes:
                    res.legacy.append(i)
                    data = buf
                else:
                    res.corrupt.append(i)
                    continue
                if out is not None:
                    out[i] = np.frombuffer(data, dtype=DTYPE)
        return res

    def get_many(self, texts: list[str], dim: int | None = None) -> tuple[np.ndarray, list[int]]:
        """(n, dim) float32 of the texts' vectors and the indices not found (left as zeros).
        A corrupt or unverifiable (legacy) vector is an error that says how to repair it."""
        res = self.lookup(texts, dim)
        self.refuse_untrusted(res)
        return res.vectors, res.missing

    def refuse_untrusted(self, res: Lookup, what: str = "vectors", fix: str = "re-run `seg embed` on the dataset") -> None:
        if res.corrupt:
            raise SegError(f"cache {self.path}: {len(res.corrupt)} {what} fail their checksum (damaged on disk, "
                           f"fingerprint {self.fp}); {fix} to re-encode them")
        if res.legacy:
            raise SegError(f"cache {self.path}: {len(res.legacy)} {what} were written by an older seg without a checksum "
                           f"(fingerprint {self.fp}); {fix} once to add checksums")

    def check_batch(self, batch: list[str], vecs: np.ndarray, dim: int, who: str) -> None:
        """Refuse an encoder's output that does not fit the batch (one row of `dim` per text)."""
        if vecs.shape != (len(batch), dim):
            raise SegError(f"encoder {who} returned shape {vecs.shape} for {len(batch)} texts, dim {dim}")

    def put_many(self, texts: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=DTYPE)
        items = []
        for t, v in zip(texts, vectors):
            key = sentence_key(self.fp, t)
            data = v.tobytes()
            items.append((key, data + checksum(key, data)))
        self._put(self._vec, items)

    def add_checksums(self, texts: list[str], dim: int, batch: int = 4096) -> int:
        """Give the legacy (checksum-less, exactly dim x 4 bytes) values of `texts` their
        checksum, in place; returns how many were upgraded. They are trusted as they are:
        nothing can verify a value written without a checksum."""
        nbytes = dim * np.dtype(DTYPE).itemsize
        done = 0
        for s in range(0, len(texts), batch):
            keys = [sentence_key(self.fp, t) for t in texts[s:s + batch]]
            while True:
                try:
                    n = 0
                    with guarded(self.path), begin(self.env, write=True, db=self._vec) as txn:
                        for key in keys:
                            v = txn.get(key)
                            if v is not None and len(v) == nbytes:
                                txn.put(key, bytes(v) + checksum(key, v))
                                n += 1
                    done += n
                    break
                except lmdb.MapFullError:
                    self._grow()
        return done

    def drop(self, texts: list[str]) -> None:
        """Delete the texts' values (corrupt ones, before they are re-encoded)."""
        if not self.write:
            raise RuntimeError("VectorCache opened read-only")
        with guarded(self.path), begin(self.env, write=True, db=self._vec) as txn:
            for t in texts:
                txn.delete(sentence_key(self.fp, t))

    def close_verified(self) -> None:
        """After this process's writes: record the file as verified if it was verified when
        opened (LMDB commits keep a sound file sound), so that the next open skips the walk."""
        if _VERIFIED.get(str(self.path.resolve())):
            mark_verified(self.path)

    def count(self) -> int:
        """Entries in the vectors database (all fingerprints)."""
        with guarded(self.path), begin(self.env, ) as txn:
            return int(txn.stat(self._vec)["entries"])

    def _grow(self) -> None:
        with guarded(self.path):
            self.env.set_mapsize(self.env.info()["map_size"] * 2)

    def _put(self, db, items: list[tuple[bytes, bytes]]) -> None:
        if not self.write:
            raise RuntimeError("VectorCache opened read-only")
        while True:
            try:
                with guarded(self.path), begin(self.env, write=True, db=db) as txn:
                    cur = txn.cursor()
                    cur.putmulti(items, dupdata=False, overwrite=True)
                return
            except lmdb.MapFullError:
                self._grow()
