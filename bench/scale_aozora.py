"""Issue 24's scale-up: the same system trained on the shared corpus alone and with a larger
Aozora corpus added to train, scored on the shared corpus's own dev and test (not a test).

    .venv/bin/python bench/scale_aozora.py --root ROOT --split author --extra x400 [--repeats 3]
        [--system bilstm] [--out docs/scale_aozora]

Reads ROOT/datasets/aozora-<split> (bench/quality.sh's prep) and ROOT/datasets/aozora-<split>-<extra>
(the same prep with `--train-extra` a `seg corpus aozora` folder: bench/scale_aozora.sh makes
both), each embedded with e5. Trains the system (bench/learning_curve.py's SYSTEMS) with seeds
0..repeats-1 on each; dev chooses epoch and threshold, test is scored once. Prints and writes
OUT/<split>-<extra>.json and .md: test F1, Pk, narration→narration F1 and dev F1 (mean ± std),
train seconds, and per test author the F1 of the best-dev repeat against the bracket rule on
that author's gaps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning_curve import SYSTEMS  # noqa: E402
from pipeline.fsutil import write_json_atomic, write_text_atomic  # noqa: E402
from pipeline.progress import quiet  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from trainer.baselines import rule_predictions  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.data import load_data  # noqa: E402
from trainer.report.gaptypes import gap_type_codes, is_dialogue, scores_by_type  # noqa: E402
from trainer.train import fit  # noqa: E402

console = Console()


def authors_of(dataset: Path) -> dict[str, str]:
    rows = [json.loads(l) for l in (dataset / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["doc"]: r.get("author") or r["doc"] for r in rows}


def evaluate(dataset: Path, system: str, repeats: int) -> dict:
    opts = SYSTEMS[system]
    data, _ = load_data(dataset, opts["encoder"], opts["features"])
    cfg = TrainConfig(**{k: v for k, v in opts.items() if k not in ("encoder", "features")},
                      encoder=opts["encoder"], features=opts["features"], repeats=repeats)
    t0 = time.perf_counter()
    with quiet():
        res = fit(cfg, data)
    seconds = time.perf_counter() - t0
    test = res.sets["test"]
    texts = data["test"].texts
    codes = gap_type_codes(is_dialogue(texts), test.sentence)
    per = []
    for r in res.repeats:
        pred = r.probs["test"] >= r.threshold
        per.append({"test_f1": r.test["f1"], "test_pk": r.test["pk"], "dev_f1": r.dev["f1"],
                    "test_nn_f1": scores_by_type(test.labels, pred, codes)["narration→narration"]["f1"]})
    best = max(res.repeats, key=lambda r: r.dev["f1"])
    author = authors_of(dataset)
    gap_author = np.array([author[data["test"].docs[i]] for i in test.sentence])
    rule = rule_predictions(texts, test.sentence)
    pred = best.probs["test"] >= best.threshold
    by_author = {}
    for a in sorted(set(gap_author)):
        sel = gap_author == a
        by_author[a] = {"gaps": int(sel.sum()), "f1": float(f1_score(test.labels[sel], pred[sel], zero_division=0)),
                        "rule_f1": float(f1_score(test.labels[sel], rule[sel], zero_division=0))}
    summary = {k: (float(np.mean([p[k] for p in per])), float(np.std([p[k] for p in per]))) for k in per[0]}
    return {"dataset": str(dataset), "train_gaps": int(sum(data["train"].gap_counts)),
            "train_works": len(data["train"].spans), "seconds": round(seconds, 1), "repeats": per,
            "summary": summary, "rule": res.baselines["test"]["rule"], "by_author": by_author}


def markdown(split: str, extra: str, system: str, rows: dict) -> str:
    out = [f"### {split} split: {system}, shared corpus alone vs + {extra}", "",
           "| train set | works | train gaps | test F1 | test Pk ↓ | narration→narration F1 | dev F1 | repeats | train time |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        s = r["summary"]
        c = lambda k: f"{s[k][0]:.3f} ± {s[k][1]:.3f}"
        out.append(f"| {name} | {r['train_works']} | {r['train_gaps']:,} | {c('test_f1')} | {c('test_pk')} | "
                   f"{c('test_nn_f1')} | {c('dev_f1')} | {len(r['repeats'])} | {r['seconds']:.0f} s |")
    rule = next(iter(rows.values()))["rule"]
    out += [f"| *bracket rule* | | | {rule['f1']:.3f} | {rule['pk']:.3f} | | | | |", "",
            "Per test author (best-dev repeat, the author's gaps pooled): F1 against the rule's", "",
            "| author | gaps | rule | " + " | ".join(rows) + " |", "|---|---:|---:|" + "---:|" * len(rows)]
    first = next(iter(rows.values()))["by_author"]
    for a in first:
        out.append(f"| {a} | {first[a]['gaps']:,} | {first[a]['rule_f1']:.3f} | "
                   + " | ".join(f"{r['by_author'][a]['f1']:.3f}" for r in rows.values()) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="cache")
    ap.add_argument("--split", default="author")
    ap.add_argument("--extra", default="x400", help="suffix of the dataset with --train-extra")
    ap.add_argument("--system", default="bilstm", choices=sorted(SYSTEMS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="docs/scale_aozora")
    ap.add_argument("--only", choices=("base", "extra"), help="train one of the two now (the other's figures are "
                    "kept in OUT's json from an earlier call); default: both")
    args = ap.parse_args()
    root = Path(args.root) / "datasets"
    out = Path(args.out)
    state = out / f"{args.split}-{args.extra}.json"
    rows = json.loads(state.read_text()) if args.only and state.is_file() else {}
    for key, name, ds in (("base", "shared corpus", root / f"aozora-{args.split}"),
                          ("extra", f"+ {args.extra}", root / f"aozora-{args.split}-{args.extra}")):
        if args.only and args.only != key:
            continue
        rows[name] = evaluate(ds, args.system, args.repeats)
        s = rows[name]["summary"]
        console.print(f"{args.split} {name}: test F1 {s['test_f1'][0]:.3f} Pk {s['test_pk'][0]:.3f} "
                      f"nn-F1 {s['test_nn_f1'][0]:.3f} dev F1 {s['dev_f1'][0]:.3f} ({rows[name]['seconds']:.0f} s)")
    out.mkdir(parents=True, exist_ok=True)
    rows = dict(sorted(rows.items(), key=lambda kv: kv[0] != "shared corpus"))
    write_json_atomic(state, rows)
    md = markdown(args.split, args.extra, args.system, rows)
    write_text_atomic(out / f"{args.split}-{args.extra}.md", md)
    console.print(md)


if __name__ == "__main__":
    main()
