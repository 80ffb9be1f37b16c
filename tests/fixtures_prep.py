"""Datasets built once per test session from the bundled demo corpus (real Aozora text)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.prep import DEMO_CORPUS, PrepConfig, prep

REPO = Path(__file__).resolve().parent.parent
SHARED_CORPUS = REPO.parent / "shared" / "corpus" / "aozora"
# four short works by four authors: 羅生門, 檸檬, ごん狐, 注文の多い料理店
SMALL_WORKS = ["000879_127_ruby_150.txt", "000074_424_ruby_19825.txt", "000121_628_ruby_649.txt", "000081_43754_ruby_17594.txt"]


def private_copy(dataset: Path, parent: Path) -> Path:
    """A copy of a session dataset at parent/small, for a test that writes into it (embedding
    writes into the dataset directory) without touching what other tests read."""
    out = parent / "small"
    shutil.copytree(dataset, out)
    return out


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("small_corpus")
    for name in SMALL_WORKS:
        shutil.copy(DEMO_CORPUS / name, d / name)
    return d


@pytest.fixture(scope="session")
def small_dataset(small_corpus, tmp_path_factory) -> Path:
    """4 documents, split 2:1:1 -> train 2, dev 1, test 1 (about 600 sentences)."""
    out = tmp_path_factory.mktemp("datasets") / "small"
    return prep(PrepConfig(inputs=[str(small_corpus)], output=str(out), split="2:1:1", seed=0))


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("datasets") / "demo"
    return prep(PrepConfig(output=str(out)))
