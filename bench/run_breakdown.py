"""Per test author and per gap type, finished runs against the bracket rule and against each other.

    .venv/bin/python bench/run_breakdown.py RUN [RUN ...] [--json OUT.json] [--md OUT.md]

Each RUN is a `seg train` run directory (its predictions-test.jsonl and metrics.json; the
dataset its config.json names, for the sentences, their authors and the rule). Printed per run:
test F1 and Pk (mean ± std over its repeats), narration→narration F1 (the gap between two
sentences neither of which opens or closes a line of dialogue; mean ± std), dev F1, the seconds
per epoch of training; then per test author the F1 of the run's best-dev repeat (the one
`seg segment` uses) beside the rule's on that author's gaps. Nothing is chosen here: each
repeat's threshold is the one dev chose when it was trained (the `break` decisions stored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import f1_score  # noqa: E402

from pipeline.dataset import load_split  # noqa: E402
from trainer.baselines import rule_predictions  # noqa: E402
from trainer.report.gaptypes import gap_type_codes, is_dialogue, scores_by_type  # noqa: E402

NN = "narration→narration"


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return float(np.mean(xs)), float(np.std(xs))


def breakdown(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    dataset = Path(config["train"]["dataset"])
    test = load_split(dataset, "test")
    where = {(d, i): s for s, (d, i) in enumerate(zip(test.docs, test.index))}
    rows = [json.loads(line) for line in (run / "predictions-test.jsonl").read_text(encoding="utf-8").splitlines()]
    sentence = np.asarray([where[(r["doc"], r["i"])] for r in rows])
    labels = np.asarray([r["label"] for r in rows])
    breaks = np.asarray([r["break"] for r in rows]).T            # (repeats, gaps)
    codes = gap_type_codes(is_dialogue(test.texts), sentence)
    rule = rule_predictions(test.texts, sentence)
    reps = metrics["repeats"]
    best = int(np.argmax([r["dev"]["f1"] for r in reps]))         # first on ties, as Run.best_repeat
    docs = [json.loads(line) for line in (dataset / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    author_of = {d["doc"]: d.get("author") or d["doc"] for d in docs}
    gap_author = np.asarray([author_of[test.docs[s]] for s in sentence])
    by_author = {}
    for a in sorted(set(gap_author)):
        sel = gap_author == a
        by_author[a] = {"gaps": int(sel.sum()),
                        "f1": float(f1_score(labels[sel], breaks[best][sel], zero_division=0)),
                        "rule_f1": float(f1_score(labels[sel], rule[sel], zero_division=0))}
    epochs = [len(r.get("epochs") or []) for r in reps]
    seconds = [sum(e.get("seconds") or 0 for e in r.get("epochs") or []) for r in reps]
    return {
        "run": run.name, "repeats": len(reps),
        "test_f1": _mean_std([r["test"]["f1"] for r in reps]),
        "test_pk": _mean_std([r["test"]["pk"] for r in reps]),
        "dev_f1": _mean_std([r["dev"]["f1"] for r in reps]),
        "nn_f1": _mean_std([scores_by_type(labels, b, codes)[NN]["f1"] for b in breaks]),
        "rule": {"f1": float(f1_score(labels, rule)), "nn_f1": scores_by_type(labels, rule, codes)[NN]["f1"]},
        "s_per_epoch": float(np.sum(seconds)) / sum(epochs) if sum(epochs) and all(seconds) else None,
        "epochs_trained": epochs, "best_repeat": best, "by_author": by_author,
    }


def markdown(results: list[dict]) -> str:
    out = ["| run | repeats | test F1 | Pk | narration→narration F1 | dev F1 | s/epoch | above the rule on |",
           "| --- | ---: | --- | --- | --- | --- | ---: | --- |"]
    for r in results:
        above = sum(v["f1"] > v["rule_f1"] for v in r["by_author"].values())
        fmt = lambda m: f"{m[0]:.3f} ± {m[1]:.3f}"  # noqa: E731
        spe = f"{r['s_per_epoch']:.1f}" if r["s_per_epoch"] else "—"
        out.append(f"| {r['run']} | {r['repeats']} | {fmt(r['test_f1'])} | {fmt(r['test_pk'])} | {fmt(r['nn_f1'])} | "
                   f"{fmt(r['dev_f1'])} | {spe} | {above} of {len(r['by_author'])} authors |")
    r0 = results[0]
    out += ["", f"rule: test F1 {r0['rule']['f1']:.3f}, narration→narration F1 {r0['rule']['nn_f1']:.3f}", "",
            "| test author | gaps | rule F1 | " + " | ".join(r["run"] for r in results) + " |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in results) + " |"]
    for a, v in sorted(r0["by_author"].items(), key=lambda kv: -kv[1]["gaps"]):
        out.append(f"| {a} | {v['gaps']:,} | {v['rule_f1']:.3f} | "
                   + " | ".join(f"{r['by_author'][a]['f1']:.3f}" for r in results) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (of one dataset, for the per-author table)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    ap.add_argument("--md", type=Path, default=None, help="also write the Markdown tables here (default: none)")
    a = ap.parse_args()
    results = [breakdown(r) for r in a.runs]
    md = markdown(results)
    print(md)
    if a.json:
        a.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if a.md:
        a.md.write_text(md, encoding="utf-8")


if __name__ == "__main__":
    main()
