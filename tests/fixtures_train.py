"""Fixtures of the train stage: a small real dataset embedded with e5 (bundled, offline).

    train_dataset   a private copy of small_dataset (4 Aozora works, ~600 sentences, split
                    2:1:1) whose e5 vectors sit in a private vector cache, so the train tests
                    neither touch nor depend on what other stages' tests do to small_dataset
    train_data      its three splits as trainer.data.SplitData (vectors, labels, ranges)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures_prep import private_copy

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def train_dataset(small_dataset, tiny_sbert, tmp_path_factory) -> Path:
    from pipeline.embed import EmbedConfig, embed

    root = tmp_path_factory.mktemp("train_stage")
    d = private_copy(small_dataset, root)
    embed(EmbedConfig(dataset=str(d), encoder="sbert", model=str(tiny_sbert), name="tiny", cache=str(root / "vectors")), root)
    return d


@pytest.fixture(scope="session")
def train_data(train_dataset):
    from trainer.data import load_data

    data, _ = load_data(train_dataset, "tiny")
    return data
