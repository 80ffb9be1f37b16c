"""`import seg`, the Python API (seg.py): the same results as the commands, a segmenter that
loads once, SegError for bad input, silence with progress=False, and the README example.

The runs: train_dataset (4 Aozora works, split 2:1:1, embedded with the tiny
sentence-transformers model of fixtures_embed under the name "tiny"), a pool model trained
3 epochs through seg.train, and the same with --decode viterbi. New text: 走れメロス and
山月記 from the bundled corpus, which are not in the dataset; a private vector cache keeps
their vectors out of the other tests' cache.
"""

from __future__ import annotations

import inspect
import json
import pydoc
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

import seg
from cli import app
from pipeline.documents import load_document
from pipeline.prep import DEMO_CORPUS
from pipeline.reader import read_text
from trainer.run import Run, load_run

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
MELOS = DEMO_CORPUS / "000035_1567_ruby_4948.txt"        # 走れメロス
SANGETSUKI = DEMO_CORPUS / "000119_624_ruby_5668.txt"    # 山月記
TRAIN = dict(encoder="tiny", model="pool", epochs=3, seed=5)


@pytest.fixture(scope="module")
def api(train_dataset, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("api")
    runs = root / "runs"
    run = seg.train(train_dataset, **TRAIN, name="api-pool", output=runs, progress=False)
    viterbi = seg.train(train_dataset, **TRAIN, decode="viterbi", name="api-viterbi", output=str(runs), progress=False)
    return {"root": root, "runs": runs, "run": run, "viterbi": viterbi, "cache": root / "vectors"}


def _cli(*args: str) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.stdout


# ----------------------------------------------------------------------------- same results as the commands

@pytest.mark.parametrize("which", ["rule", "run", "viterbi"])
def test_segment_equals_the_cli_output(api, which):
    run = "rule" if which == "rule" else api[which].name
    opts = ["--runs-dir", api["runs"], "--cache", api["cache"]]
    sg = seg.load(run, runs_dir=api["runs"], cache=api["cache"], progress=False)
    text = read_text(MELOS)[0]                          # the file decoded as seg segment decodes it
    paragraphs = sg.segment(text)
    assert "\n".join(paragraphs) + "\n" == _cli("segment", MELOS, "--run", run, *opts)
    assert 10 < len(paragraphs) < len(load_document(MELOS).sentences)
    # predict: the sentences, probabilities and decisions of --format jsonl
    rows = [json.loads(line) for line in _cli("segment", MELOS, "--run", run, "--format", "jsonl", *opts).splitlines()]
    got = sg.predict(text)
    assert [s for s, _, _ in got] == [r["text"] for r in rows]
    assert [d for _, _, d in got] == [r["label"] for r in rows]
    assert got[0][1] is None and rows[0]["prob"] is None
    assert np.allclose([p for _, p, _ in got[1:]], [r["prob"] for r in rows[1:]], atol=1e-6)
    # evaluate: the figures of --evaluate, against the text's own breaks
    from trainer.segment import SegmentConfig, segment

    cli = segment(SegmentConfig(inputs=[str(MELOS)], run=run, runs_dir=str(api["runs"]), cache=str(api["cache"]),
                                evaluate=True), stdout=open("/dev/null", "w")).metrics
    mine = sg.evaluate(text)
    assert mine["overall"] == cli["overall"] and (mine["gaps"], mine["breaks"]) == (cli["gaps"], cli["breaks"])
    if which == "viterbi":                  # the run's own decoder and length prior, as seg train scored
        run = load_run(api["viterbi"].path)
        assert "Viterbi" in sg.description
        probs = np.array([p for _, p, _ in got[1:]])
        want = run.decoder(run.best_repeat).decide(probs, [len(probs)])
        assert np.array_equal([d for _, _, d in got[1:]], want)


def test_text_forms_and_threshold_override(api):
    sg = seg.load(api["run"].path, cache=api["cache"], progress=False)
    lines = [p.rstrip() for p in read_text(SANGETSUKI)[0].splitlines()]
    assert sg.segment(lines) == sg.segment("\n".join(lines))        # a list is the text's lines
    text = "".join(load_document(SANGETSUKI).sentences[:60])
    # a text without breaks comes back character for character, cut into paragraphs
    assert "".join(sg.segment(text)) == text
    low = seg.load(api["run"].path, cache=api["cache"], threshold=0.01, progress=False)
    assert len(low.segment(text)) > len(sg.segment(text))
    assert sum(d for _, _, d in low.predict(text)) == len(low.segment(text))


def test_train_returns_the_run_the_cli_writes(api, train_dataset):
    _cli("train", train_dataset, "--encoder", "tiny", "--model", "pool", "--epochs", "3", "--seed", "5",
         "--name", "cli-pool", "--output", api["runs"])
    cli_run = api["runs"] / "cli-pool"
    run = api["run"]
    assert isinstance(run, Run) and run.path == api["runs"] / "api-pool"

    def untimed(d):
        if isinstance(d, dict):
            return {k: untimed(v) for k, v in d.items() if k != "seconds"}
        return [untimed(v) for v in d] if isinstance(d, list) else d

    cli_metrics = json.loads((cli_run / "metrics.json").read_text(encoding="utf-8"))
    assert run.metrics == json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))
    assert untimed(run.metrics) == untimed(cli_metrics)
    assert run.metrics["repeats"][0]["epochs"][0]["seconds"] > 0       # there were timings to leave out
    cli_config = json.loads((cli_run / "config.json").read_text(encoding="utf-8"))
    assert {**run.config["train"], "name": None} == {**cli_config["train"], "name": None}
    other = seg.train(train_dataset, **{**TRAIN, "seed": 6}, name="api-seed6", output=api["runs"], progress=False)
    assert untimed(other.metrics) != untimed(run.metrics)                # the seed matters, so equality means something


