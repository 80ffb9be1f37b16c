"""Fixtures of the embed stage: tiny local models built from the test text, once per session.

    tiny_bert      a 2-layer random BertModel (hidden 32) with a BertJapaneseTokenizer
                   (MeCab words, WordPiece vocabulary written from the text), saved with
                   save_pretrained; its tokenizer_config names unidic_lite like the tohoku v3
                   models, which is not installed, so loading exercises the ipadic override
    tiny_sbert     a sentence-transformers model assembled from tiny_bert + mean pooling
    w2v_text       a word2vec text file of fugashi-tokenised words with random vectors
    w2v_bin        the same vectors in word2vec binary format (written by gensim)

All of them are loaded by the tests through the public path (`seg embed --model PATH`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_HIDDEN = 32
W2V_DIM = 16


def _words(texts: list[str]) -> Counter:
    import fugashi
    import ipadic

    tagger = fugashi.GenericTagger(ipadic.MECAB_ARGS)
    c: Counter = Counter()
    for t in texts:
        c.update(w.surface for w in tagger(t))
    return c


@pytest.fixture(scope="session")
def embed_texts(small_dataset) -> list[str]:
    """Every sentence of small_dataset (all splits)."""
    from pipeline.dataset import SPLITS, load_split

    return [t for s in SPLITS for t in load_split(small_dataset, s).texts]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, embed_texts) -> Path:
    import torch
    from transformers import BertConfig, BertJapaneseTokenizer, BertModel

    d = tmp_path_factory.mktemp("tiny_bert")
    words = [w for w, n in _words(embed_texts).most_common(1500)]
    chars = sorted({ch for t in embed_texts for ch in t})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + ch for ch in chars]
    seen = set(vocab)
    vocab += [w for w in words if w not in seen]
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertJapaneseTokenizer(str(d / "vocab.txt"), word_tokenizer_type="mecab", subword_tokenizer_type="wordpiece",
                                mecab_kwargs={"mecab_dic": "ipadic"}, model_max_length=128)
    tok.save_pretrained(d)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=TINY_HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).eval().save_pretrained(d)
    _like_tohoku_v3(d)
    return d


def _like_tohoku_v3(d: Path) -> None:
    """Make the saved tokenizer ask for unidic_lite, as tohoku-nlp/bert-base-japanese-v3 does."""
    p = d / "tokenizer_config.json"
    cfg = json.loads(p.read_text(encoding="utf-8"))
    cfg["mecab_kwargs"] = {"mecab_dic": "unidic_lite"}
    p.write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")


@pytest.fixture(scope="session")
def tiny_sbert(tmp_path_factory, tiny_bert) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    d = tmp_path_factory.mktemp("tiny_sbert")
    tr = Transformer(str(tiny_bert), max_seq_length=128, processor_kwargs={"mecab_kwargs": {"mecab_dic": "ipadic"}})
    model = SentenceTransformer(modules=[tr, Pooling(TINY_HIDDEN, "mean")], device="cpu")
    model.save(str(d))
    _like_tohoku_v3(d)
    return d


@pytest.fixture(scope="session")
def w2v_text(tmp_path_factory, embed_texts) -> Path:
    d = tmp_path_factory.mktemp("w2v")
    words = [w for w, n in _words(embed_texts).most_common() if n >= 2 and " " not in w]
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(words), W2V_DIM)).astype(np.float32)
    lines = [f"{len(words)} {W2V_DIM}"] + [w + " " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(words, vecs)]
    p = d / "words.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def w2v_bin(w2v_text) -> Path:
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(w2v_text), binary=False)
    p = w2v_text.with_name("words.bin")
    kv.save_word2vec_format(str(p), binary=True)
    return p


@pytest.fixture(scope="session")
def tiny_fast_sbert(tmp_path_factory, embed_texts) -> Path:
    """A sentence-transformers model over a 2-layer random BertModel with a *fast* character-level
    WordPiece tokenizer (offsets) and e5's default prompt "passage: ", like the converted e5."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny_fast_sbert")
    bert = d / "bert"
    bert.mkdir()
    chars = sorted({ch for t in embed_texts + ["passage: "] for ch in t if not ch.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars
    (bert / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(str(bert / "vocab.txt"), do_lower_case=False, tokenize_chinese_chars=True,
                            model_max_length=128)
    tok.save_pretrained(bert)
    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=TINY_HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=160)
    BertModel(cfg).eval().save_pretrained(bert)
    model = SentenceTransformer(modules=[Transformer(str(bert), max_seq_length=128), Pooling(TINY_HIDDEN, "mean")],
                                device="cpu", prompts={"passage": "passage: "}, default_prompt_name="passage")
    model.save(str(d / "st"))
    return d / "st"
