"""Seconds per epoch per 10,000 training gaps on this CPU: `seg train --finetune-layers N` (layers
13-N .. 12 of the converted e5 trained over its cached layer-(12-N) token states, bilstm 2:2 on
their mean) for N = 1, 2, 4 (and --across-gap for N = 2), beside the cached bilstm 2:2 on e5's sentence vectors of the same
gaps, measured in the same run; each model's peak RSS.

    .venv/bin/python -m cli convert-e5 --output /tmp/wt23-e5     # once, ~8 s, no download
    .venv/bin/python bench/bench_finetune.py --e5 /tmp/wt23-e5 [--sentences 400] [--epochs 2]

Sentences: the first --sentences of the bundled demo corpus's works in file order (with their
own paragraph labels, the last work cut there), one document per work; every gap of them is a training gap. Their
layer-K states (`seg embed --tokens --layer K`'s code path, pipeline/encoders/tokens.py) and
sentence vectors are encoded once, before any timing, into a scratch file.

What is timed: optimizer steps only (forward, loss, backward, step: trainer.train.train_epoch
with trainer.train.Optimization, the --encoder-lr group and its schedule included), no dev
scoring, under seg train's thread setting and deterministic mode, --epochs epochs after one
warm-up epoch. Each model trains in a fresh process (`--worker`), so its peak RSS
(VmHWM: torch, the model, the states it read, the batches) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEPTH = 12    # multilingual-e5-small's layers


def demo_sentences(n: int):
    """(texts, labels, ranges) of the first n sentences of the demo corpus (its works in file
order, the last one cut at n), one document per work."""
    from pipeline.documents import load_document
    from pipeline.prep import DEMO_CORPUS

    texts, labels, ranges = [], [], []
    for f in sorted(DEMO_CORPUS.glob("*.txt")):
        doc = load_document(f)
        a = len(texts)
        texts += list(doc.sentences)[:n - a]
        labels += [int(x) for x in doc.labels][:n - a]
        ranges.append((f.stem, a, len(texts)))
        if len(texts) >= n:
            break
    return texts, np.asarray(labels, dtype=np.int64), ranges


def prepare(e5: str, n: int, scratch: Path, layers: list[int]) -> None:
    """Encode the sentences once: sentence vectors, and the token states of each layer K."""
    from pipeline.embed import EmbedConfig
    from pipeline.encoders import make_encoder
    from pipeline.encoders.tokens import layer_info

    texts, labels, ranges = demo_sentences(n)
    scratch.mkdir(parents=True, exist_ok=True)
    enc = make_encoder(EmbedConfig(encoder="sbert", model=e5, device="cpu"))
    vecs = np.concatenate([enc.encode(texts[a:a + 64]) for a in range(0, len(texts), 64)])
    out = {"texts": texts, "labels": labels.tolist(), "ranges": ranges, "layers": {}}
    np.save(scratch / "vectors.npy", vecs)
    for k in layers:
        enc = make_encoder(EmbedConfig(encoder="sbert", model=e5, device="cpu", tokens=True, layer=k))
        items = []
        for a in range(0, len(texts), 32):
            items += enc.encode_tokens(texts[a:a + 32])
        np.save(scratch / f"states-{k}.npy", np.concatenate([s for s, _ in items]))
        np.save(scratch / f"spans-{k}.npy", np.concatenate([sp for _, sp in items]))   # --across-gap reads them
        np.save(scratch / f"lengths-{k}.npy", np.asarray([len(s) for s, _ in items]))
        out["layers"][str(k)] = layer_info(enc, k)
    (scratch / "data.json").write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")


def worker(scratch: Path, n_layers: int, epochs: int, across: bool = False) -> dict:
    """Train one model (N = 0: the cached bilstm) on every gap; seconds per epoch and peak RSS."""
    import torch

    from pipeline.token_states import TokenStates
    from trainer.config import TrainConfig
    from trainer.data import SplitData
    from trainer.losses import GapLoss
    from trainer.models import from_spec, model_spec
    from trainer.train import (Optimization, batch_gaps, batches_per_epoch, deterministic, make_gapset,
                               seed_everything, train_epoch, train_gap_labels)

    d = json.loads((scratch / "data.json").read_text(encoding="utf-8"))
    texts, labels, ranges = d["texts"], np.asarray(d["labels"]), [tuple(r) for r in d["ranges"]]
    docs = [doc for doc, a, b in ranges for _ in range(a, b)]
    index = [i for _, a, b in ranges for i in range(b - a)]
    cfg = TrainConfig(model="pool" if across else "bilstm", window="2:2", device="cpu", finetune_layers=n_layers,
                      across_gap=across, epochs=epochs + 1)
    if n_layers:
        k = DEPTH - n_layers
        st, ln = np.load(scratch / f"states-{k}.npy"), np.load(scratch / f"lengths-{k}.npy")
        tokens = TokenStates(st, np.load(scratch / f"spans-{k}.npy"), np.concatenate([[0], np.cumsum(ln)]))
        split = SplitData("train", np.zeros((len(texts), 0), np.float32), labels, texts, docs, index, ranges, tokens,
                          d["layers"][str(k)])
        spec = model_spec(cfg, 0, tokens.dim, split.token_model)
    else:
        split = SplitData("train", np.load(scratch / "vectors.npy"), labels, texts, docs, index, ranges)
        spec = model_spec(cfg, split.vectors.shape[1])
    device = torch.device("cpu")
    loss = GapLoss("bce", train_labels=train_gap_labels(split))
    with deterministic(device, 0):
        seed_everything(0)
        model = from_spec(spec)
        if n_layers:
            model.load_pretrained()
        gs = make_gapset(split, 2, 2, device)
        model.set_input_stats(gs.vectors if n_layers else gs.vectors[:-1])
        opt = Optimization(model, cfg, batches_per_epoch(cfg, spec, gs))
        gen = torch.Generator().manual_seed(0)
        train_epoch(model, opt, gs, loss, batch_gaps(cfg), cfg.shuffle_block, gen)   # warm-up, not timed
        t0 = time.perf_counter()
        for _ in range(epochs):
            train_epoch(model, opt, gs, loss, batch_gaps(cfg), cfg.shuffle_block, gen)
        secs = (time.perf_counter() - t0) / epochs
    return {"n_layers": n_layers, "across_gap": across, "gaps": len(gs), "s_per_epoch": secs, "s_per_epoch_per_10k": secs * 1e4 / len(gs),
            "tokens": int(gs.vectors.states.offsets[-1]) if n_layers else None,
            "trained_params": sum(p.numel() for p in model.parameters()),
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--e5", default="/tmp/wt23-e5", help="the converted e5 folder (`seg convert-e5 --output`; default: %(default)s)")
    ap.add_argument("--sentences", type=int, default=400, help="demo sentences (whole works; default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per model, after one warm-up (default: %(default)s)")
    ap.add_argument("--layers", default="1,2,4", help="the N of --finetune-layers to time (default: %(default)s)")
    ap.add_argument("--scratch", default="/tmp/bench-finetune", help="where the encoded sentences go (default: %(default)s)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file (default: none)")
    ap.add_argument("--across", default="2", help="the N to time with --across-gap too ('' = none; default: %(default)s)")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-across", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    scratch = Path(a.scratch)
    if a.worker is not None:
        print(json.dumps(worker(scratch, a.worker, a.epochs, a.worker_across)))
        return
    ns = [int(x) for x in a.layers.split(",")]
    t0 = time.perf_counter()
    prepare(a.e5, a.sentences, scratch, [DEPTH - n for n in ns])
    print(f"encoded {a.sentences} demo sentences (vectors and layer {', '.join(str(DEPTH - n) for n in ns)} states) "
          f"in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    across = [int(x) for x in a.across.split(",") if x]
    for n, ag in [(0, False)] + [(n, False) for n in ns] + [(n, True) for n in across if n in ns]:
        res = subprocess.run([sys.executable, __file__, "--worker", str(n), "--epochs", str(a.epochs), "--scratch", a.scratch]
                             + (["--worker-across"] if ag else []), capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    print(f"\n{base['gaps']} training gaps, bilstm 2:2, e5 (multilingual-e5-small, fp32, 1 thread as seg train on 2 cores)\n")
    print("| model | s/epoch per 10k gaps | × cached bilstm | peak RSS (MB) | × cached bilstm |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        name = "cached bilstm (sentence vectors)" if not r["n_layers"] else \
            f"--finetune-layers {r['n_layers']} (layers {DEPTH - r['n_layers'] + 1}-{DEPTH})" + \
            (" --across-gap (MLP head, no bilstm)" if r["across_gap"] else " + bilstm on their mean")
        print(f"| {name} | {r['s_per_epoch_per_10k']:,.1f} | {r['s_per_epoch_per_10k'] / base['s_per_epoch_per_10k']:,.0f}× | "
              f"{r['peak_rss_mb']:,.0f} | {r['peak_rss_mb'] / base['peak_rss_mb']:.1f}× |")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "sentences": a.sentences}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
