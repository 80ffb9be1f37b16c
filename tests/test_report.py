"""seg report on run directories built here to the run-directory contract of `seg train`.

The runs hold real gap labels of the small dataset (or synthetic documents for the
significance checks) with probabilities drawn at a chosen quality, and metrics computed by
the trainer's own metric code, so every number in the report can be checked against them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import load_split
from pipeline.errors import SegError
from trainer.metrics import METRICS, best_threshold, segmentation_metrics
from trainer.report import ReportConfig, report
from trainer.report.collect import find_runs, read_run
from trainer.report.significance import bootstrap_f1_diff, compare, compare_all, doc_counts, holm, reference_run, repeat_test
from trainer.report.tables import build_table

runner = CliRunner()


# ----------------------------------------------------------------------------- building runs

def gaps_of(labels_by_doc: list[tuple[str, list[int]]]) -> tuple[list[str], list[int], np.ndarray, list[int]]:
    """Candidate gaps (i >= 1) of documents given as (doc, sentence labels)."""
    docs, idx, lab, counts = [], [], [], []
    for d, labels in labels_by_doc:
        for i in range(1, len(labels)):
            docs.append(d); idx.append(i); lab.append(labels[i])
        counts.append(max(len(labels) - 1, 0))
    return docs, idx, np.asarray(lab), counts


def split_docs(dataset: Path, split: str) -> list[tuple[str, list[int]]]:
    s = load_split(dataset, split)
    return [(d, s.labels[a:b]) for d, a, b in s.doc_ranges()]


def synthetic_docs(n_docs: int, seed: int) -> list[tuple[str, list[int]]]:
    rng = np.random.default_rng(seed)
    return [(f"doc{k:02d}", [1] + (rng.random(int(rng.integers(40, 90))) < 0.35).astype(int).tolist()) for k in range(n_docs)]


def make_run(root: Path, name: str, splits: dict[str, list[tuple[str, list[int]]]], quality: list[float],
             dataset: Path | None = None, model: str = "pool", seed: int = 0, write_preds: bool = True,
             test_quality: list[float] | None = None, flip_test: bool = False, **train) -> Path:
    """A finished run whose repeat k separates breaks with strength quality[k] (noise sd 1.5) on dev,
    and test_quality[k] (default: the same) on test; flip_test swaps every test label afterwards
    (the probabilities stay: what a run would look like if test had been labelled the other way)."""
    rng = np.random.default_rng(seed)
    run = root / name
    run.mkdir(parents=True)
    probs = {}
    for s, docs in splits.items():
        d, i, y, counts = gaps_of(docs)
        qs = test_quality if (s == "test" and test_quality is not None) else quality
        p = [1 / (1 + np.exp(-(q * (2 * y - 1) + rng.normal(0, 1.5, len(y))))) for q in qs]
        if s == "test" and flip_test:
            y = 1 - y
        probs[s] = (d, i, y, counts, p)
    repeats = []
    for k, q in enumerate(quality):
        thr, _ = best_threshold(probs["dev"][2], probs["dev"][4][k])
        rec = {"repeat": k, "seed": seed + k, "best_epoch": 2, "threshold": thr,
               "epochs": [{"epoch": e, "train_loss": 0.7 / e, "dev_loss": 0.6 + 0.01 * e, "threshold": thr,
                           "dev": {"f1": 0.3 + 0.1 * e}, "seconds": 0.1} for e in (1, 2, 3)]}
        for s in ("dev", "test"):
            _, _, y, counts, p = probs[s]
            rec[s] = segmentation_metrics(y, p[k] >= thr, counts)
        repeats.append(rec)
    summary = {s: {m: {"mean": float(np.mean([r[s][m] for r in repeats])),
                       "std": float(np.std([r[s][m] for r in repeats], ddof=1)) if len(repeats) > 1 else 0.0}
                   for m in METRICS} for s in ("dev", "test")}
    baselines = {}
    for s in ("dev", "test"):
        _, _, y, counts, _ = probs[s]
        baselines[s] = {"everywhere": segmentation_metrics(y, np.ones_like(y), counts),
                        "rule": segmentation_metrics(y, np.arange(len(y)) % 3 == 0, counts)}
    cfg = {"model": model, "window": "2:2", "loss": "bce", "gamma": 2.0, "alpha": None, "epochs": 3,
           "repeats": len(quality), "seed": seed, "lr": 1e-3, "batch_size": 256, "hidden": 128, "layers": 1,
           "heads": 4, "memory_size": 0, "pooling": "auto", "encoder": "e5", "name": name, "output": str(root)}
    cfg.update(train)
    (run / "config.json").write_text(json.dumps({
        "train": cfg, "dataset": str(dataset) if dataset else "/nonexistent/dataset", "dataset_fingerprint": "fp",
        "embedding": {"name": cfg["encoder"], "encoder": "test", "fingerprint": "x", "dim": 8, "config": {}},
        "model": {"kind": model}, "seg_version": "0.1.0"}), encoding="utf-8")
    (run / "metrics.json").write_text(json.dumps({
        "status": "complete", "repeats": repeats, "summary": summary, "baselines": baselines,
        "n_gaps": {s: len(probs[s][2]) for s in probs}}), encoding="utf-8")
    if write_preds:
        for s, (d, i, y, _, p) in probs.items():
            with (run / f"predictions-{s}.jsonl").open("w", encoding="utf-8") as fh:
                for g in range(len(y)):
                    fh.write(json.dumps({"doc": d[g], "i": i[g], "label": int(y[g]),
                                         "prob": [round(float(x[g]), 6) for x in p]}) + "\n")
    return run


@pytest.fixture
def runs_dir(small_dataset, tmp_path) -> Path:
    """Three finished runs on the small dataset's real labels, differing in model, loss and window."""
    root = tmp_path / "runs"
    splits = {s: split_docs(small_dataset, s) for s in ("dev", "test")}
    make_run(root, "pool-good", splits, [2.5, 2.2, 2.8], small_dataset, seed=1)
    make_run(root, "attmem-focal", splits, [1.0, 1.3, 0.8], small_dataset, model="attmem", loss="focal", seed=2)
    make_run(root, "pool-w1", splits, [0.3], small_dataset, window="1:1", seed=3)
    return root


