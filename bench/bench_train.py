"""Speed of `seg train`: seconds per epoch and gaps/s of every model (not a test).

    .venv/bin/python bench/bench_train.py [--dataset DIR] [--encoder e5] [--epochs 2] [--threads N]

Three measurements, all in this one process, next to a reference workload measured in the
same run (a fixed float32 matmul, reported as GFLOP/s) so figures from a busy or another
machine can be compared as ratios:

  1. real data: the train split of --dataset (default: cache/datasets/aozora, else
     aozora30k, whichever has an e5 embedding, else cache/datasets/demo) -- seconds per training epoch (block-shuffled
     batches of 256, AdamW, backward) and gaps/s of scoring (eval, batches of 4096, as seg train scores dev and test);
  2. synthetic: 100,000 candidate gaps of 384-dim random vectors in documents of 700
     sentences -- the per-100k-gap figure the targets are stated in
     (pool < 2 s, bilstm, transformer and the seq models < 10 s per epoch per 100k gaps on a
     2-core CPU; seq = --model seq --arch bilstm, seq-transformer, seq-crf = with --decode crf);
  3. a full experiment: `fit` with --repeats 5 and the default epochs and patience of the pool
     model on ~30,000 sentences (the real dataset, its train split cut to 30k when larger;
     synthetic train vectors when it is the small demo).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import catalog  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.data import SplitData, load_data  # noqa: E402
from trainer.losses import GapLoss  # noqa: E402
from trainer.models import build_model  # noqa: E402
from trainer.seqdata import make_chunkset, train_epoch_seq  # noqa: E402
from trainer.train import Optimization  # noqa: E402
from trainer.train import batch_gaps, chunks_per_batch, default_threads, fit, make_gapset, score_set, train_epoch  # noqa: E402

console = Console()


def reference_gflops(seconds: float = 1.0) -> float:
    a, b = torch.randn(1024, 384), torch.randn(384, 128)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            a @ b
        n += 20
    return n * 2 * 1024 * 384 * 128 / (time.perf_counter() - t0) / 1e9


def synthetic_split(name: str, n: int, dim: int, rng: np.random.Generator, doc_len: int = 700) -> SplitData:
    labels = (rng.random(n) < 0.4).astype(np.int64)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors[:, 0] += labels                       # some signal, so training is not degenerate
    ranges = [(f"d{k}", s, min(s + doc_len, n)) for k, s in enumerate(range(0, n, doc_len))]
    docs = [d for d, s, e in ranges for _ in range(e - s)]
    index = [i for d, s, e in ranges for i in range(e - s)]
    texts = ["。"] * n
    return SplitData(name, vectors, labels, texts, docs, index, ranges)


def time_epochs(kind: str, split: SplitData, epochs: int, base: TrainConfig) -> tuple[float, float, int]:
    """(seconds per train epoch, scoring gaps/s, n_gaps) of one model on one split."""
    if kind.startswith("seq"):          # seq, seq-transformer, seq-crf
        cfg = replace(base, model="seq", arch="transformer" if "transformer" in kind else "bilstm",
                      decode="crf" if "crf" in kind else "threshold")
    else:
        cfg = replace(base, model=kind)
    torch.manual_seed(0)
    model = build_model(cfg, split.vectors.shape[1])
    if cfg.model == "seq":
        spec = {"chunk": cfg.chunk}
        gs = make_chunkset(split, cfg.chunk, torch.device("cpu"))

        def one_epoch():
            train_epoch_seq(model, opt, gs, loss, chunks_per_batch(cfg, spec), gen)
    else:
        gs = make_gapset(split, 2, 2, torch.device("cpu"))

        def one_epoch():
            train_epoch(model, opt, gs, loss, batch_gaps(cfg), cfg.shuffle_block, gen)
    model.set_input_stats(gs.vectors[:-1])
    opt = Optimization(model, cfg, 1)
    loss = GapLoss("bce")
    gen = torch.Generator().manual_seed(0)
    one_epoch()                                                      # warm-up
    t0 = time.perf_counter()
    for _ in range(epochs):
        one_epoch()
    per_epoch = (time.perf_counter() - t0) / epochs
    t0 = time.perf_counter()
    score_set(model, gs)
    rate = len(gs) / (time.perf_counter() - t0)
    return per_epoch, rate, len(gs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--encoder", default="e5")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per model (after one warm-up epoch)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = what seg train uses")
    ap.add_argument("--models", default=",".join(m for m in catalog.names() if m != "seq") + ",seq,seq-transformer,seq-crf")
    ap.add_argument("--skip-full", action="store_true", help="skip the 5-repeat experiment")
    args = ap.parse_args()

    threads = args.threads or default_threads() or torch.get_num_threads()
    torch.set_num_threads(threads)
    candidates = [Path("cache/datasets") / n for n in ("aozora", "aozora30k")]
    embedded = [d for d in candidates if (d / "embeddings" / f"{args.encoder}.json").is_file()]
    dataset = args.dataset or (embedded[0] if embedded else Path("cache/datasets/demo"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gf = reference_gflops()
    console.print(f"cpu cores {os.cpu_count()}, torch threads {threads}, load average {load:.2f}, "
                  f"reference matmul {gf:.1f} GFLOP/s (measured now)")
    base = TrainConfig()
    models = args.models.split(",")

    data, _ = load_data(dataset, args.encoder)
    rng = np.random.default_rng(0)
    synth = synthetic_split("synthetic", 100_000 + 100_000 // 700 + 1, 384, rng)

    table = Table(title=f"seg train: seconds per training epoch (default batch and hidden, "
                        f"window {base.window}, {threads} thread(s), load {load:.1f}, matmul {gf:.0f} GFLOP/s)")
    for col in ("model", f"{dataset.name} s/epoch", "train gaps/s", "score gaps/s", "s/epoch per 100k", "x GFLOP/s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for kind in models:
        real_s, real_rate, n_real = time_epochs(kind, data["train"], args.epochs, base)
        syn_s, _, n_syn = time_epochs(kind, synth, args.epochs, base)
        per100k = syn_s * 100_000 / n_syn
        table.add_row(kind, f"{real_s:.2f}", f"{n_real / real_s:,.0f}", f"{real_rate:,.0f}", f"{per100k:.2f}",
                      f"{per100k * gf:.0f}")
        console.print(f"{kind}: {real_s:.2f} s/epoch on {n_real:,} {dataset.name} train gaps ({n_real / real_s:,.0f} gaps/s), "
                      f"scoring {real_rate:,.0f} gaps/s; {per100k:.2f} s/epoch per 100k synthetic gaps")
    console.print(f"{dataset.name}: {n_real:,} train gaps; synthetic: {n_syn:,} gaps of 384-dim random vectors. "
                  "'x GFLOP/s' = s/epoch per 100k times the reference matmul speed (lower = faster; "
                  "comparable across machines and loads)")
    console.print(table)

    if not args.skip_full:
        train = data["train"]
        if len(train) < 15_000:
            rng = np.random.default_rng(1)
            train = synthetic_split("train", 30_000, 384, rng)
            what = "30,000 synthetic 384-dim train sentences (+ the real dev and test)"
        elif len(train) <= 30_000:
            what = f"{dataset.name} ({len(train):,} train, {len(data['dev']):,} dev, {len(data['test']):,} test sentences)"
        else:
            cut = next(e for _, s, e in train.ranges if e >= 30_000)
            keep = [(d, s, e) for d, s, e in train.ranges if e <= cut]
            train = SplitData("train", train.vectors[:cut], train.labels[:cut], train.texts[:cut], train.docs[:cut],
                              train.index[:cut], keep)
            what = f"the first {cut:,} train sentences of {dataset.name} (+ its dev and test)"
        cfg = replace(base, repeats=5, threads=threads)
        t0 = time.perf_counter()
        res = fit(cfg, {"train": train, "dev": data["dev"], "test": data["test"]})
        secs = time.perf_counter() - t0
        f1 = res.metrics()["summary"]["test"]["f1"]
        n_epochs = sum(len(r.epochs) for r in res.repeats)
        console.print(f"full experiment: pool, --repeats 5 (at most {cfg.epochs} epochs, patience {cfg.patience}: "
                      f"{n_epochs} epochs trained) on {what}: {secs:.1f} s (test F1 {f1['mean']:.3f} ± {f1['std']:.3f})")


if __name__ == "__main__":
    main()
