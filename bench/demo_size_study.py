"""Is a demo-sized corpus enough for a trained model to beat the bracket rule?

    .venv/bin/python bench/demo_size_study.py [--works 15] [--samples 6] [--split 8:1:1] [--corpus DIR] [--root DIR]

Draws --samples random corpora of --works works from the shared corpus WITHOUT the 15 bundled
demo works (so the demo's own test split is never looked at), and on each runs what `make demo`
runs for its window model: prep (--split, default 8:1:1 — the demo's split when the README's
figures were made; `make demo` now splits 7:4:4 — seed 0), e5 embedding (into ROOT/vectors: free once the
corpus is cached), bilstm 2:2 + --features brackets, 3 repeats, dev-chosen. Prints, per sample,
the train size and the test F1 / Pk of the model (mean over repeats) and of the rule, and
whether the model beats the rule on both.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import seg  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--works", type=int, default=15, help="works per sampled corpus (default 15, the demo's)")
    ap.add_argument("--samples", type=int, default=6, help="sampled corpora (default 6)")
    ap.add_argument("--split", default="8:1:1", help="train:dev:test of each sampled corpus (default 8:1:1)")
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "aozora"), help="the shared corpus")
    ap.add_argument("--root", default=str(REPO / "cache"), help="vectors/ cache and the study's datasets and runs")
    args = ap.parse_args()
    corpus, root = Path(args.corpus), Path(args.root)
    demo = {r["file"] for r in csv.DictReader(open(REPO / "pipeline" / "demo_corpus" / "MANIFEST.tsv", encoding="utf-8"),
                                              delimiter="\t")}
    header = open(corpus / "MANIFEST.tsv", encoding="utf-8").readline().rstrip("\n").split("\t")
    pool = [r for r in csv.DictReader(open(corpus / "MANIFEST.tsv", encoding="utf-8"), delimiter="\t")
            if r["file"] not in demo]
    study = root / "demo-size-study"
    print(f"{len(pool)} works outside the demo; {args.samples} samples of {args.works}")
    print("sample\ttrain sentences\ttest docs\tmodel F1\trule F1\tmodel Pk\trule Pk\tmodel wins both")
    wins = 0
    with seg.quiet():
        for k in range(args.samples):
            pick = random.Random(1000 + k).sample(pool, args.works)
            src = study / f"corpus-{k}"
            shutil.rmtree(src, ignore_errors=True)
            src.mkdir(parents=True)
            with open(src / "MANIFEST.tsv", "w", encoding="utf-8") as f:
                f.write("\t".join(header) + "\n")
                for r in pick:
                    os.symlink((corpus / r["file"]).resolve(), src / r["file"])
                    f.write("\t".join(r[c] or "" for c in header) + "\n")
            ds = seg.prep(inputs=[str(src)], output=str(study / f"dataset-{k}"), split=args.split, seed=0, force=True)
            seg.embed(str(ds), encoder="e5", cache=str(root / "vectors"))
            run = seg.train(str(ds), encoder="e5", model="bilstm", window="2:2", features="brackets", repeats=3,
                            output=str(study / "runs"), name=f"bilstm-{k}", force=True)
            test, rule = run.metrics["summary"]["test"], run.metrics["baselines"]["test"]["rule"]
            splits = json.loads((Path(ds) / "stats.json").read_text(encoding="utf-8"))["splits"]
            win = test["f1"]["mean"] > rule["f1"] and test["pk"]["mean"] < rule["pk"]
            wins += win
            print(f"{k}\t{splits['train']['sentences']}\t{splits['test']['documents']}\t"
                  f"{test['f1']['mean']:.3f}\t{rule['f1']:.3f}\t{test['pk']['mean']:.3f}\t{rule['pk']:.3f}\t{'yes' if win else 'no'}",
                  flush=True)
    print(f"the model beat the rule on both F1 and Pk in {wins} of {args.samples}")


if __name__ == "__main__":
    main()