# ----------------------------------------------------------------------------- the table

def test_table_numbers_are_the_runs_metrics(runs_dir):
    runs = find_runs([], runs_dir)
    for split in ("dev", "test"):
        t = build_table(runs, split, sort="f1")
        model_rows = [r for r in t.rows if r.kind == "run"]
        assert [r.name for r in model_rows] == ["pool-good", "attmem-focal", "pool-w1"]   # sorted by F1
        for row in model_rows:
            m = json.loads((runs_dir / row.name / "metrics.json").read_text())
            for k in METRICS:
                assert row.values[k] == (m["summary"][split][k]["mean"], m["summary"][split][k]["std"])
            assert row.repeats == len(m["repeats"])
        # settings that differ are shown, identical ones are not
        assert {"encoder", "model", "window", "loss"} <= set(t.columns)
        assert "lr" not in t.columns and "hidden" not in t.columns
        # best marks: highest F1, lowest Pk
        f1_best = max(model_rows, key=lambda r: r.values["f1"][0])
        pk_best = min(model_rows, key=lambda r: r.values["pk"][0])
        assert "f1" in f1_best.best and "pk" in pk_best.best
        assert sum("f1" in r.best for r in t.rows) == 1
        base = {r.name: r for r in t.rows if r.kind == "baseline"}
        m = json.loads((runs_dir / "pool-good" / "metrics.json").read_text())
        assert base["baseline: break everywhere"].values["recall"][0] == m["baselines"][split]["everywhere"]["recall"] == 1.0
        assert base["baseline: bracket rule"].values["f1"][0] == m["baselines"][split]["rule"]["f1"]
        # a baseline value is flagged only where it beats every run
        for b in base.values():
            for k in METRICS:
                runs_best = (min if k in ("pk", "windowdiff") else max)(r.values[k][0] for r in model_rows)
                beats = b.values[k][0] < runs_best if k in ("pk", "windowdiff") else b.values[k][0] > runs_best
                assert (k in b.beats) == beats
    # sorting by a lower-is-better metric puts the lowest first
    t = build_table(runs, "test", sort="windowdiff")
    wd = [r.values["windowdiff"][0] for r in t.rows if r.kind == "run"]
    assert wd == sorted(wd)


