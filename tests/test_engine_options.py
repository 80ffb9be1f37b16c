"""Options of the encoding engines that need neither Ray nor a GPU: the one-line error when
--engine ray is asked for without Ray, misplaced --address/--workers, and --device with
several devices (sentence-transformers' multi-process pool, here with two CPU processes:
the vectors must equal those of one device, bit for bit)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import SPLITS, load_split
from pipeline.prep import DEMO_CORPUS
from pipeline.vector_cache import VectorCache
from tests.fixtures_prep import private_copy
from tests.contract import assert_reproduced

runner = CliRunner()


def one_line_error(res) -> str:
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


@pytest.mark.parametrize("command", ["embed", "segment"])
def test_engine_ray_without_ray_is_one_line_naming_the_extra(command, small_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)      # as if Ray were not installed
    args = (["embed", str(small_dataset), "--cache", str(tmp_path / "vc")] if command == "embed" else
            ["segment", str(DEMO_CORPUS / "000035_1567_ruby_4948.txt"), "--run", "rule", "-o", str(tmp_path / "out")])
    line = one_line_error(runner.invoke(app, [*args, "--engine", "ray"]))
    assert "pip install 'seg[ray]'" in line and "--engine" in line
    assert not (tmp_path / "vc").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, needle", [(["--workers", "2"], "--workers applies to --engine ray"),
                                          (["--address", "auto"], "--address applies to --engine ray"),
                                          (["--engine", "spark"], "--engine 'spark'"),
                                          (["--device", "cuda:0,cpu", "--encoder", "sbert"], "mixes CPU and GPU"),
                                          (["--device", "cpu,cpu"], "--encoder sbert"),
                                          (["--device", "cpu;cpu"], "--device 'cpu;cpu'")])
def test_bad_engine_and_device_options_are_one_line(extra, needle, small_dataset, tmp_path):
    line = one_line_error(runner.invoke(app, ["embed", str(small_dataset), "--cache", str(tmp_path / "vc"), *extra]))
    assert needle in line


def test_sbert_on_two_devices_gives_the_one_device_vectors(small_dataset, tiny_sbert, tmp_path, monkeypatch):
    """--device cpu,cpu runs sentence-transformers' multi-process pool (two processes, seg's
    own batches as its chunks): the same vectors as --device cpu, bit for bit."""
    from pipeline.encoders.st_pool import AutocastSentenceTransformer

    pools = []
    start = AutocastSentenceTransformer.start_multi_process_pool

    def spy(self, devices):
        pools.append(list(devices))
        return start(self, devices)

    monkeypatch.setattr(AutocastSentenceTransformer, "start_multi_process_pool", spy)
    ds = private_copy(small_dataset, tmp_path)
    out = {}
    for name, device in (("one", "cpu"), ("two", "cpu,cpu")):
        res = runner.invoke(app, ["embed", str(ds), "--encoder", "sbert", "--model", str(tiny_sbert), "--device", device,
                                  "--cache", str(tmp_path / name), "--name", name, "--batch-size", "32"])
        assert res.exit_code == 0, res.output
        m = json.loads((ds / "embeddings" / f"{name}.json").read_text(encoding="utf-8"))
        texts = [t for s in SPLITS for t in load_split(ds, s).texts]
        vecs, missing = VectorCache(tmp_path / name, m["fingerprint"]).get_many(texts)
        assert missing == []
        out[name] = (m["fingerprint"], vecs)
    assert pools == [["cpu", "cpu"]]
    assert out["one"][0] == out["two"][0]
    assert_reproduced(out["two"][1], out["one"][1], "sbert")
