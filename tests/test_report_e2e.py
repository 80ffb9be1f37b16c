"""seg report on runs that `seg train` really wrote: small_dataset (4 Aozora works) embedded
with wiki2vec over the tiny word vectors of fixtures_embed, a pool run and an attmem run with
memory slots (2 repeats each), and a transformer run."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.embed import EmbedConfig, embed
from trainer.metrics import METRICS
from trainer.report.attention import attention_blocks
from trainer.report.collect import read_run
from tests.fixtures_prep import private_copy

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_runs(small_dataset, w2v_text, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report_e2e")
    ds = private_copy(small_dataset, root)
    embed(EmbedConfig(dataset=str(ds), encoder="wiki2vec", vectors=str(w2v_text), cache=str(root / "vectors")), root)
    common = [str(ds), "--encoder", "wiki2vec", "--epochs", "3", "--output", str(root / "runs"), "--hidden", "32",
              "--threads", "1"]
    for name, extra in (("pool", ["--model", "pool", "--repeats", "2"]),
                        ("attmem", ["--model", "attmem", "--repeats", "2", "--memory-size", "2", "--heads", "2"]),
                        ("transformer", ["--model", "transformer", "--heads", "2", "--window", "3:2"])):
        r = runner.invoke(app, ["train", *common, "--name", name, *extra])
        assert r.exit_code == 0, r.output
    return root / "runs"


def test_report_of_trained_runs(trained_runs, tmp_path):
    out = tmp_path / "report"
    r = runner.invoke(app, ["report", "--runs", str(trained_runs), "--output", str(out)])
    assert r.exit_code == 0, r.output
    page = (out / "index.html").read_text(encoding="utf-8")
    summary = json.loads((out / "report.json").read_text())
    for split in ("test", "dev"):
        rows = {row["name"]: row for row in summary["tables"][split]["rows"]}
        for name in ("pool", "attmem", "transformer"):
            m = json.loads((trained_runs / name / "metrics.json").read_text())
            for k in METRICS:
                assert rows[name]["values"][k] == m["summary"][split][k]
            assert rows[name]["repeats"] == len(m["repeats"])
            f1 = m["summary"][split]["f1"]
            shown = f"{f1['mean']:.3f} ± {f1['std']:.3f}" if len(m["repeats"]) > 1 else f"{f1['mean']:.3f}"
            assert shown in page
        assert {"model", "window"} <= set(summary["tables"][split]["columns"])
    # doc F1, timeline, gap types, 3 x (training, threshold), 2 attention heatmaps
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 11
    # the error analysis by gap type recombines to the trainer's own test recall: the rule's
    # (metrics.json baselines) and each run's best repeat's
    gt = summary["gap_types"]["systems"]

    def recall(by_type):
        found = sum(v["recall"] * v["breaks"] for v in by_type.values() if v["breaks"])
        return found / sum(v["breaks"] for v in by_type.values())

    for name in ("pool", "attmem", "transformer"):
        m = json.loads((trained_runs / name / "metrics.json").read_text())
        assert recall(gt["rule"]["by_type"]) == pytest.approx(m["baselines"]["test"]["rule"]["recall"])
        best = max(range(len(m["repeats"])), key=lambda k: (m["repeats"][k]["dev"]["f1"], -k))
        assert recall(gt[name]["by_type"]) == pytest.approx(m["repeats"][best]["test"]["recall"])
    assert all(base64.b64decode(b)[:4] == b"\x89PNG" for b in imgs)
    assert page.count("<figcaption>Attention per head") == 2 and "m1" in page     # attmem memory slots labelled
    assert "⚠" not in r.output                                         # nothing skipped


def test_attention_examples_reproduce_the_runs_probabilities(trained_runs, tmp_path):
    """The heatmap gaps are rebuilt from the cached vectors; their probabilities must be the
    ones `seg train` wrote for those gaps."""
    for name in ("attmem", "transformer"):
        run = read_run(trained_runs / name)
        blocks = attention_blocks(run, "test", tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
        windows = blocks[1:]
        assert 1 <= len(windows) <= 3
        preds = run.predictions("test")
        k = run.best_repeat
        for w in windows:
            doc, i, p = re.search(r"\((\S+), sentence (\d+), p=([0-9.]+)\)", w.title).groups()
            row = next(g for g in range(len(preds)) if preds.docs[g] == doc and preds.index[g] == int(i))
            assert float(p) == pytest.approx(preds.probs[row, k], abs=0.006)
            assert any(lab == "i" for lab, _, _ in w.rows)
