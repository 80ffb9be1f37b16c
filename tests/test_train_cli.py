"""seg train end to end on a small real dataset (4 Aozora works) embedded with a tiny local
sentence-transformers model: every model x loss from the CLI, the run directory and its
reader, reproducibility, dev-only selection, and clean one-line errors."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline.prep import PrepConfig, prep
from trainer import catalog
from trainer.config import LOSSES, TrainConfig
from trainer.metrics import METRICS, best_threshold, segmentation_metrics
from trainer.predict import gap_sentences, predict_probs
from trainer.run import load_run
from trainer.train import fit

runner = CliRunner()
ENC = "tiny"   # the embedding name written by the train_dataset fixture


def seg_train(*args: str):
    return runner.invoke(app, ["train", *args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [l for l in result.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("model", [m for m in catalog.names() if m != "crossseg"])   # crossseg reads raw text: test_crossseg.py
def test_every_model_and_loss_trains_from_the_cli(model, train_dataset, train_data, tmp_path):
    out = tmp_path / "runs"
    for loss in LOSSES:
        r = seg_train(str(train_dataset), "--encoder", ENC, "--model", model, "--loss", loss, "--epochs", "2",
                      "--repeats", "2", "--hidden", "16", "--layers", "2",
                      *(["--memory-size", "2"] if model == "attmem" else []),   # refused where ignored
                      "--output", str(out), "--name", f"{model}-{loss}")
        assert r.exit_code == 0, r.output
        run_dir = out / f"{model}-{loss}"
        assert sorted(p.name for p in run_dir.iterdir()) == [
            "config.json", "metrics.json", "predictions-dev.jsonl", "predictions-test.jsonl", "repeat-0.pt", "repeat-1.pt"]
        run = load_run(run_dir)
        m = run.metrics
        assert m["status"] == "complete" and len(m["repeats"]) == 2
        assert [rep["seed"] for rep in m["repeats"]] == [0, 1]
        assert m["n_gaps"] == {s: len(gap_sentences(train_data[s].ranges)) for s in ("train", "dev", "test")}
        for rep in m["repeats"]:
            assert [e["epoch"] for e in rep["epochs"]] == [1, 2] and 1 <= rep["best_epoch"] <= 2
            assert set(rep["test"]) == set(METRICS) and 0 <= rep["test"]["f1"] <= 1
        assert set(m["baselines"]["test"]) == {"everywhere", "rule"}
        assert m["summary"]["test"]["f1"]["mean"] == pytest.approx(np.mean([rep["test"]["f1"] for rep in m["repeats"]]))
        assert run.config["model"]["kind"] == model and run.config["train"]["loss"] == loss
        assert run.config["embedding"]["name"] == ENC and run.config["dataset_fingerprint"]
        assert "seg train" in r.output and "rule" in r.output      # the results table

        # the stored weights and thresholds reproduce the stored test predictions and metrics
        test = train_data["test"]
        rows = [json.loads(l) for l in (run_dir / "predictions-test.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(rows) == m["n_gaps"]["test"]
        stored = np.array([row["prob"] for row in rows]).T
        probs = predict_probs(run.build_models(), test.vectors, test.ranges, run.window)
        assert np.allclose(probs, stored, atol=1e-5)
        y = np.array([row["label"] for row in rows])
        counts = [e - s - 1 for _, s, e in test.ranges]
        for k, rep in enumerate(m["repeats"]):
            again = segmentation_metrics(y, stored[k] >= run.thresholds[k], counts)
            assert again == pytest.approx(rep["test"])
        assert run.best_repeat == int(np.argmax([rep["dev"]["f1"] for rep in m["repeats"]]))


def test_attention_through_predict(train_data, tmp_path, train_dataset):
    r = seg_train(str(train_dataset), "--encoder", ENC, "--model", "attmem", "--memory-size", "3", "--heads", "2",
                  "--hidden", "16", "--epochs", "1", "--output", str(tmp_path), "--name", "att")
    assert r.exit_code == 0, r.output
    model = load_run(tmp_path / "att").build_models()[0]
    dev = train_data["dev"]
    probs, att = predict_probs(model, dev.vectors, dev.ranges, "2:2", return_attention=True)
    assert probs.shape == (len(gap_sentences(dev.ranges)),)
    assert att.shape == (len(probs), 2, 4 + 3)
    assert np.allclose(att.sum(-1), 1, atol=1e-5)


def _without_timings(metrics: dict) -> list[dict]:
    reps = json.loads(json.dumps(metrics["repeats"]))
    for rep in reps:
        for e in rep["epochs"]:
            del e["seconds"]
    return reps


def test_same_seed_same_result_other_seed_other_result(train_data):
    cfg = TrainConfig(model="bilstm", epochs=3, hidden=16, dropout=0.2)
    a, b = fit(cfg, train_data).metrics(), fit(cfg, train_data).metrics()
    assert _without_timings(a) == _without_timings(b)       # every loss, metric, epoch and threshold
    c = fit(replace(cfg, seed=1), train_data).metrics()
    assert [e["train_loss"] for e in c["repeats"][0]["epochs"]] != [e["train_loss"] for e in a["repeats"][0]["epochs"]]


def test_test_labels_never_steer_selection(train_data):
    """Flipping every test label changes the test scores but not the chosen epoch, threshold
    or weights: selection sees dev only."""
    cfg = TrainConfig(model="pool", epochs=6, hidden=16, lr=3e-3)
    flipped = dict(train_data, test=train_data["test"].with_labels(1 - train_data["test"].labels))
    a, b = fit(cfg, train_data), fit(cfg, flipped)
    for ra, rb in zip(a.repeats, b.repeats):
        assert (ra.best_epoch, ra.threshold, ra.dev) == (rb.best_epoch, rb.threshold, rb.dev)
        assert all(torch.equal(ra.state_dict[k], rb.state_dict[k]) for k in ra.state_dict)
        assert np.array_equal(ra.probs["test"], rb.probs["test"])
        # ... while the test scores are those of the labels each run was given
        counts = a.sets["test"].doc_gap_counts
        pred = ra.probs["test"] >= ra.threshold
        assert ra.test == segmentation_metrics(a.sets["test"].labels, pred, counts)
        assert rb.test == segmentation_metrics(1 - a.sets["test"].labels, pred, counts)
    # and the threshold is the dev-optimal one of the chosen epoch
    ra = a.repeats[0]
    assert ra.threshold == best_threshold(a.sets["dev"].labels, ra.probs["dev"])[0]
    assert ra.dev["f1"] == max(e["dev"]["f1"] for e in ra.epochs)


def test_runs_are_never_overwritten(train_dataset, tmp_path):
    args = [str(train_dataset), "--encoder", ENC, "--epochs", "1", "--hidden", "8", "--output", str(tmp_path)]
    assert seg_train(*args).exit_code == 0
    assert seg_train(*args).exit_code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and all(n.startswith("pool-w2x2-bce-") for n in names)
    assert seg_train(*args, "--name", "mine").exit_code == 0
    before = (tmp_path / "mine" / "metrics.json").read_text()
    msg = one_line_error(seg_train(*args, "--name", "mine", "--seed", "5"))
    assert "already exists" in msg and "--force" in msg
    assert (tmp_path / "mine" / "metrics.json").read_text() == before
    assert seg_train(*args, "--name", "mine", "--seed", "5", "--force").exit_code == 0
    assert json.loads((tmp_path / "mine" / "metrics.json").read_text())["repeats"][0]["seed"] == 5


def interrupt_at_repeat_1(monkeypatch, trained: list | None = None) -> None:
    """Make trainer.train.fit_repeat raise KeyboardInterrupt when it starts repeat 1 (Ctrl-C
    mid-run); repeats it is asked for are appended to `trained`."""
    import trainer.train as tt

    real = tt.fit_repeat

    def crash_on_repeat_1(cfg_, spec, sets, loss_fn, repeat, *a, **k):
        if trained is not None:
            trained.append(repeat)
        if repeat == 1:
            raise KeyboardInterrupt
        return real(cfg_, spec, sets, loss_fn, repeat, *a, **k)

    monkeypatch.setattr(tt, "fit_repeat", crash_on_repeat_1)


def test_an_interrupted_run_leaves_no_run_and_resumes(train_dataset, tmp_path, monkeypatch):
    import trainer.train as tt

    cfg = TrainConfig(dataset=str(train_dataset), encoder=ENC, epochs=2, repeats=3, hidden=8, output=str(tmp_path))
    real = tt.fit_repeat
    trained = []
    interrupt_at_repeat_1(monkeypatch, trained)
    with pytest.raises(KeyboardInterrupt):
        tt.train(cfg)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []   # no half-written run
    monkeypatch.setattr(tt, "fit_repeat", lambda *a, **k: (trained.append(a[4]), real(*a, **k))[1])
    run_dir = tt.train(cfg)                          # the same command again
    assert trained == [0, 1, 1, 2]                   # repeat 0 was kept, not retrained
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.json", "metrics.json", "predictions-dev.jsonl", "predictions-test.jsonl",
        "repeat-0.pt", "repeat-1.pt", "repeat-2.pt"]
    # and the resumed run is the run an uninterrupted training gives
    monkeypatch.setattr(tt, "fit_repeat", real)
    fresh = tt.train(replace(cfg, name="fresh"))
    a = json.loads((run_dir / "metrics.json").read_text())
    b = json.loads((fresh / "metrics.json").read_text())
    assert _without_timings(a) == _without_timings(b)
    assert (run_dir / "predictions-test.jsonl").read_text() == (fresh / "predictions-test.jsonl").read_text()


def test_a_stopped_run_is_finished_with_the_repeats_it_has(train_dataset, tmp_path, monkeypatch):
    """--repeats is not part of the resume match: 1 of 3 repeats done, then --repeats 1 writes
    the run from that repeat without training anything (and keeps no file of the others)."""
    import trainer.train as tt

    cfg = TrainConfig(dataset=str(train_dataset), encoder=ENC, epochs=2, repeats=3, hidden=8, output=str(tmp_path),
                      name="stopped")
    trained = []
    interrupt_at_repeat_1(monkeypatch, trained)
    with pytest.raises(KeyboardInterrupt):
        tt.train(cfg)
    monkeypatch.setattr(tt, "fit_repeat", lambda *a, **k: pytest.fail("a finished repeat was trained again"))
    run_dir = tt.train(replace(cfg, repeats=1))
    assert sorted(p.name for p in run_dir.glob("repeat-*")) == ["repeat-0.pt"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["repeats"]) == 1 and json.loads((run_dir / "config.json").read_text())["train"]["repeats"] == 1


def test_clear_errors(train_dataset, small_corpus, tmp_path):
    out = ["--output", str(tmp_path / "runs")]
    # a dataset nobody embedded: the message names the seg embed command
    bare = tmp_path / "bare"
    shutil.copytree(train_dataset, bare, ignore=shutil.ignore_patterns("embeddings"))
    msg = one_line_error(seg_train(str(bare), "--encoder", "e5", *out))
    assert "seg embed" in msg and "e5" in msg
    # an encoder name that is neither an embedding of the dataset nor an encoder
    msg = one_line_error(seg_train(str(train_dataset), "--encoder", "e6", *out))
    assert "--encoder 'e6'" in msg and ENC in msg and "seg embed" in msg
    # a split without documents (prep refuses an empty --split part, but two documents cannot fill three splits)
    two = tmp_path / "two"
    two.mkdir()
    for f in sorted(small_corpus.glob("*.txt"))[:2]:
        shutil.copy(f, two / f.name)
    nodev = prep(PrepConfig(inputs=[str(two)], output=str(tmp_path / "nodev")))
    msg = one_line_error(seg_train(str(nodev), *out))
    assert "dev split has no documents" in msg and "--split" in msg
    # bad options, before any data is read
    for opts, needle in [(["--window", "2"], "--window"), (["--window", "0:2"], "--window"),
                         (["--model", "cnn"], "--model"), (["--loss", "hinge"], "--loss"),
                         (["--epochs", "0"], "--epochs"), (["--device", "tpu"], "--device"),
                         (["--features", "brackets,pos"], "--features"),
                         (["--model", "transformer", "--hidden", "30"], "--heads")]:
        assert needle in one_line_error(seg_train(str(train_dataset), "--encoder", ENC, *opts, *out))
    assert "dataset not found" in one_line_error(seg_train(str(tmp_path / "nowhere"), *out))
    assert not (tmp_path / "runs").exists()


def test_help_explains_every_option():
    r = runner.invoke(app, ["train", "--help"])
    assert r.exit_code == 0
    for opt in ("--encoder", "--model", "--window", "--features", "--loss", "--gamma", "--alpha", "--epochs", "--repeats", "--seed",
                "--lr", "--batch-size", "--hidden", "--dropout", "--layers", "--heads", "--memory-size", "--pooling",
                "--device", "--name", "--output", "--force"):
        assert opt in r.output


def test_features_widen_the_input_and_are_recorded(train_dataset, train_data, tmp_path):
    r = seg_train(str(train_dataset), "--encoder", ENC, "--model", "bilstm", "--features", "brackets", "--epochs", "2",
                  "--hidden", "16", "--output", str(tmp_path / "runs"), "--name", "feat")
    assert r.exit_code == 0, r.output
    run = load_run(tmp_path / "runs" / "feat")
    dim = train_data["test"].vectors.shape[1]
    assert run.features == "brackets" and run.spec["dim"] == dim + 4
    test = train_data["test"]
    inputs = run.inputs(test.vectors, test.texts)
    assert inputs.shape == (len(test), dim + 4)
    # column dim marks the sentences that open a dialogue line
    assert inputs[:, dim].sum() == sum(t.startswith(("「", "『")) for t in test.texts) > 0
    stored = np.array([json.loads(l)["prob"] for l in (run.path / "predictions-test.jsonl").read_text().splitlines()]).T
    assert np.allclose(predict_probs(run.build_models(), inputs, test.ranges, run.window), stored, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_refused_before_anything_is_created(train_dataset, tmp_path):
    out = tmp_path / "runs"
    for dev in ("cuda", "cuda:1"):
        msg = one_line_error(seg_train(str(train_dataset), "--encoder", ENC, "--device", dev, "--name", "g",
                                       "--output", str(out)))
        assert f"--device {dev}" in msg and "no CUDA GPU" in msg    # cuda:N is a valid form, as in seg embed
        assert not out.exists() or list(out.iterdir()) == []        # no empty .g.partial left behind


def test_device_forms(train_dataset, tmp_path):
    for bad in ("cuda:", "cuda:x", "gpu", "cuda1"):
        msg = one_line_error(seg_train(str(train_dataset), "--encoder", ENC, "--device", bad, "--output", str(tmp_path)))
        assert "cuda:N" in msg
    from trainer.train import check_config

    check_config(TrainConfig(device="cuda:1"))       # the form is accepted; availability is checked later


def test_interrupted_run_under_the_same_name_with_other_settings_is_not_silently_discarded(train_dataset, tmp_path, monkeypatch):
    import trainer.train as tt

    cfg = TrainConfig(dataset=str(train_dataset), encoder=ENC, epochs=1, repeats=2, hidden=8, output=str(tmp_path),
                      name="mine")
    real = tt.fit_repeat
    interrupt_at_repeat_1(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        tt.train(cfg)
    partial = tmp_path / ".mine.partial"
    assert (partial / "repeat-0.json").is_file()
    monkeypatch.setattr(tt, "fit_repeat", real)
    msg = one_line_error(seg_train(str(train_dataset), "--encoder", ENC, "--epochs", "1", "--repeats", "2",
                                   "--hidden", "8", "--output", str(tmp_path), "--name", "mine", "--model", "bilstm"))
    assert "--model pool -> bilstm" in msg and "--force" in msg and str(partial) in msg
    assert (partial / "repeat-0.json").is_file()                          # the finished repeat is kept
    # --force discards it and trains the new settings
    r = seg_train(str(train_dataset), "--encoder", ENC, "--epochs", "1", "--repeats", "2", "--hidden", "8",
                  "--output", str(tmp_path), "--name", "mine", "--model", "bilstm", "--force")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "mine" / "config.json").read_text())["train"]["model"] == "bilstm"
    assert not partial.exists()


def test_torch_floor_allows_fused_adamw_on_the_cpu():
    """seg train builds AdamW(fused=True) on the CPU, which torch supports from 2.4 on."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")          # Python >= 3.11

    from packaging.requirements import Requirement
    from packaging.version import Version

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_req = next(Requirement(d) for d in deps if Requirement(d).name == "torch")
    assert not torch_req.specifier.contains(Version("2.3.1")) and torch_req.specifier.contains(Version("2.4.0"))
    torch.optim.AdamW(torch.nn.Linear(2, 1).parameters(), fused=True)     # and the installed torch can do it


