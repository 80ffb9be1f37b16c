"""The TextTiling baseline: the algorithm on constructed vectors, then `seg segment --run
texttiling` on real text with the bundled e5 encoder through the vector cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.documents import load_document
from pipeline.prep import DEMO_CORPUS
from trainer.texttiling import TextTilingConfig, depth_scores, gap_scores, texttiling

runner = CliRunner()
LEMON = DEMO_CORPUS / "000074_424_ruby_19825.txt"


def brute_gap_scores(v: np.ndarray, w: int) -> list[float]:
    out = [np.nan]
    for g in range(1, len(v)):
        a, b = v[max(0, g - w):g].mean(0), v[g:g + w].mean(0)
        out.append(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    return out


def test_gap_scores_are_block_cosines():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(23, 16))
    for w in (1, 2, 5):
        assert np.allclose(gap_scores(v, w)[1:], brute_gap_scores(v, w)[1:])


def test_depth_climbs_to_the_peaks_on_each_side():
    s = np.array([np.nan, 0.9, 0.5, 0.7, 0.2, 0.8, 0.6, 0.95])
    # gap 4 (0.2): left peak climbs 0.7 -> stops at 0.5; right peak 0.8 -> stops at 0.6
    d = depth_scores(s)
    assert d[4] == pytest.approx((0.7 - 0.2) + (0.8 - 0.2))
    assert d[2] == pytest.approx((0.9 - 0.5) + (0.7 - 0.5))
    assert d[1] == pytest.approx(0 + 0)          # 0.9 is itself a peak on both sides (0.5 < 0.9)
    assert d[7] == pytest.approx(0.0)


def test_topic_shifts_get_the_breaks():
    rng = np.random.default_rng(1)
    topics = rng.normal(size=(3, 32))
    sizes = [8, 6, 9]
    v = np.concatenate([t + 0.3 * rng.normal(size=(n, 32)) for t, n in zip(topics, sizes)])
    depth, dec = texttiling(v, TextTilingConfig(window=3, depth_cutoff=-1.0))   # strict: mean + std
    assert dec[0] == 1
    assert set(np.flatnonzero(dec[1:]) + 1) == {8, 14}
    assert np.argsort(depth[1:])[-2:].tolist() and set(np.argsort(depth[1:])[-2:] + 1) == {8, 14}


def test_single_sentence_and_bad_window():
    depth, dec = texttiling(np.ones((1, 4)))
    assert dec.tolist() == [1] and np.isnan(depth[0])
    from pipeline.errors import SegError

    with pytest.raises(SegError, match="--window"):
        gap_scores(np.ones((3, 4)), 0)


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory):
    """The first 40 sentences of 檸檬 as a plain-text file, blank line between paragraphs."""
    doc = load_document(LEMON)
    paras: list[str] = []
    for s, lab in zip(doc.sentences[:40], doc.labels[:40]):
        if lab or not paras:
            paras.append(s)
        else:
            paras[-1] += s
    p = tmp_path_factory.mktemp("tt") / "lemon40.txt"
    p.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return p


def test_texttiling_cli_with_e5_through_the_cache(excerpt, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "vectors"
    args = ["segment", str(excerpt), "--run", "texttiling", "--cache", str(cache), "--format", "jsonl",
            "--window", "2", "--depth-cutoff", "0.5", "--evaluate"]
    cold = runner.invoke(app, args)
    assert cold.exit_code == 0, cold.output
    assert (cache / "data.mdb").is_file() and "encode" in cold.stderr    # the encoder's progress bar
    rows = [json.loads(l) for l in cold.stdout.splitlines()]
    assert [r["text"] for r in rows] == load_document(excerpt).sentences
    assert len(rows) == 40
    depth = np.array([r["prob"] for r in rows[1:]], dtype=float)
    assert (depth >= 0).all() and depth.max() > 0
    cutoff = depth.mean() - 0.5 * depth.std()
    labels = np.array([r["label"] for r in rows[1:]])
    near = np.abs(depth - cutoff) < 1e-5            # rounding of the printed depth
    assert (labels[~near] == (depth[~near] > cutoff)).all()
    assert "F1" in cold.stderr and "texttiling" in cold.stderr

    warm = runner.invoke(app, args)                 # every vector now comes from the cache
    assert warm.exit_code == 0 and warm.stdout == cold.stdout
    assert "encode" not in warm.stderr

    high = runner.invoke(app, args[:-1] + ["--threshold", str(depth.max() + 1)])
    assert high.exit_code == 0
    assert [json.loads(l)["label"] for l in high.stdout.splitlines()] == [1] + [0] * 39


def test_texttiling_with_an_unknown_encoder_is_one_clean_line(excerpt, tmp_path):
    res = runner.invoke(app, ["segment", str(excerpt), "--run", "texttiling", "--encoder", "nope", "--cache", str(tmp_path)])
    assert res.exit_code == 1
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "nope" in lines[0] and "encoder" in lines[0]
