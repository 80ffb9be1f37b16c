"""Fault injection: every fault ends in a correct result or ONE clean error line (exit 1,
the path named, no traceback, no stray temporary file), never a signal.

Sections (add new ones at the end, one banner each):
    helpers
    vector cache: damaged files        truncated / page-corrupted data.mdb, a flipped float
    seg embed: write failures          disk full (cache, h5 export, manifest), read-only locations

The kill -9 tests of `seg embed` live in test_embed_resume.py (those of `seg train` in the
train tests). Crash-prone cases run `seg` in a subprocess, so a SIGBUS or SIGSEGV shows as a
negative return code instead of killing pytest.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import SPLITS, load_split
from pipeline.errors import SegError
from tests.contract import assert_reproduced

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


# ================================================================================ helpers

def seg_subprocess(*args, preamble: str = "", timeout: int = 180) -> subprocess.CompletedProcess:
    """`seg ARGS` in a fresh interpreter (cwd = repo root); `preamble` runs before the CLI."""
    code = f"{preamble}\nfrom cli import main; main()"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", COLUMNS="400")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(rc: int, output: str, *needles: str) -> str:
    """Exit code 1 (not a signal), exactly one `error:` line, naming every needle, no traceback."""
    assert rc == 1, f"exit code {rc} (negative = killed by a signal):\n{output}"
    assert "Traceback" not in output, output
    lines = [l for l in output.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, output
    for n in needles:
        assert str(n) in lines[0], lines[0]
    return lines[0]


def stray_files(*dirs: Path) -> list[Path]:
    """Temporary names an interrupted write would leave behind."""
    return [p for d in dirs if d.exists() for p in d.rglob("*") if ".tmp-" in p.name]


def embed_args(ds: Path, w2v: Path, cache: Path, *extra) -> list[str]:
    return ["embed", str(ds), "--encoder", "wiki2vec", "--vectors", str(w2v), "--cache", str(cache), *map(str, extra)]


@pytest.fixture(scope="module")
def embedded(small_dataset, w2v_text, tmp_path_factory) -> tuple[Path, Path]:
    """small_dataset embedded with wiki2vec (fast, no torch): (dataset, cache), pristine."""
    root = tmp_path_factory.mktemp("faults")
    ds, cache = root / "small", root / "vc"
    shutil.copytree(small_dataset, ds)
    res = runner.invoke(app, embed_args(ds, w2v_text, cache))
    assert res.exit_code == 0, res.output
    return ds, cache


@pytest.fixture
def copy(embedded, tmp_path) -> tuple[Path, Path]:
    """A private copy of `embedded` whose manifest points at the copied cache."""
    ds, cache = tmp_path / "small", tmp_path / "vc"
    shutil.copytree(embedded[0], ds)
    shutil.copytree(embedded[1], cache)
    (cache / "lock.mdb").unlink(missing_ok=True)
    (cache / "verified.json").unlink(missing_ok=True)  # the copy is a new file (another inode)
    for m in (ds / "embeddings").glob("*.json"):
        d = json.loads(m.read_text(encoding="utf-8"))
        d.update(cache=str(cache), dataset=str(ds), config=dict(d["config"], cache=str(cache), dataset=str(ds)))
        m.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    return ds, cache


def texts_of(ds: Path) -> list[str]:
    return [t for s in SPLITS for t in load_split(ds, s).texts]


def forget(cache: Path) -> None:
    """Close this process's LMDB handle of `cache`, so that the next use re-reads the file
    (as a new `seg` process would)."""
    from pipeline.vector_cache import _ENVS

    hit = _ENVS.pop(str(cache.resolve()), None)
    if hit:
        hit[2].close()


def page_size(cache: Path) -> int:
    import struct

    head = (cache / "data.mdb").read_bytes()[:64]
    return struct.unpack_from("=I", head, 16 + 24)[0]  # meta page 0: the free db's md_pad


# ===================================================================== vector cache: damaged files

def test_truncated_cache_is_one_error_in_embed_not_sigbus(copy, w2v_text):
    ds, cache = copy
    f = cache / "data.mdb"
    ps = page_size(cache)
    assert f.stat().st_size > 4 * ps
    os.truncate(f, 3 * ps)  # the meta pages survive; the newest pages (the B-tree root) are gone
    r = seg_subprocess(*embed_args(ds, w2v_text, cache))
    line = assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "truncated", "--cache")
    assert "rm -r" in line


def test_truncated_cache_is_one_error_in_train_not_sigbus(copy, tmp_path):
    ds, cache = copy
    os.truncate(cache / "data.mdb", 3 * page_size(cache))
    r = seg_subprocess("train", ds, "--encoder", "wiki2vec", "--epochs", "1", "--output", tmp_path / "runs")
    assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "truncated")
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def test_cache_cut_inside_its_header(copy, w2v_text):
    ds, cache = copy
    os.truncate(cache / "data.mdb", 100)
    r = seg_subprocess(*embed_args(ds, w2v_text, cache))
    assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "truncated")


def test_page_corrupted_cache_is_one_error(copy, w2v_text):
    """Every page after the two meta pages overwritten with garbage: LMDB reports
    MDB_CORRUPTED / MDB_PAGE_NOTFOUND, which must reach the user as one line."""
    ds, cache = copy
    f = cache / "data.mdb"
    ps = page_size(cache)
    data = bytearray(f.read_bytes())
    rng = np.random.default_rng(0)
    for p in range(2, len(data) // ps):
        data[p * ps:p * ps + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()  # page headers
    f.write_bytes(bytes(data))
    r = seg_subprocess(*embed_args(ds, w2v_text, cache))
    assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "damaged", "--cache")
    # the pure reader (seg train's path) says the same
    r = seg_subprocess("train", ds, "--encoder", "wiki2vec", "--epochs", "1", "--output", cache.parent / "runs")
    assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "damaged")


def test_cache_with_damaged_node_offsets_is_one_error_not_sigbus(copy, w2v_text):
    """Node offsets inside pages pointing far past the page: LMDB trusts them and reads past
    the end of the mapped file (SIGBUS); the structural check (lmdb.verify) sees it first."""
    pytest.importorskip("lmdb.verify")
    ds, cache = copy
    f = cache / "data.mdb"
    ps = page_size(cache)
    data = bytearray(f.read_bytes())
    for p in range(2, len(data) // ps):
        data[p * ps + 16:p * ps + 24] = b"\xf0\xff" * 4
    f.write_bytes(bytes(data))
    for args in (embed_args(ds, w2v_text, cache),
                 ["train", ds, "--encoder", "wiki2vec", "--epochs", "1", "--output", cache.parent / "runs"]):
        r = seg_subprocess(*args)
        assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "damaged", "out of bounds")


def flip_one_float(cache: Path, fp: str, texts: list[str]) -> int:
    """Change one float of a stored vector in data.mdb, the way a bad sector would: the vector of
    the first of `texts` whose bytes stand once in the file (two sentences of the same known
    words have the same wiki2vec vector); returns that text's index."""
    from pipeline.fingerprint import sentence_key
    from pipeline.vector_cache import VectorCache

    vc = VectorCache(cache, fp)
    with vc.env.begin(db=vc._vec) as txn:
        raws = [bytes(txn.get(sentence_key(fp, t))) for t in texts]
    forget(cache)
    f = cache / "data.mdb"
    data = bytearray(f.read_bytes())
    for k, raw in enumerate(raws):
        at = data.find(raw[:64])
        if at >= 0 and data.find(raw[:64], at + 1) < 0:
            data[at + 4:at + 8] = np.float32(np.frombuffer(raw[4:8], np.float32)[0] + 0.5).tobytes()
            f.write_bytes(bytes(data))
            return k
    raise AssertionError("no vector whose bytes stand once in data.mdb")