def test_report_html_and_md_show_the_numbers_and_every_plot(runs_dir, tmp_path):
    cfg = ReportConfig(runs_dir=str(runs_dir), output=str(tmp_path / "rep-html"), resamples=500)
    out = report(cfg)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert list(p.name for p in out.iterdir()) and not list(out.glob("*.png"))   # self-contained
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # per document, timeline, gap types, 3 x (training + threshold): attmem has no weights here -> no heatmap
    assert len(imgs) == 9
    import base64
    for b in imgs:
        raw = base64.b64decode(b)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 5000
    m = json.loads((runs_dir / "attmem-focal" / "metrics.json").read_text())
    f1 = m["summary"]["test"]["f1"]
    assert f"{f1['mean']:.3f} ± {f1['std']:.3f}" in page
    assert "羅生門" in page or "檸檬" in page or "ごん狐" in page or "注文の多い料理店" in page   # titles and sentences
    assert re.search(r"attention heatmaps skipped: no repeat-\d\.pt", page)

    cfg = ReportConfig(runs_dir=str(runs_dir), output=str(tmp_path / "rep-md"), format="md", resamples=500, split="dev")
    out = report(cfg)
    md = (out / "report.md").read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert len(linked) == 9
    for name in linked:
        assert (out / name).stat().st_size > 5000
    assert f"{m['summary']['dev']['f1']['mean']:.3f}" in md
    summary = json.loads((out / "report.json").read_text())
    assert summary["tables"]["dev"]["rows"][0]["values"]["f1"]["mean"] == max(
        json.loads((runs_dir / n / "metrics.json").read_text())["summary"]["dev"]["f1"]["mean"]
        for n in ("pool-good", "attmem-focal", "pool-w1"))


