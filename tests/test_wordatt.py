"""Token-level caching and word-level attention (`seg embed --tokens`, `--sentence-pooling attention`).

The stored token states are the model's own last-layer rows of the sentence's tokens (prompt and
special tokens dropped) with the characters each covers; the per-split export is read through a
memory map with a peak memory that does not grow with the split; word attention learns to look
at the one token that decides the label (which mean pooling dilutes); and a trained run goes
through segment (--evaluate reproduces seg train, jsonl carries the weights) and report.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import load_split
from pipeline.embed import EmbedConfig, embed
from pipeline.token_cache import TokenCache
from pipeline.token_states import TokenStates, export_token_h5
from trainer.config import TrainConfig
from trainer.data import SplitData
from trainer.train import fit, train
from tests.fixtures_prep import private_copy
from tests.reproduce import segment_reproduces_test

runner = CliRunner()


@pytest.fixture(scope="module")
def token_run(small_dataset, tiny_fast_sbert, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wordatt")
    ds = private_copy(small_dataset, root)
    manifest = embed(EmbedConfig(dataset=str(ds), encoder="sbert", model=str(tiny_fast_sbert), tokens=True,
                                 cache=str(root / "tokens")), root)
    run_dir = train(TrainConfig(dataset=str(ds), encoder="sbert-tokens", model="bilstm", sentence_pooling="attention",
                                features="brackets", heads=2, hidden=16, epochs=3, repeats=2, seed=1,
                                name="wordatt", output=str(root / "runs")), root)
    seq_dir = train(TrainConfig(dataset=str(ds), encoder="sbert-tokens", model="seq", sentence_pooling="attention",
                                heads=2, hidden=16, chunk=16, decode="crf", epochs=2, repeats=2, seed=1,
                                name="wordatt-seq", output=str(root / "runs")), root)
    return {"root": root, "dataset": ds, "manifest": manifest, "run": run_dir, "seq": seq_dir, "model": tiny_fast_sbert}


def test_stored_token_states_are_the_models_own_rows_of_the_sentence(token_run):
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(token_run["model"]), device="cpu")
    tok, model = st[0].tokenizer, st[0].auto_model
    prompt = "passage: "
    assert token_run["manifest"]["tokens"] and token_run["manifest"]["name"] == "sbert-tokens"
    split = load_split(token_run["dataset"], "dev")
    states = TokenStates.open(token_run["dataset"] / "embeddings" / "sbert-tokens" / "dev.h5")
    assert len(states) == len(split) and states.verify()
    for j in (0, 7, len(split) - 1):
        text = split.texts[j]
        enc = tok(prompt + text, return_tensors="pt", return_offsets_mapping=True, return_special_tokens_mask=True)
        off = enc.pop("offset_mapping")[0].numpy()
        special = enc.pop("special_tokens_mask")[0].numpy().astype(bool)
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0].numpy()
        rows = np.flatnonzero(~special & (off[:, 1] > len(prompt)))
        np.testing.assert_allclose(states.states(j).astype(np.float32), h[rows], atol=2e-3, rtol=2e-3)
        spans = states.spans(j)
        assert "".join(text[a:b] for a, b in spans) == text.replace(" ", "").replace("\u3000", "")


def test_a_slow_tokenizer_gets_spans_by_alignment(tiny_sbert, embed_texts):
    from pipeline.encoders import make_encoder

    enc = make_encoder(EmbedConfig(encoder="sbert", model=str(tiny_sbert)))
    texts = embed_texts[:20]
    covered = total = 0
    for text, (states, spans) in zip(texts, enc.encode_tokens(texts)):
        assert states.dtype == np.float16 and len(states) == len(spans) > 0
        assert (spans[:, 1] >= spans[:, 0]).all() and (np.diff(spans[:, 0]) >= 0).all()
        assert (spans[1:, 0] >= spans[:-1, 1]).all()                   # in order, never overlapping
        covered += int((spans[:, 1] - spans[:, 0]).sum())
        total += len(text)
    assert covered / total > 0.9                                       # [UNK] pieces get empty spans


def _fill(cache: TokenCache, n: int, dim: int, rng) -> list[str]:
    texts = [f"文{k}。" for k in range(n)]
    for a in range(0, n, 500):
        items = []
        for t in texts[a:a + 500]:
            m = int(rng.integers(20, 40))
            items.append((rng.normal(size=(m, dim)).astype(np.float16), np.stack([np.arange(m), np.arange(m) + 1], 1)))
        cache.put_many(texts[a:a + 500], items)
    return texts


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_and_reading_keep_memory_bounded_as_the_split_grows(tmp_path, monkeypatch):
    """Exporting and reading every sentence of a 4x larger split needs no more memory: both work
    a block at a time and the reader maps the file (tracemalloc sees numpy's allocations)."""
    from types import SimpleNamespace

    monkeypatch.setattr("pipeline.token_states.BLOCK", 256)
    rng = np.random.default_rng(0)
    dim = 64
    cache = TokenCache(tmp_path / "tokens", "f" * 16, write=True)
    cache.set_meta({"dim": dim})
    texts = _fill(cache, 6000, dim, rng)
    peaks = {}
    for n in (1500, 6000):
        split = SimpleNamespace(name=f"s{n}", texts=texts[:n], docs=["d"] * n, index=list(range(n)))
        out = tmp_path / f"s{n}.h5"
        p_export = _peak(lambda: export_token_h5(out, split, cache, "f" * 16, "d" * 16, "x"))
        ts = TokenStates.open(out)
        total = int(ts.offsets[-1]) * dim * 2

        def read_all():
            for a in range(0, n, 256):
                ts.batch(np.arange(a, min(a + 256, n)))
        peaks[n] = (max(p_export, _peak(read_all)), total)
        assert np.array_equal(ts.states(n - 1), next(cache.read([texts[n - 1]]))[0])
    (small, small_total), (big, big_total) = peaks[1500], peaks[6000]
    assert big_total > 3.5 * small_total
    assert big < 1.5 * small and big < big_total / 4, peaks


def _synthetic(n_sent: int, rng, vocab: np.ndarray, name: str) -> SplitData:
    """Sentences of 8-24 random token types; a sentence starts a paragraph iff it holds type 0."""
    items, labels = [], []
    for _ in range(n_sent):
        ids = rng.integers(1, len(vocab), size=int(rng.integers(8, 25)))
        lab = int(rng.random() < 0.35)
        if lab:
            ids[rng.integers(len(ids))] = 0
        items.append(((vocab[ids] + 0.1 * rng.normal(size=(len(ids), vocab.shape[1]))).astype(np.float16),
                      np.stack([np.arange(len(ids)), np.arange(len(ids)) + 1], 1)))
        labels.append(lab)
    per_doc = 50
    ranges = [(f"{name}{d}", a, min(a + per_doc, n_sent)) for d, a in enumerate(range(0, n_sent, per_doc))]
    docs = [doc for doc, a, b in ranges for _ in range(a, b)]
    index = [i for _, a, b in ranges for i in range(b - a)]
    labels = np.asarray(labels, dtype=np.int64)
    labels[[a for _, a, _ in ranges]] = 1
    return SplitData(name, np.zeros((n_sent, 0), np.float32), labels, ["。"] * n_sent, docs, index, ranges,
                     TokenStates.from_items(items, vocab.shape[1]))


def test_word_attention_learns_to_look_at_the_deciding_token():
    rng = np.random.default_rng(0)
    vocab = rng.normal(size=(40, 16))
    data = {s: _synthetic(n, rng, vocab, s) for s, n in (("train", 1500), ("dev", 400), ("test", 400))}
    cfg = TrainConfig(model="pool", window="1:1", sentence_pooling="attention", heads=1, hidden=16, epochs=12,
                      patience=0, lr=3e-3, repeats=1, seed=0, device="cpu")
    res = fit(cfg, data)
    rep = res.repeats[0]
    assert rep.test["f1"] > 0.9, rep.test
    from trainer.models import from_spec
    from trainer.tokendata import TokenBank

    model = from_spec(res.spec)
    model.load_state_dict(rep.state_dict)
    test = data["test"]
    bank = TokenBank(test.tokens, test.vectors)
    marked = [j for j in range(len(test)) if (np.abs(test.tokens.states(j).astype(np.float32) - vocab[0]).max(1) < 0.6).any()]
    rel = []
    for j, w in zip(marked, model.eval().token_weights(bank, marked)):
        at = np.flatnonzero(np.abs(test.tokens.states(j).astype(np.float32) - vocab[0]).max(1) < 0.6)
        rel.append(float(w[at, 0].sum()) * len(w))    # weight on the cue, relative to a uniform weight
    assert len(rel) > 50 and np.median(rel) > 3.0, np.median(rel)


def test_segment_evaluate_reproduces_training_and_jsonl_carries_the_weights(token_run):
    _, rows, _ = segment_reproduces_test(token_run["dataset"], token_run["run"])
    for r in rows[:40]:
        toks = r["attention"]
        assert "".join(t for t, _ in toks) == r["text"].replace(" ", "").replace("\u3000", "")
        assert sum(w for _, w in toks) == pytest.approx(1.0, abs=0.01 * len(toks) / 2 + 1e-3)


def test_ensemble_attention_is_the_mean_over_repeats(token_run):
    from pipeline.documents import load_document
    from pipeline.prep import DEMO_CORPUS
    from pipeline.vectors import TextEncoder
    from trainer.run import load_run

    text = DEMO_CORPUS / "000035_1567_ruby_4948.txt"        # new text: 走れメロス
    res = runner.invoke(app, ["segment", str(text), "--run", str(token_run["run"]), "--format", "jsonl", "--ensemble"])
    assert res.exit_code == 0, res.output
    got = [json.loads(line)["attention"] for line in res.stdout.splitlines()[:30]]
    run = load_run(token_run["run"])
    sentences = load_document(text).sentences
    bank = run.inputs(TextEncoder(run.config["embedding"])(sentences), sentences, [(0, len(sentences))])
    per_repeat = [run.build_model(k).token_weights(bank, np.arange(30)) for k in range(len(run.repeats))]
    for j, row in enumerate(got):
        want = np.mean([w[j] for w in per_repeat], axis=0).mean(1)
        np.testing.assert_allclose([w for _, w in row], want, atol=1e-4)
    assert any(np.abs(per_repeat[0][j] - per_repeat[1][j]).max() > 1e-3 for j in range(30))   # the repeats differ


def test_the_run_stores_the_test_attention_of_its_best_repeat(token_run):
    from trainer.run import load_run
    from trainer.tokendata import TokenBank

    run = load_run(token_run["run"])
    k = run.best_repeat
    with np.load(token_run["run"] / "attention-test.npz") as z:
        offsets, weights, spans, rep = z["offsets"], z["weights"], z["spans"], int(z["repeat"])
    assert rep == run.repeats[k]["repeat"]
    test = load_split(token_run["dataset"], "test")
    states = TokenStates.open(token_run["dataset"] / "embeddings" / "sbert-tokens" / "test.h5")
    assert len(offsets) == len(test) + 1 and weights.shape == (offsets[-1], 2)
    bank = TokenBank(states, np.zeros((len(test), 4), np.float32))
    model = run.build_model(k)
    for j, w in zip((0, 5, len(test) - 1), model.token_weights(bank, [0, 5, len(test) - 1])):
        np.testing.assert_allclose(weights[offsets[j]:offsets[j + 1]].astype(np.float32), w, atol=1e-3)
        assert np.array_equal(spans[offsets[j]:offsets[j + 1]], states.spans(j)[:len(w)])


def test_seq_over_word_attention_reproduces_its_test_metrics_in_segment(token_run):
    """--model seq with --sentence-pooling attention (and a CRF): whole chunks of attention-pooled sentences."""
    _, rows, _ = segment_reproduces_test(token_run["dataset"], token_run["seq"])
    assert all("attention" in r for r in rows)
    out = token_run["root"] / "report-seq"
    res = runner.invoke(app, ["report", str(token_run["seq"]), "--output", str(out), "--format", "md"])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").read_text(encoding="utf-8").count("the three most attended tokens") >= 2


def test_report_draws_the_word_attention_of_three_gaps(token_run, monkeypatch):
    def gone(*a, **k):
        raise AssertionError("the report must draw the test split's attention from the run itself")

    monkeypatch.setattr("pipeline.vectors.load_split_tokens", gone)
    out = token_run["root"] / "report"
    res = runner.invoke(app, ["report", str(token_run["run"]), "--output", str(out), "--format", "md"])
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.count("(the three most attended tokens of each sentence in bold)") == 3
    assert "break found" in md and "missed break" in md and "false alarm" in md


@pytest.mark.parametrize("args, needle", [
    (["embed", "{ds}", "--encoder", "e5", "--tokens"], "--tokens: --encoder e5 gives sentence vectors only"),
    (["train", "{ds}", "--encoder", "sbert-tokens", "--model", "pool"], "add --sentence-pooling attention"),
    (["train", "{ds}", "--encoder", "sbert-tokens", "--model", "crossseg", "--sentence-pooling", "attention"],
     "and seq, not --model crossseg"),
])
def test_wrong_combinations_are_one_line_errors(token_run, args, needle):
    res = runner.invoke(app, [a.replace("{ds}", str(token_run["dataset"])) for a in args] +
                        (["--output", str(token_run["root"] / "runs")] if args[0] == "train" else []))
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.output


def test_a_truncated_export_is_a_clean_error(token_run, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(token_run["dataset"], ds)
    h5 = ds / "embeddings" / "sbert-tokens" / "train.h5"
    h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    res = runner.invoke(app, ["train", str(ds), "--encoder", "sbert-tokens", "--sentence-pooling", "attention",
                              "--epochs", "1", "--output", str(tmp_path / "runs")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "train.h5" in lines[0] and "seg embed" in lines[0], res.output