def test_flipped_float_is_refused_by_readers_and_reencoded_by_embed(copy, w2v_text, tmp_path):
    from pipeline.vectors import load_split_vectors

    ds, cache = copy
    m = json.loads((ds / "embeddings" / "wiki2vec.json").read_text(encoding="utf-8"))
    train = load_split(ds, "train").texts
    want = load_split_vectors(ds, "wiki2vec", "train")
    flip_one_float(cache, m["fingerprint"], train[5:])

    # readers refuse, with the command that repairs the cache
    with pytest.raises(SegError, match=rf"{cache}: 1 of {len(train)} train vectors fail their checksum.*seg embed {ds}"):
        load_split_vectors(ds, "wiki2vec", "train")
    res = runner.invoke(app, ["train", str(ds), "--encoder", "wiki2vec", "--epochs", "1", "--output", str(tmp_path / "runs")])
    assert_one_line_error(res.exit_code, res.output, str(cache), "checksum", "seg embed")

    # seg embed reports the count in one warning line, re-encodes it, and the h5 export is right
    res = runner.invoke(app, embed_args(ds, w2v_text, cache, "--export", "h5"))
    assert res.exit_code == 0, res.output
    warn = [l for l in res.output.splitlines() if "checksum" in l]
    assert len(warn) == 1 and "1 vector fails" in warn[0] and str(cache) in warn[0], res.output
    m = json.loads((ds / "embeddings" / "wiki2vec.json").read_text(encoding="utf-8"))
    assert m["counts"]["encoded"] == 1 and m["counts"]["corrupt_reencoded"] == 1
    import h5py

    with h5py.File(m["h5"]["train"], "r") as f:
        assert_reproduced(f["vectors"][...], want, "wiki2vec")
    assert_reproduced(load_split_vectors(ds, "wiki2vec", "train"), want, "wiki2vec")


