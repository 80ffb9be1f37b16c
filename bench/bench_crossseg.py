"""Seconds per 1,000 training gaps on this CPU: crossseg (the converted e5 fine-tuned across the
gap) against the cached integrators (pool, bilstm, seq) on the same gaps: the price of the
control group, and the speed-up seg exists for, in one number.

    seg convert-e5 --output /tmp/crossseg-e5           # once, ~7 s, no download
    python bench/bench_crossseg.py --dataset /work/segdata/datasets/demo311 --encoder-model /tmp/crossseg-e5

What is timed: optimizer steps only (forward, loss, backward, step), no dev scoring, in
`seg train`'s own code paths (trainer.crossdata.CrossTrainer.epoch, trainer.train.train_epoch,
trainer.seqdata.train_epoch_seq) under seg train's thread setting and deterministic mode.
  * crossseg: one epoch over a seeded sample of --gaps train gaps (trainer.crossdata.sample_rows,
    the sample `seg train --max-train-gaps` draws), window --window, --max-length tokens,
    batch 16 (seg train's default), fp32 on the CPU.
  * pool, bilstm: the same sampled gaps (window --window, default batch 256), epochs repeated
    until --min-seconds have passed (one epoch of a few hundred gaps takes milliseconds).
  * seq: trains on whole documents, not on a sample: epochs over every train gap, per 1,000 gaps.
The cached models also need the sentences embedded once (`seg embed`, e5 on this CPU ~60
sentences/s: ~16.5 s per 1,000 sentences, about as many as gaps); that is paid once per
dataset, where crossseg pays its cost again every epoch.

The dataset and its vector cache are copied to --scratch first (the source stays untouched).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import catalog  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.crossdata import CrossTrainer, make_crossset, sample_rows  # noqa: E402
from trainer.data import load_data, load_texts  # noqa: E402
from trainer.losses import GapLoss  # noqa: E402
from trainer.models import from_spec, model_spec  # noqa: E402
from trainer.seqdata import make_chunkset, train_epoch_seq  # noqa: E402
from trainer.train import Optimization  # noqa: E402
from trainer.train import (chunks_per_batch, default_threads, deterministic, make_gapset, seed_everything,  # noqa: E402
                           train_epoch, train_gap_labels)
from trainer.windows import parse_window  # noqa: E402


def scratch_copy(dataset: Path, encoder: str, scratch: Path) -> Path:
    """The dataset and its vector cache copied under `scratch`, the manifest pointing at the copy."""
    ds = scratch / dataset.name
    if not ds.exists():
        shutil.copytree(dataset, ds)
        manifest = ds / "embeddings" / f"{encoder}.json"
        m = json.loads(manifest.read_text(encoding="utf-8"))
        cache = scratch / "vectors"
        if not cache.exists():
            shutil.copytree(m["cache"], cache)
        m["cache"] = str(cache)
        manifest.write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    return ds


def time_cached(kind: str, data, rows, window: str, min_seconds: float, threads: int) -> tuple[float, int, int]:
    """(seconds, gaps trained, epochs) of `kind` on cached vectors."""
    cfg = TrainConfig(model=kind, window=window, device="cpu", threads=threads)
    spec = model_spec(cfg, data["train"].vectors.shape[1])
    loss = GapLoss("bce", train_labels=train_gap_labels(data["train"]))
    device = torch.device("cpu")
    with deterministic(device, threads):
        seed_everything(0)
        model = from_spec(spec)
        gen = torch.Generator().manual_seed(0)
        if kind == "seq":
            cs = make_chunkset(data["train"], spec["chunk"], device)
            model.set_input_stats(cs.vectors[:-1])
            opt = Optimization(model, cfg, 1)
            step = lambda: train_epoch_seq(model, opt, cs, loss, chunks_per_batch(cfg, spec), gen)  # noqa: E731
            n = len(cs)
        else:
            left, right = parse_window(window)
            gs = make_gapset(data["train"], left, right, device)
            gs = gs.subset(rows) if rows is not None else gs
            model.set_input_stats(gs.vectors[:-1])
            opt = Optimization(model, cfg, 1)
            step = lambda: train_epoch(model, opt, gs, loss, catalog.info(kind).batch, 16, gen)  # noqa: E731
            n = len(gs)
        step()                                   # warm-up epoch, not timed
        t0, epochs = time.perf_counter(), 0
        while True:
            step()
            epochs += 1
            if time.perf_counter() - t0 >= min_seconds:
                break
        return time.perf_counter() - t0, n * epochs, epochs


def time_crossseg(encoder_model: str, texts, rows, window: str, max_length: int, threads: int) -> tuple[float, int, dict]:
    cfg = TrainConfig(model="crossseg", encoder_model=encoder_model, window=window, max_length=max_length,
                      device="cpu", threads=threads, epochs=1)
    spec = model_spec(cfg, 0)
    device = torch.device("cpu")
    loss = GapLoss("bce", train_labels=train_gap_labels(texts["train"]))
    with deterministic(device, threads):
        cs = make_crossset(texts["train"], spec, device, rows)
        seed_everything(0)
        model = from_spec(spec)
        model.load_pretrained()
        trainer = CrossTrainer(model, cfg, len(cs), catalog.info("crossseg").batch)
        lengths = cs.lengths
        t0 = time.perf_counter()
        trainer.epoch(model, cs, loss, torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - t0
    return seconds, len(cs), {"mean_tokens": float(lengths.mean()), "max_tokens": int(lengths.max()),
                              "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="/work/segdata/datasets/demo311", help="an embedded dataset (default: %(default)s)")
    ap.add_argument("--encoder", default="e5", help="its cached embedding for the integrators (default: %(default)s)")
    ap.add_argument("--encoder-model", default="/tmp/crossseg-e5", help="crossseg's transformers folder (default: %(default)s; "
                    "`seg convert-e5 --output` it first)")
    ap.add_argument("--gaps", type=int, default=200, help="sampled train gaps (default: %(default)s)")
    ap.add_argument("--window", default="2:2", help="L:R for crossseg, pool and bilstm (default: %(default)s)")
    ap.add_argument("--max-length", type=int, default=256, help="crossseg tokens per pair (default: %(default)s)")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="least timed seconds per cached model (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads, as seg train --threads (default: %(default)s)")
    ap.add_argument("--scratch", default="/tmp/crossseg-bench", help="where the dataset and cache are copied (default: %(default)s)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file (default: none)")
    a = ap.parse_args()

    ds = scratch_copy(Path(a.dataset), a.encoder, Path(a.scratch))
    data, _ = load_data(ds, a.encoder)
    texts = load_texts(ds)
    n_train = len(train_gap_labels(data["train"]))
    rows = sample_rows(n_train, a.gaps, 0)
    out = {"dataset": a.dataset, "train_gaps": n_train, "sample": a.gaps, "window": a.window, "threads": a.threads or default_threads()
           or torch.get_num_threads(), "max_length": a.max_length, "models": {}}
    secs, n, info = time_crossseg(a.encoder_model, texts, rows, a.window, a.max_length, a.threads)
    out["models"]["crossseg"] = {"seconds": secs, "gaps": n, "s_per_1000": 1000 * secs / n, **info}
    print(f"crossseg ({Path(a.encoder_model).name}, {info['params'] / 1e6:.0f}M parameters, {info['mean_tokens']:.0f} "
          f"tokens per pair on average): {secs:.1f} s for {n} gaps = {1000 * secs / n:.1f} s per 1,000 gaps", flush=True)
    for kind in ("pool", "bilstm", "seq"):
        secs, n, epochs = time_cached(kind, data, rows, a.window, a.min_seconds, a.threads)
        out["models"][kind] = {"seconds": secs, "gaps": n, "epochs": epochs, "s_per_1000": 1000 * secs / n}
        print(f"{kind}: {secs:.2f} s for {n} gaps ({epochs} epochs{' over all train gaps' if kind == 'seq' else ''}) "
              f"= {1000 * secs / n:.3f} s per 1,000 gaps; crossseg / {kind} = "
              f"{out['models']['crossseg']['s_per_1000'] / (1000 * secs / n):,.0f}x", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