def test_existing_report_needs_force(runs_dir, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = runner.invoke(app, ["report", "--runs", str(runs_dir), "--output", str(out)])
    assert r.exit_code == 1 and "--force" in r.output and (out / "keep.txt").exists()
    # one run named under --runs: a report of that run alone
    r = runner.invoke(app, ["report", "pool-w1", "--runs", str(runs_dir), "--output", str(out), "--force", "--format", "md"])
    assert r.exit_code == 0, r.output
    assert (out / "report.md").exists() and not (out / "keep.txt").exists()
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "pool-w1" in r.output and "pool-good" not in md and "nothing to compare" in md


# ----------------------------------------------------------------------------- significance

def test_bootstrap_separates_a_clearly_better_run_and_not_identical_ones(tmp_path):
    splits = {s: synthetic_docs(40, seed) for s, seed in (("dev", 10), ("test", 11))}
    better = read_run(make_run(tmp_path, "better", splits, [3.0, 3.2, 2.8], seed=1))
    worse = read_run(make_run(tmp_path, "worse", splits, [0.6, 0.5, 0.7], seed=2))
    twin = read_run(make_run(tmp_path, "twin", splits, [3.0, 3.2, 2.8], seed=1))

    c = compare(worse, better, "test", resamples=2000, seed=0)
    # the point estimate is the difference of the runs' own test F1 (trainer's metric code)
    f1 = lambda r: r.metrics["summary"]["test"]["f1"]["mean"]
    assert c.diff == pytest.approx(f1(worse) - f1(better), abs=1e-9)
    assert c.diff < -0.15 and c.lo < c.diff < c.hi < 0 and c.holds_up
    assert c.n_docs == 40 and c.test == "Welch t" and c.p < 0.01 and c.p_boot < 0.01

    few = {s: synthetic_docs(3, seed) for s, seed in (("dev", 12), ("test", 13))}
    c3 = compare(read_run(make_run(tmp_path / "few", "worse", few, [0.6], seed=2)),
                 read_run(make_run(tmp_path / "few", "better", few, [3.0], seed=1)), "test", resamples=500)
    assert c3.n_docs == 3 and c3.hi < 0 and c3.holds_up is None and "too few" in c3.note   # no verdict from 3 novels

    same = compare(twin, better, "test", resamples=2000, seed=0)
    assert same.diff == 0 and same.lo <= 0 <= same.hi and not same.holds_up and same.p_boot == 1.0
    assert same.test == "Welch t" and same.p == 1.0   # never paired, even with the same seeds


def test_bootstrap_interval_matches_scipy(tmp_path):
    """The vectorised document bootstrap agrees with scipy.stats.bootstrap (paired, percentile)."""
    splits = {s: synthetic_docs(25, seed) for s, seed in (("dev", 20), ("test", 21))}
    a = read_run(make_run(tmp_path, "a", splits, [1.2, 1.0], seed=5))
    b = read_run(make_run(tmp_path, "b", splits, [0.9, 1.1], seed=6))
    docs = list(a.predictions("test").doc_slices())
    ca, cb = doc_counts(a.predictions("test"), a.thresholds, docs), doc_counts(b.predictions("test"), b.thresholds, docs)
    diff, lo, hi, _ = bootstrap_f1_diff(ca, cb, resamples=4000, seed=0)

    def f1diff(idx):
        idx = idx.astype(int)
        sa, sb = ca[idx].sum(0), cb[idx].sum(0)
        fa = (2 * sa[:, 0] / (2 * sa[:, 0] + sa[:, 1] + sa[:, 2])).mean()
        fb = (2 * sb[:, 0] / (2 * sb[:, 0] + sb[:, 1] + sb[:, 2])).mean()
        return fa - fb

    ref = stats.bootstrap((np.arange(len(docs), dtype=float),), f1diff, vectorized=False, n_resamples=4000,
                          method="percentile", random_state=1)
    assert diff == pytest.approx(f1diff(np.arange(len(docs))))
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_repeat_test_is_welch_even_for_equal_seeds():
    """Repeats of two runs share a seed number, not an initialisation: the test is unpaired."""
    a, b = [0.8, 0.82, 0.79], [0.6, 0.61, 0.63]
    name, t, p = repeat_test(a, b)
    assert name == "Welch t" and p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert p != pytest.approx(stats.ttest_rel(a, b).pvalue)
    name, t, p = repeat_test([0.8, 0.82, 0.79], [0.6, 0.61])
    assert name == "Welch t" and p == pytest.approx(stats.ttest_ind([0.8, 0.82, 0.79], [0.6, 0.61], equal_var=False).pvalue)
    assert repeat_test([0.8], [0.6, 0.7]) == ("", None, None)


def test_holm_adjusted_p_values_are_at_least_raw_and_keep_their_order():
    rng = np.random.default_rng(4)
    for _ in range(50):
        raw = list(rng.uniform(0, 0.2, int(rng.integers(1, 10))))
        adj = holm(raw)
        assert all(a >= r for a, r in zip(adj, raw)) and all(a <= 1 for a in adj)
        order = np.argsort(raw, kind="stable")
        assert all(adj[order[k]] <= adj[order[k + 1]] for k in range(len(raw) - 1))
    # the textbook example (Holm 1979 as in statsmodels' multipletests): p * (m - rank), running max
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, None, 0.01]) == [pytest.approx(0.2), None, pytest.approx(0.02)]