def test_flipped_float_met_by_seg_segment_is_reencoded(copy, capsys):
    """`seg segment` encodes through encode_texts, a cache writer holding the encoder: like
    `seg embed` it re-encodes a corrupt vector (one warning line) instead of serving it."""
    from pipeline.vectors import embedding_info, encode_texts, load_split_vectors

    ds, cache = copy
    m = embedding_info(ds, "wiki2vec")
    dev = load_split(ds, "dev").texts
    want = load_split_vectors(ds, "wiki2vec", "dev")
    flip_one_float(cache, m["fingerprint"], dev[3:])
    capsys.readouterr()
    assert_reproduced(encode_texts(dev, m, show_progress=False), want, "wiki2vec")
    err = capsys.readouterr().err
    assert len([l for l in err.splitlines() if "checksum" in l]) == 1 and "1 vector fails" in err, err


def test_damaged_h5_export_falls_back_to_the_cache(copy, w2v_text):
    """The export carries HDF5 fletcher32 checksums: a flipped float there is detected and
    the (checksummed) cache is read instead."""
    import h5py

    from pipeline.vectors import load_split_vectors

    ds, cache = copy
    res = runner.invoke(app, embed_args(ds, w2v_text, cache, "--export", "h5"))
    assert res.exit_code == 0, res.output
    want = load_split_vectors(ds, "wiki2vec", "dev")
    p = ds / "embeddings" / "wiki2vec" / "dev.h5"
    with h5py.File(p, "r") as f:
        assert f["vectors"].fletcher32
        raw = f["vectors"][0].tobytes()
    data = bytearray(p.read_bytes())
    at = data.find(raw[:32])
    assert at >= 0
    data[at:at + 4] = np.float32(7.0).tobytes()
    p.write_bytes(bytes(data))
    np.testing.assert_array_equal(load_split_vectors(ds, "wiki2vec", "dev"), want)


# ===================================================================== seg embed: write failures

def test_disk_full_while_filling_the_cache(embedded, w2v_text, tmp_path):
    """The file system refuses to grow data.mdb (RLIMIT_FSIZE: a real failed write, portable
    and root-proof, as a full disk would): one line with the path and the errno; the
    batches committed before are kept and a re-run with room completes them."""
    ds = tmp_path / "small"
    shutil.copytree(embedded[0], ds)
    shutil.rmtree(ds / "embeddings")
    cache = tmp_path / "vc"
    limit = int((embedded[1] / "data.mdb").stat().st_size * 0.7)  # room for some batches, not all
    preamble = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))")
    r = seg_subprocess(*embed_args(ds, w2v_text, cache, "--batch-size", "32"), preamble=preamble)
    line = assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "cannot write the vector cache", "errno EFBIG")
    assert "free some space" in line and "re-run" in line
    assert not (ds / "embeddings" / "wiki2vec.json").exists() and not stray_files(ds, cache)
    res = runner.invoke(app, embed_args(ds, w2v_text, cache))
    assert res.exit_code == 0, res.output
    m = json.loads((ds / "embeddings" / "wiki2vec.json").read_text(encoding="utf-8"))
    assert m["counts"]["cached"] > 0 and m["counts"]["cached"] + m["counts"]["encoded"] == len(set(texts_of(ds)))


def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_writing_the_h5_export(copy, w2v_text, monkeypatch):
    import h5py

    ds, cache = copy
    monkeypatch.setattr(h5py.Group, "create_dataset", _enospc)
    res = runner.invoke(app, embed_args(ds, w2v_text, cache, "--export", "h5"))
    assert_one_line_error(res.exit_code, res.output, str(ds / "embeddings" / "wiki2vec" / "train.h5"), "errno ENOSPC",
                          "free some space")
    assert not stray_files(ds, cache) and not list((ds / "embeddings" / "wiki2vec").glob("*.h5"))


def test_disk_full_while_writing_the_manifest(copy, w2v_text, monkeypatch):
    ds, cache = copy
    real = Path.write_text

    def full(self, *a, **k):
        if ".tmp-" in self.name:
            real(self, "{\n", encoding="utf-8")  # a partial file, as a full disk leaves it
            _enospc()
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    res = runner.invoke(app, embed_args(ds, w2v_text, cache, "--name", "other"))
    assert_one_line_error(res.exit_code, res.output, str(ds / "embeddings" / "other.json"), "errno ENOSPC")
    assert not stray_files(ds, cache) and not (ds / "embeddings" / "other.json").exists()


