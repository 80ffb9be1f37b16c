"""`seg segment` without a trained model: input parsing, the rule baseline, output formats
and destinations, --evaluate, and the user-facing errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import load_documents, load_split
from pipeline.documents import load_document
from pipeline.prep import DEMO_CORPUS
from trainer.baselines import baseline_metrics
from trainer.data import SplitData
from trainer.metrics import METRICS
from trainer.segment import SegmentConfig, segment

runner = CliRunner()
RASHOMON = DEMO_CORPUS / "000879_127_ruby_150.txt"    # 羅生門: long narrative paragraphs and dialogue
LEMON = DEMO_CORPUS / "000074_424_ruby_19825.txt"     # 檸檬


def seg(*args: str, input: bytes | None = None):
    return runner.invoke(app, ["segment", *args], input=input)


def jsonl(text: str) -> list[dict]:
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def test_rule_jsonl_has_prep_sentences_and_the_bracket_rule():
    res = seg(str(RASHOMON), "--run", "rule", "--format", "jsonl")
    assert res.exit_code == 0, res.output
    rows = jsonl(res.stdout)
    doc = load_document(RASHOMON)
    assert [r["text"] for r in rows] == doc.sentences          # parsed exactly as prep parses it
    assert [r["i"] for r in rows] == list(range(len(doc.sentences)))
    assert {r["doc"] for r in rows} == {RASHOMON.stem}
    assert rows[0]["label"] == 1 and rows[0]["prob"] is None
    for prev, cur in zip(rows, rows[1:]):
        expect = cur["text"].startswith(("「", "『")) or prev["text"].endswith(("」", "』"))
        assert cur["label"] == int(expect) and cur["prob"] == float(expect)
    # the rule finds every dialogue paragraph of 羅生門 but not the narrative breaks between them
    assert 1 < sum(r["label"] for r in rows) < sum(doc.labels)


def test_evaluate_matches_the_rule_baseline_seg_train_reports(small_dataset):
    """--evaluate on the raw files of a split scores exactly what trainer.baselines scores on the prepped split."""
    docs = load_documents(small_dataset)
    for split in ("train", "test"):
        sp = load_split(small_dataset, split)
        sources = {d["doc"]: d["source"] for d in docs if d["split"] == split}
        files = [sources[d] for d, _, _ in sp.doc_ranges()]
        data = SplitData(split, np.zeros((len(sp), 1), np.float32), np.asarray(sp.labels), sp.texts, sp.docs, sp.index,
                         sp.doc_ranges())
        expected = baseline_metrics(data)["rule"]
        res = segment(SegmentConfig(inputs=files, run="rule", evaluate=True, format="jsonl"), stdout=open("/dev/null", "w"))
        assert [r.doc.sentences for r in res.docs] == [sp.texts[s:e] for _, s, e in sp.doc_ranges()]
        for k in METRICS:
            assert res.metrics["overall"][k] == pytest.approx(expected[k], abs=1e-12), (split, k)
        assert res.metrics["gaps"] == sum(e - s - 1 for _, s, e in sp.doc_ranges())
        assert set(res.metrics["documents"]) == {d for d, _, _ in sp.doc_ranges()}


def test_evaluate_prints_a_table_per_file_and_overall():
    res = seg(str(RASHOMON), str(LEMON), "--run", "rule", "--evaluate")
    assert res.exit_code == 0, res.output
    for col in ("P", "R", "F1", "bAcc", "Pk", "WindowD"):
        assert col in res.stderr
    assert "all" in res.stderr and "000879" in res.stderr and "000074" in res.stderr
    assert "F1" not in res.stdout          # stdout holds only the segmented text


def test_text_output_one_paragraph_per_line_and_indent():
    plain = seg(str(RASHOMON), "--run", "rule")
    ind = seg(str(RASHOMON), "--run", "rule", "--indent")
    js = seg(str(RASHOMON), "--run", "rule", "--format", "jsonl")
    assert plain.exit_code == ind.exit_code == js.exit_code == 0
    rows = jsonl(js.stdout)
    lines = plain.stdout.splitlines()
    assert len(lines) == sum(r["label"] for r in rows)
    assert "".join(lines) == "".join(r["text"] for r in rows)
    starts = [r["text"] for r in rows if r["label"]]
    assert [l[:len(s)] for l, s in zip(lines, starts)] == starts
    ilines = ind.stdout.splitlines()
    assert len(ilines) == len(lines)
    for a, b in zip(lines, ilines):
        if a.startswith(("「", "『", "（")):
            assert b == a
        else:
            assert b == "\u3000" + a
    assert any(a.startswith("「") for a in lines) and any(b.startswith("\u3000") for b in ilines)


def test_text_output_read_back_as_lines_reproduces_the_decisions(tmp_path):
    out = tmp_path / "rashomon.txt"
    res = seg(str(RASHOMON), "--run", "rule", "--indent", "--output", str(out))
    assert res.exit_code == 0, res.output
    back = seg(str(out), "--run", "rule", "--input-format", "lines", "--format", "jsonl")
    first = jsonl(seg(str(RASHOMON), "--run", "rule", "--format", "jsonl").stdout)
    doc = load_document(out, "lines")
    assert doc.sentences == [r["text"] for r in first]
    assert doc.labels == [r["label"] for r in first]
    assert back.exit_code == 0


def test_stdin_gives_the_same_result_as_the_file():
    from_file = seg(str(RASHOMON), "--run", "rule", "--format", "jsonl")
    data = RASHOMON.read_bytes()
    from_stdin = seg("-", "--run", "rule", "--format", "jsonl", input=data)
    assert from_stdin.exit_code == 0, from_stdin.output
    a, b = jsonl(from_file.stdout), jsonl(from_stdin.stdout)
    assert [(r["text"], r["label"]) for r in a] == [(r["text"], r["label"]) for r in b]
    assert {r["doc"] for r in b} == {"stdin"}
    sjis = seg("-", "--run", "rule", input=data.decode("utf-8").encode("cp932"))
    assert sjis.exit_code == 0 and sjis.stdout == seg(str(RASHOMON), "--run", "rule").stdout


def test_output_file_dir_and_no_overwrite_without_force(tmp_path):
    one = tmp_path / "one.jsonl"
    assert seg(str(LEMON), "--run", "rule", "--format", "jsonl", "-o", str(one)).exit_code == 0
    assert len(jsonl(one.read_text(encoding="utf-8"))) == len(load_document(LEMON).sentences)
    again = seg(str(LEMON), "--run", "rule", "--format", "jsonl", "-o", str(one))
    assert again.exit_code == 1 and "already exists" in again.stderr and "--force" in again.stderr
    one.write_text("old", encoding="utf-8")
    assert seg(str(LEMON), "--run", "rule", "--format", "jsonl", "-o", str(one), "--force").exit_code == 0
    assert one.read_text(encoding="utf-8") != "old"

    out = tmp_path / "out"
    res = seg(str(RASHOMON), str(LEMON), "--run", "rule", "-o", str(out))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted([RASHOMON.stem + ".txt", LEMON.stem + ".txt"])
    assert (out / (LEMON.stem + ".txt")).read_text(encoding="utf-8") == seg(str(LEMON), "--run", "rule").stdout
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temporary files left
    before = (out / (RASHOMON.stem + ".txt")).read_text(encoding="utf-8")
    res = seg(str(RASHOMON), str(LEMON), "--run", "rule", "--indent", "-o", str(out))
    assert res.exit_code == 1 and "already exists" in res.stderr
    assert (out / (RASHOMON.stem + ".txt")).read_text(encoding="utf-8") == before   # nothing was touched
    res = seg(str(RASHOMON), str(LEMON), "--run", "rule", "-o", str(one), "--force")
    assert res.exit_code == 1 and "directory" in res.stderr


@pytest.mark.parametrize("case", ["unknown_run", "run_dir_without_config", "missing_file", "empty_file", "empty_stdin",
                                  "binary_file", "headings_only", "bad_format", "ensemble_rule"])
def test_errors_are_one_line(case, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n  \n", encoding="utf-8")
    runs = tmp_path / "runs"
    (runs / "other").mkdir(parents=True)
    (runs / "other" / "config.json").write_text("{}", encoding="utf-8")
    args, stdin, expect = {
        "unknown_run": ([str(LEMON), "--run", "nope", "--runs-dir", str(runs)], None, ["nope", str(runs), "seg train", "other"]),
        "run_dir_without_config": ([str(LEMON), "--run", str(tmp_path)], None, [str(tmp_path), "seg train"]),
        "missing_file": ([str(tmp_path / "nothing.txt"), "--run", "rule"], None, ["nothing.txt", "no such file"]),
        "empty_file": ([str(empty), "--run", "rule"], None, ["empty.txt", "empty"]),
        "empty_stdin": (["-", "--run", "rule"], b"", ["standard input", "empty"]),
        "binary_file": ([str(binary), "--run", "rule"], None, ["image.txt", "binary"]),
        "headings_only": ([str(blank), "--run", "rule"], None, ["blank.txt", "no sentences"]),
        "bad_format": ([str(LEMON), "--run", "rule", "--format", "html"], None, ["--format", "jsonl"]),
        "ensemble_rule": ([str(LEMON), "--run", "rule", "--ensemble"], None, ["--ensemble"]),
    }[case]
    res = seg(*args, input=stdin)
    assert res.exit_code == 1, res.output
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    for word in expect:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in res.output