# ----------------------------------------------------------------------------- loaded once

def test_a_segmenter_loads_its_model_encoder_and_cache_once(api, tmp_path, monkeypatch):
    import sentence_transformers

    import pipeline.vectors
    from trainer.run import Run as RunClass

    counts = {"model": 0, "encoder": 0, "sentence_transformer": 0, "cache": 0}

    def counting(key, fn):
        def wrapper(*a, **k):
            counts[key] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(RunClass, "build_model", counting("model", RunClass.build_model))
    monkeypatch.setattr(pipeline.vectors, "make_encoder", counting("encoder", pipeline.vectors.make_encoder))
    monkeypatch.setattr(pipeline.vectors, "VectorCache", counting("cache", pipeline.vectors.VectorCache))
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer",
                        counting("sentence_transformer", sentence_transformers.SentenceTransformer))
    sentences = load_document(SANGETSUKI).sentences
    new = ["".join(sentences[2 * k:2 * k + 2]) for k in range(10)]
    texts = [new[k % 10] for k in range(100)]       # 100 calls: 10 need the encoder, 90 read the cache
    sg = seg.load(api["run"].path, cache=tmp_path / "vectors", progress=False)   # an empty cache: all encoded
    assert counts["model"] == 1
    out = [sg.segment(t) for t in texts]
    assert all("".join(p) == t for p, t in zip(out, texts))
    assert counts == {"model": 1, "encoder": 1, "sentence_transformer": 1, "cache": 1}
    # the counters see the CLI path load per invocation, so they would catch a reload
    (tmp_path / "new.txt").write_text(new[0] + new[1], encoding="utf-8")
    for _ in range(2):
        _cli("segment", tmp_path / "new.txt", "--run", api["run"].path, "--cache", tmp_path / "vectors")
    assert counts["model"] == 3 and counts["cache"] == 3


# ----------------------------------------------------------------------------- errors and silence

def test_errors_raise_segerror(api, tmp_path):
    assert seg.SegError is __import__("pipeline.errors").errors.SegError
    cases = [
        (lambda: seg.load("no-such-run", runs_dir=api["runs"]), "no run of that name"),
        (lambda: seg.load("rule", threshold=0.5), "--threshold does not apply"),
        (lambda: seg.load("rule").segment(""), "holds no sentences"),
        (lambda: seg.load("rule").segment(3), "give a str or a list of str"),
        (lambda: seg.train(epoch=3), "unknown option 'epoch' (did you mean 'epochs'?)"),
        (lambda: seg.train(epochs="3"), "epochs='3' is not int"),
        (lambda: seg.train("a", "b"), "one positional argument"),
        (lambda: seg.prep([tmp_path / "missing.txt"], output=tmp_path / "ds"), "missing.txt: no such file"),
        (lambda: seg.report(runs_dir=tmp_path / "none", output=tmp_path / "r"), "no runs found under"),
    ]
    for call, message in cases:
        with pytest.raises(seg.SegError) as e:
            call()
        assert message in str(e.value) and "\n" not in str(e.value), (message, str(e.value))