def test_read_only_output_directory_for_the_h5_export(copy, w2v_text, monkeypatch):
    """A read-only dataset directory (simulated: tests run as root, where chmod blocks nothing)."""
    ds, cache = copy
    real = Path.mkdir

    def ro(self, *a, **k):
        if str(self).startswith(str(ds)) and not self.exists():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", ro)
    res = runner.invoke(app, embed_args(ds, w2v_text, cache, "--export", "h5"))
    assert_one_line_error(res.exit_code, res.output, str(ds / "embeddings" / "wiki2vec"), "errno EROFS", "writable")
    assert not stray_files(ds, cache)


def test_read_only_location_for_a_new_cache(embedded, w2v_text, tmp_path, monkeypatch):
    """--cache under a read-only directory (simulated, see above): one line, the errno, the option."""
    ds = tmp_path / "small"
    shutil.copytree(embedded[0], ds)
    cache = tmp_path / "ro" / "vc"
    real = Path.mkdir

    def ro(self, *a, **k):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", ro)
    res = runner.invoke(app, embed_args(ds, w2v_text, cache, "--name", "other"))
    assert_one_line_error(res.exit_code, res.output, str(cache), "errno EROFS", "--cache")
    assert not (ds / "embeddings" / "other.json").exists() and not stray_files(ds)


def _can_mount_tmpfs() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || "
                        "mount -t tmpfs -o size=64k tmpfs /tmp"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare and tmpfs mounts (Linux user namespaces)")
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_real_small_or_read_only_file_system_for_the_cache(embedded, w2v_text, tmp_path, fault):
    """Where a private tmpfs can be mounted: the cache on a 64 KiB one (a real ENOSPC) or a
    read-only one (a real EROFS)."""
    ds = tmp_path / "small"
    shutil.copytree(embedded[0], ds)
    shutil.rmtree(ds / "embeddings")
    cache = tmp_path / "vc"
    cache.mkdir()
    opts = "size=64k" if fault == "full" else "size=64k,ro"
    code = "from cli import main; main()"
    r = subprocess.run(["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o {opts} tmpfs "$0" && exec "$@"', str(cache),
                        sys.executable, "-c", code, *embed_args(ds, w2v_text, cache)],
                       cwd=REPO, env=dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="400"), capture_output=True, text=True,
                       timeout=180)
    assert_one_line_error(r.returncode, r.stdout + r.stderr, str(cache), "errno ENOSPC" if fault == "full" else "errno EROFS")
    assert not stray_files(ds)


def test_a_reader_adopts_a_map_another_process_grew(tmp_path):
    """`seg train` reading a cache while `seg embed` fills it: once the data outgrows the reader's
    map, LMDB answers MDB_MAP_RESIZED, which once stopped training with "the vector cache is
    damaged; remove it". The cache is fine: vector_cache.begin adopts the new map and reads on."""
    import subprocess
    import sys

    import lmdb

    from pipeline.vector_cache import begin, open_db

    env = lmdb.open(str(tmp_path), map_size=1 << 20, subdir=True)
    with env.begin(write=True) as t:
        t.put(b"first", b"1")
    env.close()
    reader = lmdb.open(str(tmp_path), readonly=True, subdir=True)
    grow = (f"import lmdb, os\nenv = lmdb.open({str(tmp_path)!r}, map_size=64 << 20, subdir=True)\n"
            "with env.begin(write=True) as t:\n    for i in range(5000): t.put(str(i).encode(), os.urandom(4000))\n")
    subprocess.run([sys.executable, "-c", grow], check=True)
    with pytest.raises(lmdb.MapResizedError):
        reader.begin()
    with begin(reader) as t:
        assert t.get(b"first") == b"1" and len(t.get(b"4999")) == 4000
    # opening a named database is a transaction too (VectorCache does it first)
    fresh = lmdb.open(str(tmp_path / "named"), map_size=1 << 20, max_dbs=2, subdir=True)
    fresh.open_db(b"vectors")
    fresh.close()
    reader = lmdb.open(str(tmp_path / "named"), readonly=True, max_dbs=2, subdir=True)
    subprocess.run([sys.executable, "-c", grow.replace(repr(str(tmp_path)), repr(str(tmp_path / "named")))], check=True)
    with pytest.raises(lmdb.MapResizedError):
        reader.open_db(b"vectors", create=False)
    assert open_db(reader, b"vectors", create=False) is not None