def _dev_vs_test_runs(root: Path, flip_test: bool = False) -> list:
    """'dev-best' is best on dev but worst on test; 'test-best' the other way round."""
    splits = {s: synthetic_docs(30, seed) for s, seed in (("dev", 30), ("test", 31))}
    make_run(root, "dev-best", splits, [3.0, 2.8], test_quality=[0.4, 0.5], seed=1, flip_test=flip_test)
    make_run(root, "test-best", splits, [0.8, 0.9], test_quality=[3.0, 3.1], seed=2, flip_test=flip_test)
    make_run(root, "middle", splits, [1.5, 1.4], test_quality=[1.5, 1.6], seed=3, flip_test=flip_test)
    return find_runs([], root)


def test_reference_run_is_chosen_on_dev_not_test(tmp_path):
    runs = _dev_vs_test_runs(tmp_path / "runs")
    test_f1 = {r.name: r.summary("test")["f1"]["mean"] for r in runs}
    assert max(test_f1, key=test_f1.get) == "test-best"           # the old choice
    assert reference_run(runs).name == "dev-best"
    comps = compare_all(runs, reference_run(runs), "test", resamples=500)
    assert {c.best for c in comps} == {"dev-best"} and {c.run for c in comps} == {"test-best", "middle"}
    assert all(c.p_boot_holm >= c.p_boot for c in comps)
    # the page says which split chose the reference, and holds the dev-best run as the reference
    out = report(ReportConfig(runs_dir=str(tmp_path / "runs"), output=str(tmp_path / "rep"), format="md", resamples=200))
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "reference run **dev-best**" in md and "on the **dev** split" in md and "Holm" in md
    js = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert js["reference"] == {"run": "dev-best", "chosen_on": "dev", "by": "highest mean F1", "correction": "Holm"}


def test_flipping_every_test_label_does_not_change_the_reference(tmp_path):
    plain = reference_run(_dev_vs_test_runs(tmp_path / "a"))
    flipped_runs = _dev_vs_test_runs(tmp_path / "b", flip_test=True)
    flipped = reference_run(flipped_runs)
    assert plain.name == flipped.name == "dev-best"
    # the test metrics did change (so a test-based choice could have moved)
    assert plain.summary("test")["f1"]["mean"] != flipped.summary("test")["f1"]["mean"]


# ----------------------------------------------------------------------------- broken and missing runs

def test_half_written_and_old_runs_get_a_note_not_a_crash(runs_dir, tmp_path):
    half = runs_dir / "half"
    half.mkdir()
    (half / "config.json").write_text((runs_dir / "pool-w1" / "config.json").read_text())
    running = runs_dir / "running"
    running.mkdir()
    (running / "config.json").write_text((runs_dir / "pool-w1" / "config.json").read_text())
    (running / "metrics.json").write_text(json.dumps({"status": "running", "repeats": [], "summary": {}}))
    old = runs_dir / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"model": "bilstm", "window": 2}))
    (old / "metrics.json").write_text(json.dumps({"f1": 0.5, "precision": 0.4}))
    make_run(runs_dir, "nopred", {s: split_docs(Path(json.loads((runs_dir / "pool-w1" / "config.json").read_text())["dataset"]), s)
                                           for s in ("dev", "test")}, [1.0], seed=9, write_preds=False)

    names = ["half", "running", "old", "nopred", "pool-w1"]
    r = runner.invoke(app, ["report", *[str(runs_dir / n) for n in names], "--output", str(tmp_path / "rep"), "--format", "md"])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert re.search(r"\| half ⚠ \|.*—", md) and "incomplete: no metrics.json" in md
    assert "incomplete: status 'running'" in md
    assert re.search(r"\| old ⚠ \|", md) and "old format" in md
    assert "no predictions-test.jsonl" in md
    # the finished runs are still fully reported
    assert "pool-w1-training.png" in md and "nopred-training.png" in md and "nopred-threshold" not in md


