"""`seg embed --engine ray` against the local engine, e5 on a fixed sample of demo sentences.

    .venv/bin/python bench/bench_ray.py [--n 1000] [--encoder e5]

Needs the Ray extra (pip install 'seg[ray]'). Every run encodes the same N distinct sentences
(sampled with a fixed seed from the bundled demo corpus) into a fresh cache and must give
bit-identical vectors. Measured:

  (a) whole commands, each a new process: `seg embed` vs `seg embed --engine ray --workers 1`,
      which starts a local Ray itself (what a one-off run on one machine costs)
  (b) on a Ray already running (as on a cluster, where `ray start` was done once): the local
      engine vs --workers 1 (the engine's own overhead: actor start, model load in the actor,
      Ray Data scheduling; target <= 10%) and --workers 2 (throughput with two actors), in the
      order local, 1, 2, 2, 1, local so a drifting machine load cancels
  (c) the device it ran on (CPU count; GPUs when Ray sees any)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from bench_embed import write_dataset  # noqa: E402
from pipeline.dataset import SPLITS, load_split  # noqa: E402
from pipeline.embed import EmbedConfig, embed  # noqa: E402
from pipeline.progress import quiet  # noqa: E402
from pipeline.vector_cache import VectorCache  # noqa: E402


def row(what: str, value: str, ratio: str = "", target: str = "") -> None:
    print(f"  {what:<60}{value:>14}{ratio:>10}{target:>8}", flush=True)


def demo_sentences(n: int, tmp: Path) -> list[str]:
    from pipeline.prep import PrepConfig, prep

    with quiet():
        ds = prep(PrepConfig(output=str(tmp / "demo")))
    texts = sorted({t for s in SPLITS for t in load_split(ds, s).texts})
    return random.Random(0).sample(texts, min(n, len(texts)))


def read(ds: Path, cache: Path, name: str) -> np.ndarray:
    m = json.loads((ds / "embeddings" / f"{name}.json").read_text(encoding="utf-8"))
    vecs, missing = VectorCache(cache, m["fingerprint"]).get_many(load_split(ds, "train").texts)
    assert not missing
    return vecs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="distinct demo sentences (default 1000)")
    ap.add_argument("--encoder", default="e5", help="encoder (default e5, bundled)")
    args = ap.parse_args()
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="bench_ray-"))
    texts = demo_sentences(args.n, tmp)
    n = len(texts)
    ds = write_dataset(tmp, texts)
    print(f"seg embed --encoder {args.encoder}, {n} distinct demo sentences, {os.cpu_count()} CPUs; ray {ray.__version__}",
          flush=True)
    ref = None

    def check(cache: Path, name: str) -> None:
        nonlocal ref
        v = read(ds, cache, name)
        if ref is None:
            ref = v
        assert np.array_equal(v, ref), f"{name}: vectors differ from the first run's"

    # (a) whole commands, each in a new process
    seg = [sys.executable, "-c", "from cli import main; main()"]
    proc = {}
    for tag, extra in (("local", []), ("ray", ["--engine", "ray", "--workers", "1"])):
        cache = tmp / f"proc-{tag}"
        t0 = time.perf_counter()
        subprocess.run([*seg, "embed", str(ds), "--encoder", args.encoder, "--cache", str(cache), "--name", f"proc-{tag}",
                        *extra], cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc[tag] = time.perf_counter() - t0
        check(cache, f"proc-{tag}")
    row("(a) seg embed, new process (local engine)", f"{proc['local']:.1f} s")
    row("(a) seg embed --engine ray --workers 1, new process + local Ray", f"{proc['ray']:.1f} s",
        f"{proc['ray'] / proc['local'] - 1:+.1%}")

    # (b) on a running Ray
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="error")
    print(f"  Ray resources: {ray.cluster_resources()}", flush=True)
    times: dict[str, list[float]] = {"local": [], "1": [], "2": []}
    for k, tag in enumerate(("local", "1", "2", "2", "1", "local")):
        cache = tmp / f"vc-{k}"
        cfg = EmbedConfig(dataset=str(ds), encoder=args.encoder, cache=str(cache), name=f"run{k}",
                          engine="local" if tag == "local" else "ray", workers=0 if tag == "local" else int(tag))
        t0 = time.perf_counter()
        with quiet():
            m = embed(cfg, REPO / "cache")
        times[tag].append(time.perf_counter() - t0)
        assert m["counts"]["encoded"] == n
        check(cache, f"run{k}")
    local, w1, w2 = (sum(times[t]) / len(times[t]) for t in ("local", "1", "2"))
    row("(b) local engine (seg embed in a running process)", f"{n / local:,.1f} sent/s", f"{local:.1f} s")
    row("(b) --engine ray --workers 1 on a running Ray", f"{n / w1:,.1f} sent/s", f"{w1 / local - 1:+.1%}", "<= 10%")
    row("(b) --engine ray --workers 2 on a running Ray", f"{n / w2:,.1f} sent/s", f"{w2 / local - 1:+.1%}")
    row("    runs (s): " + ", ".join(f"{t} {' / '.join(f'{x:.1f}' for x in v)}" for t, v in times.items()), "")
    print("  every run gave bit-identical vectors", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