def test_progress_false_prints_nothing(api, train_dataset, tmp_path, capfd):
    texts = ["\n".join(load_document(MELOS).sentences[k:k + 3]) for k in (300, 310)]   # 3 lines: a warning

    def work(progress: bool, k: int) -> None:
        seg.train(train_dataset, **{**TRAIN, "epochs": 1}, name=f"quiet-{progress}", output=tmp_path / "runs",
                  progress=progress)
        sg = seg.load(f"quiet-{progress}", runs_dir=tmp_path / "runs", cache=tmp_path / "vectors", progress=progress)
        sg.segment(texts[k])                          # new sentences: encoded (a progress bar), and a warning
        seg.report(runs_dir=tmp_path / "runs", output=tmp_path / f"report-{progress}", resamples=100, progress=progress)

    work(True, 0)
    loud = capfd.readouterr()
    assert "seg train" in loud.err and "warning" in loud.err and "report written" in loud.out
    work(False, 1)
    assert capfd.readouterr() == ("", "")
    with seg.quiet():
        seg.load("rule").segment(texts[0])
    assert capfd.readouterr() == ("", "")
    seg.load("rule").segment(texts[0])                # the switch is back off after the block
    assert "warning" in capfd.readouterr().err


# ----------------------------------------------------------------------------- one source of truth, documentation

@pytest.mark.parametrize("command", ["prep", "embed", "train", "report", "segment"])
def test_options_are_the_cli_options_with_the_same_defaults(command):
    params = dict(inspect.signature(getattr(seg, command)).parameters)
    assert params.pop("progress").default is True
    click_params = {p.name: p for p in typer.main.get_command(app).commands[command].params}
    assert list(params) and set(params) == set(click_params)
    for name, p in params.items():
        want = click_params[name].default
        want = str(want) if isinstance(want, Path) else want
        got = p.default
        if isinstance(got, list) and not got:
            got = None                               # an empty list of inputs/runs: typer's None
        if not click_params[name].required:
            assert got == want, (command, name, got, want)
    doc = inspect.getdoc(getattr(seg, command))
    for name, p in click_params.items():              # each option with its --help text
        assert f"{name}: " in doc and " ".join(p.help.split()[:6]) in " ".join(doc.split()), (command, name)


def test_help_gives_an_overview():
    text = pydoc.render_doc(seg, renderer=pydoc.plaintext)
    overview = seg.__doc__
    for name in ("load", "segment", "predict", "evaluate", "prep", "embed", "train", "report", "SegError", "quiet"):
        assert name in overview, name
    for name in seg.__all__:
        obj = getattr(seg, name)
        assert inspect.getdoc(obj), name
        assert name in text
    hints = inspect.signature(seg.load).parameters
    assert all(p.annotation is not inspect.Parameter.empty for p in hints.values())
    for m in ("segment", "predict", "evaluate"):
        assert inspect.getdoc(getattr(seg.Segmenter, m)) and "return" in getattr(seg.Segmenter, m).__annotations__


# ----------------------------------------------------------------------------- the README example

def test_the_readme_example_runs(train_dataset, tmp_path, monkeypatch, capsys):
    """docs/api_example.py (the README's Python API block) against a demo dataset made of
    train_dataset and its tiny embedding, under SEG_CACHE."""
    cache = tmp_path / "cache"
    shutil.copytree(train_dataset, cache / "datasets" / "demo")
    monkeypatch.setenv("SEG_CACHE", str(cache))
    monkeypatch.setenv("SEG_ENCODER", "tiny")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(REPO / "docs" / "api_example.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "pool: test F1" in out and "bilstm: test F1" in out and "no-such-run" in out
    assert (tmp_path / "runs" / "api-pool" / "metrics.json").is_file()
    assert (tmp_path / "runs" / "api-bilstm" / "metrics.json").is_file()


def test_readme_example_is_the_file_the_tests_run():
    """The README's Python API block is docs/api_example.py, character for character."""
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    block = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert block + "\n" == (repo / "docs" / "api_example.py").read_text(encoding="utf-8")
