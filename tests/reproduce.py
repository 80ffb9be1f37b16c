"""The check every trained model kind must pass: `seg segment --evaluate` on the raw source files
of a run's test documents reproduces what `seg train` reported for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import load_documents, load_split
from trainer.metrics import METRICS
from trainer.run import load_run
from trainer.segment import SegmentConfig, segment


def segment_reproduces_test(dataset: Path, run_dir: Path, *extra: str):
    """Segment the test documents' source files with the run (CLI, jsonl, --evaluate) and check:
    the metrics equal the best repeat's test metrics, the printed table shows them, and every gap's
    probability is the one seg train wrote. Returns (CLI result, jsonl rows, run)."""
    test = load_split(dataset, "test")
    sources = {d["doc"]: d["source"] for d in load_documents(dataset)}
    files = [sources[d] for d, _, _ in test.doc_ranges()]
    run = load_run(run_dir)
    best = run.repeats[run.best_repeat]
    res = CliRunner().invoke(app, ["segment", *files, "--run", str(run_dir), "--evaluate", "--format", "jsonl", *extra])
    assert res.exit_code == 0, res.output
    assert f"{best['test']['f1']:.3f}" in res.stderr and f"{best['test']['pk']:.3f}" in res.stderr
    with open("/dev/null", "w") as null:
        out = segment(SegmentConfig(inputs=files, run=str(run_dir), evaluate=True, format="jsonl"), stdout=null)
    assert out.threshold == pytest.approx(best["threshold"])
    for k in METRICS:
        assert out.metrics["overall"][k] == pytest.approx(best["test"][k], abs=1e-9), k
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    tp = run.predictions("test")
    pred = {(d, int(i)): float(p[run.best_repeat]) for d, i, p in zip(tp.docs, tp.index, tp.probs)}
    got = {(r["doc"], r["i"]): r["prob"] for r in rows if r["i"] > 0}
    assert len(got) == len(pred) > 50
    assert max(abs(got[k] - pred[k]) for k in pred) < 2e-6
    return res, rows, run
