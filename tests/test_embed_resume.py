"""A `seg embed` killed mid-run (SIGKILL) resumes: the next run encodes only what is missing,
and the resumed cache holds the same vectors as a clean run into a fresh cache. wiki2vec
(no torch to import, so the subprocess starts fast) also checks that the SIF weights
stored by the killed run are the ones the resumed run uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import SPLITS, load_split
from pipeline.embed import DELAY_ENV
from pipeline.vector_cache import VectorCache
from tests.fixtures_prep import private_copy
from tests.contract import assert_reproduced

REPO = Path(__file__).resolve().parent.parent


def entries(cache: Path) -> int:
    import lmdb

    if not (cache / "data.mdb").is_file():
        return 0
    env = lmdb.open(str(cache), readonly=True, lock=False, max_dbs=4)
    try:
        with env.begin() as txn:
            try:
                db = env.open_db(b"vectors", txn=txn, create=False)
            except lmdb.NotFoundError:
                return 0
            return int(txn.stat(db)["entries"])
    finally:
        env.close()


def kill_embed_after(args: list[str], cache: Path, committed: int, delay: float, what: str) -> int:
    """Run `seg <args>` in a subprocess (each committed batch followed by `delay` s), SIGKILL it once
    the cache holds at least `committed` vectors; return how many it holds then."""
    env = dict(os.environ, **{DELAY_ENV: str(delay), "HF_HUB_OFFLINE": "1"})
    proc = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # the loop ends as soon as the batches are in; the deadline only bounds a hung child (a Ray
    # driver starting on 2 loaded cores took over 120 s once)
    deadline = time.time() + 300
    try:
        while entries(cache) < committed:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, f"{what} never committed a batch"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return entries(cache)


def test_killed_run_resumes_with_exact_vectors(small_dataset, w2v_text, tmp_path):
    ds = private_copy(small_dataset, tmp_path)
    texts = [t for s in SPLITS for t in load_split(ds, s).texts]
    distinct = len(set(texts))
    cache = tmp_path / "vc"
    args = ["embed", str(ds), "--encoder", "wiki2vec", "--vectors", str(w2v_text), "--cache", str(cache), "--batch-size", "8"]
    done = kill_embed_after(args, cache, 24, 0.2, "the embedding subprocess")
    assert 24 <= done < distinct  # killed mid-run, whole batches committed

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    m = json.loads((ds / "embeddings" / "wiki2vec.json").read_text(encoding="utf-8"))
    assert m["counts"]["cached"] == done and m["counts"]["encoded"] == distinct - done
    assert VectorCache(cache, m["fingerprint"]).count() == distinct

    clean = tmp_path / "clean"
    res = CliRunner().invoke(app, [*args[:-4], "--cache", str(clean), "--name", "clean"])
    assert res.exit_code == 0, res.output
    fp = m["fingerprint"]
    a = VectorCache(cache, fp).get_many(texts)
    b = VectorCache(clean, fp).get_many(texts)
    assert a[1] == b[1] == []
    assert_reproduced(a[0], b[0], "wiki2vec")


def test_two_processes_fill_one_cache(small_dataset, w2v_text, tmp_path):
    """Two `seg embed` runs on one cache at once: both succeed, every sentence is stored once,
    and the vectors equal a clean single run's."""
    ds = private_copy(small_dataset, tmp_path)
    texts = [t for s in SPLITS for t in load_split(ds, s).texts]
    cache = tmp_path / "vc"
    env = dict(os.environ, **{DELAY_ENV: "0.02", "HF_HUB_OFFLINE": "1"})
    procs = [subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "embed", str(ds), "--encoder", "wiki2vec",
                               "--vectors", str(w2v_text), "--cache", str(cache), "--batch-size", "16", "--name", f"p{k}"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for k in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    ms = [json.loads((ds / "embeddings" / f"p{k}.json").read_text(encoding="utf-8")) for k in range(2)]
    assert ms[0]["fingerprint"] == ms[1]["fingerprint"]
    assert entries(cache) == len(set(texts))
    res = CliRunner().invoke(app, ["embed", str(ds), "--encoder", "wiki2vec", "--vectors", str(w2v_text),
                                   "--cache", str(tmp_path / "clean"), "--name", "clean"])
    assert res.exit_code == 0, res.output
    a = VectorCache(cache, ms[0]["fingerprint"]).get_many(texts)
    b = VectorCache(tmp_path / "clean", ms[0]["fingerprint"]).get_many(texts)
    assert a[1] == b[1] == []
    assert_reproduced(a[0], b[0], "wiki2vec")


def test_sentences_in_another_order_and_batches_get_the_same_vectors(small_dataset, w2v_text, tiny_sbert, tmp_path):
    """The contract holds for whole `seg embed` runs too: a dataset whose documents come in
    another order, encoded in other batches into a fresh cache, gets each sentence's vector
    back exactly (wiki2vec) or within the tolerance (sbert)."""
    import random

    ds = private_copy(small_dataset, tmp_path)
    other = tmp_path / "shuffled"
    other.mkdir()
    for f in ds.iterdir():
        if f.is_file():
            (other / f.name).write_bytes(f.read_bytes())
    for split in SPLITS:   # the documents of each split in another order
        lines = [l for l in (ds / f"{split}.jsonl").read_text(encoding="utf-8").split("\n") if l]
        docs: dict[str, list[str]] = {}
        for l in lines:
            docs.setdefault(json.loads(l)["doc"], []).append(l)
        order = list(docs)
        random.Random(3).shuffle(order)
        (other / f"{split}.jsonl").write_text("".join(l + "\n" for d in order for l in docs[d]), encoding="utf-8")
    texts = [t for s in SPLITS for t in load_split(ds, s).texts]
    for encoder, extra in (("wiki2vec", ["--vectors", str(w2v_text)]), ("sbert", ["--model", str(tiny_sbert)])):
        got = {}
        for name, d, batch in (("a", ds, "16"), ("b", other, "5")):
            cache = tmp_path / f"{encoder}-{name}"
            res = CliRunner().invoke(app, ["embed", str(d), "--encoder", encoder, *extra, "--cache", str(cache),
                                           "--batch-size", batch])
            assert res.exit_code == 0, res.output
            m = json.loads((d / "embeddings" / f"{encoder}.json").read_text(encoding="utf-8"))
            vecs, missing = VectorCache(cache, m["fingerprint"]).get_many(texts)
            assert missing == []
            got[name] = vecs
        assert_reproduced(got["b"], got["a"], encoder)