def test_max_train_works_trains_on_whole_works_nested_by_seed(train_dataset, train_data, tmp_path):
    """--max-train-works N: every gap of N whole train works and none of the others, the same
    works for a seed whatever the model, nested in N (a learning curve's samples), dev and test whole."""
    from trainer.crossdata import sample_work_rows
    from trainer.train import make_gapset, train_rows

    train = train_data["train"]
    counts = train.gap_counts
    assert len(counts) >= 2
    gs = make_gapset(train, 1, 1, torch.device("cpu"))
    doc_of_gap = np.array([train.docs[i] for i in gs.sentence])
    for seed in (0, 1, 2):
        one = train_rows(TrainConfig(max_train_works=1, seed=seed), train)
        works = set(doc_of_gap[one])
        assert len(works) == 1 and len(one) == counts[[d for d, _, _ in train.ranges].index(works.pop())]
        more = sample_work_rows(counts, len(counts) - 1, seed)
        assert set(one) <= set(more) and len(set(doc_of_gap[more])) == len(counts) - 1
    assert train_rows(TrainConfig(max_train_works=len(counts)), train) is None   # all works: no sample
    res = seg_train(str(train_dataset), "--encoder", ENC, "--model", "pool", "--epochs", "1", "--max-train-works", "1",
                    "--seed", "2", "--output", str(tmp_path), "--name", "w")
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert m["n_gaps"]["train"] == len(train_rows(TrainConfig(max_train_works=1, seed=2), train))
    assert m["n_gaps"]["dev"] == len(make_gapset(train_data["dev"], 1, 1, torch.device("cpu")))
    for opts, needle in [(["--max-train-works", "-1"], "--max-train-works -1"),
                         (["--max-train-works", "1", "--model", "seq"], "--model seq"),
                         (["--max-train-works", "1", "--max-train-gaps", "10"], "give one of the two")]:
        assert needle in one_line_error(seg_train(str(train_dataset), "--encoder", ENC, *opts, "--output", str(tmp_path / "bad")))
