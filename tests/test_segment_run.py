"""`seg segment --run` with a real trained run: reproduces what `seg train` reported on the
test documents (from their raw files), --ensemble, --threshold, the vector cache, and the
errors of unusable runs.

The run: small_dataset (4 Aozora works, split 2:1:1) embedded with wiki2vec over the tiny
word vectors of fixtures_embed (fast, and its SIF state must be restored from the cache to
encode new text), a pool model trained 4 epochs with 2 repeats; and the same model with
`--features brackets,length` (segment must rebuild those input columns from the new text).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import load_documents
from pipeline.documents import load_document
from pipeline.embed import EmbedConfig, embed
from pipeline.prep import DEMO_CORPUS
from pipeline.vector_cache import VectorCache
from trainer.config import TrainConfig
from trainer.metrics import best_threshold, segmentation_metrics
from trainer.run import load_run
from trainer.segment import SegmentConfig, segment
from trainer.train import train
from tests.fixtures_prep import private_copy
from tests.reproduce import segment_reproduces_test

runner = CliRunner()
MELOS = DEMO_CORPUS / "000035_1567_ruby_4948.txt"    # 走れメロス: not in small_dataset, so new text
SANGETSUKI = DEMO_CORPUS / "000119_624_ruby_5668.txt"    # 山月記: new text segmented by one test only


@pytest.fixture(scope="module")
def trained(small_dataset, w2v_text, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("segment_run")
    ds = private_copy(small_dataset, root)
    manifest = embed(EmbedConfig(dataset=str(ds), encoder="wiki2vec", vectors=str(w2v_text), cache=str(root / "vectors")),
                     root)
    run_dir = train(TrainConfig(dataset=str(ds), encoder="wiki2vec", model="pool", window="2:2", epochs=4, repeats=2,
                                seed=3, name="pool-w2v", output=str(root / "runs")), root)
    featured = train(TrainConfig(dataset=str(ds), encoder="wiki2vec", model="pool", window="2:2", epochs=4, repeats=2,
                                 seed=3, features="brackets,length", name="pool-w2v-features",
                                 output=str(root / "runs")), root)
    with pytest.MonkeyPatch.context() as mp:     # a prior weight > 0, so segment's Viterbi path is what is checked
        mp.setattr("trainer.decode.WEIGHTS", (1.0,))
        seq_viterbi = train(TrainConfig(dataset=str(ds), encoder="wiki2vec", model="seq", chunk=16, hidden=16, epochs=3,
                                        repeats=2, seed=3, features="brackets,cues,tokens", decode="viterbi",
                                        name="seq-viterbi", output=str(root / "runs")), root)
    seq_crf = train(TrainConfig(dataset=str(ds), encoder="wiki2vec", model="seq", arch="transformer", chunk=16,
                                hidden=16, heads=2, epochs=3, repeats=2, seed=3, decode="crf", name="seq-crf",
                                output=str(root / "runs")), root)
    return {"root": root, "dataset": ds, "run": run_dir, "featured": featured, "manifest": manifest,
            "seq-viterbi": seq_viterbi, "seq-crf": seq_crf}


def test_fixture_run_is_usable(trained):
    run = load_run(trained["run"])
    assert len(run.repeats) == 2 and run.window == (2, 2)
    assert run.config["embedding"]["fingerprint"] == trained["manifest"]["fingerprint"]


@pytest.mark.parametrize("which", ["run", "featured", "seq-viterbi", "seq-crf"])
def test_evaluate_on_raw_test_files_reproduces_seg_train_test_metrics(trained, which):
    """The lead's check: segment the raw source files of the run's test documents with --evaluate."""
    run = load_run(trained[which])
    best = run.repeats[run.best_repeat]
    if which == "seq-viterbi":
        assert best["decoder"]["weight"] == 1.0 and run.decoder(run.best_repeat).prior.n_paragraphs > 0
    res, _, _ = segment_reproduces_test(trained["dataset"], trained[which], "--runs-dir", str(trained[which].parent))
    assert f"repeat {best['repeat']}" in res.stderr and "F1" in res.stderr


def test_ensemble_averages_all_repeats_with_a_threshold_tuned_on_mean_dev_probabilities(trained):
    run_dir = trained["run"]
    run = load_run(run_dir)
    ds = trained["dataset"]
    files = [d["source"] for d in load_documents(ds) if d["split"] == "test"]
    preds = run.predictions("test")
    mean_prob = preds.probs.mean(axis=1)
    # the ensemble's own threshold: best F1 of the averaged dev probabilities (what each repeat's was)
    dev = run.predictions("dev")
    thr, _ = best_threshold(dev.labels, dev.probs.mean(axis=1))
    assert thr != pytest.approx(float(np.mean(run.thresholds)))    # the old rule gives another cut here
    expect = segmentation_metrics(preds.labels, mean_prob >= thr, preds.doc_gap_counts())
    out = segment(SegmentConfig(inputs=files, run=str(run_dir), ensemble=True, evaluate=True, format="jsonl"),
                  stdout=open("/dev/null", "w"))
    assert out.threshold == pytest.approx(thr)
    assert "ensemble" in out.segmenter
    probs = np.concatenate([r.probs[1:] for r in out.docs])
    assert np.abs(probs - mean_prob).max() < 2e-6
    assert out.metrics["overall"]["f1"] == pytest.approx(expect["f1"], abs=1e-9)
    assert out.metrics["overall"]["pk"] == pytest.approx(expect["pk"], abs=1e-9)


def test_threshold_override_and_output_formats(trained, tmp_path):
    run_dir = str(trained["run"])
    common = [str(MELOS), "--run", run_dir]
    rows = [json.loads(l) for l in runner.invoke(app, ["segment", *common, "--format", "jsonl"]).stdout.splitlines()]
    probs = np.array([r["prob"] for r in rows[1:]])
    assert len(rows) == len(load_document(MELOS).sentences)
    # a cut half-way between two distinct neighbouring probabilities: the jsonl probabilities are
    # rounded, so a cut equal to one of them could fall on either side of the unrounded value
    u = np.unique(probs)
    k = len(u) // 2
    cut = float((u[k - 1] + u[k]) / 2)
    low = [json.loads(l) for l in runner.invoke(app, ["segment", *common, "--format", "jsonl", "--threshold", str(cut)]).stdout.splitlines()]
    assert [r["label"] for r in low[1:]] == [int(p >= cut) for p in probs]
    assert low[0]["label"] == 1
    txt = runner.invoke(app, ["segment", *common, "--threshold", str(cut), "--indent"])
    assert txt.exit_code == 0
    assert len(txt.stdout.splitlines()) == sum(r["label"] for r in low)
    # the text is the input's cleaned text (spaces between sentences included) less the added indents
    assert "".join(l.removeprefix("\u3000") for l in txt.stdout.splitlines()) == "".join(load_document(MELOS).paragraphs())


def test_new_text_is_encoded_once_then_read_from_the_cache(trained, tmp_path):
    manifest = trained["manifest"]
    texts = load_document(SANGETSUKI).sentences
    cache = VectorCache(Path(manifest["cache"]), manifest["fingerprint"])
    before = len(cache.missing(list(dict.fromkeys(texts))))
    assert before > 0
    first = runner.invoke(app, ["segment", str(SANGETSUKI), "--run", str(trained["run"]), "--format", "jsonl"])
    assert first.exit_code == 0, first.output
    assert "encode" in first.stderr and "predict" in first.stderr and "sent/s" in first.stderr
    assert VectorCache(Path(manifest["cache"]), manifest["fingerprint"]).missing(list(dict.fromkeys(texts))) == []
    second = runner.invoke(app, ["segment", str(SANGETSUKI), "--run", str(trained["run"]), "--format", "jsonl"])
    assert second.stdout == first.stdout and "encode" not in second.stderr


def test_run_whose_encoder_is_gone_is_a_clean_error(trained, tmp_path):
    broken = tmp_path / "runs" / "broken"
    shutil.copytree(trained["run"], broken)
    cfg = json.loads((broken / "config.json").read_text(encoding="utf-8"))
    cfg["embedding"]["config"]["vectors"] = str(tmp_path / "gone" / "words.txt")
    cfg["embedding"]["cache"] = str(tmp_path / "fresh-cache")      # nothing cached: must encode
    (broken / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    res = runner.invoke(app, ["segment", str(MELOS), "--run", "broken", "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 1
    lines = [l for l in res.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "wiki2vec" in lines[0] and "Traceback" not in res.output


def test_unfinished_run_and_pickled_checkpoint_are_refused(trained, tmp_path):
    import pickle

    import torch

    class Evil:
        def __reduce__(self):
            return (exec, ("open(%r, 'w').write('pwned')" % str(tmp_path / "pwned"),))

    run = tmp_path / "runs" / "evil"
    shutil.copytree(trained["run"], run)
    best = load_run(run).best_repeat
    torch.save({"x": Evil()}, run / f"repeat-{load_run(run).repeats[best]['repeat']}.pt", pickle_module=pickle)
    res = runner.invoke(app, ["segment", str(MELOS), "--run", str(run)])
    assert res.exit_code == 1 and "repeat-" in res.stderr
    assert not (tmp_path / "pwned").exists()

    half = tmp_path / "runs" / "half"
    shutil.copytree(trained["run"], half)
    (half / "metrics.json").unlink()
    res = runner.invoke(app, ["segment", str(MELOS), "--run", str(half)])
    assert res.exit_code == 1 and "metrics.json" in res.stderr


def _one_error_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [l for l in res.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    return lines[0]


@pytest.mark.parametrize("content", ["[]", '"x"', "3", "null"])
def test_run_config_that_is_json_but_not_an_object_is_one_line(trained, tmp_path, content):
    bad = tmp_path / "runs" / "notobj"
    shutil.copytree(trained["run"], bad)
    (bad / "config.json").write_text(content, encoding="utf-8")
    msg = _one_error_line(runner.invoke(app, ["segment", str(MELOS), "--run", str(bad)]))
    assert "config.json" in msg and "not a JSON object" in msg


@pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
def test_damaged_weights_name_the_file_and_never_advise_weights_only_false(trained, tmp_path, damage):
    bad = tmp_path / "runs" / "damaged"
    shutil.copytree(trained["run"], bad)
    run = load_run(bad)
    f = bad / f"repeat-{run.repeats[run.best_repeat]['repeat']}.pt"
    data = f.read_bytes()
    f.write_bytes({"random": np.random.default_rng(0).bytes(4096), "truncated": data[: len(data) // 2],
                   "empty": b""}[damage])
    msg = _one_error_line(runner.invoke(app, ["segment", str(MELOS), "--run", str(bad)]))
    assert str(f) in msg and "retrain" in msg
    assert "weights_only" not in msg and "Unpickler" not in msg


@pytest.mark.parametrize("value", ["2", "-1", "0", "1", "nan"])
def test_threshold_outside_0_1_is_refused(trained, value):
    msg = _one_error_line(runner.invoke(app, ["segment", str(MELOS), "--run", str(trained["run"]), "--threshold", value]))
    assert "--threshold" in msg and "between 0 and 1" in msg


def test_every_segmenter_returns_the_same_shape(trained):
    """A trained run, the rule and texttiling all return a Segmentation over the same sentences,
    with a decision of 1 at each input's first sentence and a score (nan there) per sentence."""
    from trainer.segment import Segmentation, Segmenter, read_inputs

    docs = read_inputs([str(MELOS), str(SANGETSUKI)])
    n = sum(len(d.sentences) for d in docs)
    starts = [0, len(docs[0].sentences)]
    cfg = SegmentConfig(inputs=[], run="texttiling", encoder="wiki2vec", dataset=str(trained["dataset"]))
    outs = [Segmenter(SegmentConfig(run=str(trained["run"])))(docs), Segmenter(SegmentConfig(run="rule"))(docs),
            Segmenter(cfg, trained["root"])(docs)]
    for seg in outs:
        assert isinstance(seg, Segmentation) and seg.description
        assert seg.probs.shape == seg.decisions.shape == (n,) and seg.decisions.dtype == np.int64
        assert set(np.unique(seg.decisions)) <= {0, 1} and all(seg.decisions[s] == 1 for s in starts)
        assert np.isnan(seg.probs[starts]).all() and not np.isnan(np.delete(seg.probs, starts)).any()
    model, rule, _ = outs
    assert model.threshold == load_run(trained["run"]).thresholds[load_run(trained["run"]).best_repeat]
    assert (model.decisions[1:] == (model.probs[1:] >= model.threshold))[np.arange(1, n) != starts[1]].all()
    assert rule.threshold is None and np.array_equal(np.delete(rule.decisions, starts), np.delete(rule.probs, starts))