def test_no_runs_is_one_clear_line(tmp_path):
    r = runner.invoke(app, ["report", "--runs", str(tmp_path / "nothing"), "--output", str(tmp_path / "rep")])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "no runs found" in lines[0] and "seg train" in lines[0]
    r = runner.invoke(app, ["report", str(tmp_path / "missing-run"), "--output", str(tmp_path / "rep")])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "seg train" in r.output
    with pytest.raises(SegError, match="--split"):
        report(ReportConfig(split="train"))


# ----------------------------------------------------------------------------- error analysis by gap type

def test_error_analysis_by_gap_type_for_every_run_and_both_baselines(runs_dir, small_dataset, tmp_path):
    from sklearn.metrics import precision_recall_fscore_support

    from trainer.baselines import rule_predictions
    from trainer.report.gaptypes import GAP_TYPES

    out = report(ReportConfig(runs_dir=str(runs_dir), output=str(tmp_path / "rep"), format="md", resamples=200))
    js = json.loads((out / "report.json").read_text(encoding="utf-8"))["gap_types"]
    assert js["split"] == "test" and set(js["systems"]) == {"pool-good", "attmem-focal", "pool-w1", "rule", "everywhere"}

    # recompute independently from the dataset's sentences: type of each gap, then P/R/F1 per type
    s = load_split(small_dataset, "test")
    opens = [t.lstrip(" \u3000\t")[:1] in ("「", "『") for t in s.texts]
    gaps = [k for k, i in enumerate(s.index) if i > 0]
    kind = {k: ("dialogue" if opens[k - 1] else "narration") + "→" + ("dialogue" if opens[k] else "narration") for k in gaps}
    assert {kind[k] for k in gaps} == set(GAP_TYPES)         # the small dataset has all four
    pos = {(d, i): k for k, (d, i) in enumerate(zip(s.docs, s.index))}

    def expect(pred_by_sentence: dict[int, int]) -> dict:
        res = {}
        for t in GAP_TYPES:
            ks = [k for k in gaps if kind[k] == t]
            y = [s.labels[k] for k in ks]
            p, r, f, _ = precision_recall_fscore_support(y, [pred_by_sentence[k] for k in ks], average="binary",
                                                         zero_division=0)
            res[t] = {"gaps": len(ks), "breaks": sum(y), "precision": p, "recall": r, "f1": f}
        return res

    run = read_run(runs_dir / "attmem-focal")
    preds, k = run.predictions("test"), run.best_repeat
    model = {pos[(d, int(i))]: int(p >= run.thresholds[k]) for d, i, p in zip(preds.docs, preds.index, preds.probs[:, k])}
    rule = dict(zip(gaps, rule_predictions(s.texts, np.asarray(gaps)).tolist()))
    for name, pred in (("attmem-focal", model), ("rule", rule), ("everywhere", {k: 1 for k in gaps})):
        want = expect(pred)
        for t in GAP_TYPES:
            for m, v in want[t].items():
                assert js["systems"][name]["by_type"][t][m] == pytest.approx(v), (name, t, m)
    assert js["systems"]["everywhere"]["by_type"]["narration→narration"]["recall"] == 1.0
    assert sum(js["systems"]["rule"]["by_type"][t]["gaps"] for t in GAP_TYPES) == len(gaps)

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "F1 by gap type" in md and "narration→dialogue F1" in md and "rule (baseline)" in md
    assert (out / "gap-types-test.png").stat().st_size > 5000
    section = md[md.index("F1 by gap type"):]
    row = next(l for l in section.splitlines() if l.startswith("| attmem-focal |"))
    assert f"{js['systems']['attmem-focal']['by_type']['dialogue→narration']['f1']:.3f}" in row
    html_out = report(ReportConfig(runs_dir=str(runs_dir), output=str(tmp_path / "rep-html"), resamples=200))
    page = (html_out / "index.html").read_text(encoding="utf-8")
    assert "F1 by gap type" in page and "dialogue→dialogue F1" in page and page.count("data:image/png") >= 2
