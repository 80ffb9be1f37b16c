"""trainer/decode.py is the one home of the decoders: a new one is a Decoder subclass in a file of
its own plus one register(DecoderInfo(...)) line, and train's check and dev selection, the run
files, loading a run, `seg segment --evaluate`, the API and `seg train --help` follow from it
with no other file touched.

The decoder here is written at test time into a module outside the package ("share": each
document breaks at its top-scored gaps, as many as the train split's break rate times a factor
chosen on dev, a decoder seg does not have) and trained on train_dataset (4 Aozora works embedded
with the tiny sentence-transformers model) through the Python API.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

import seg
from pipeline.errors import SegError
from trainer import decode
from trainer.config import TrainConfig
from trainer.metrics import segmentation_metrics
from trainer.train import check_config

SHARE = textwrap.dedent('''
    import numpy as np

    from trainer.decode import Decoder

    FACTORS = (0.6, 0.8, 1.0, 1.25)


    class ShareDecoder(Decoder):
        def __init__(self, threshold, fitted=None, factor=1.0):
            super().__init__(threshold, fitted)
            self.factor = float(factor)

        @classmethod
        def fit(cls, labels, doc_ranges):
            gaps = np.concatenate([labels[s + 1:e] for s, e in doc_ranges])
            return {"rate": float(gaps.mean())}

        def tune(self, labels, probs, doc_gap_counts, score):
            return max((ShareDecoder(self.threshold, self.fitted, f) for f in FACTORS),
                       key=lambda d: score(labels, d.decide(probs, doc_gap_counts)))

        def decide(self, probs, doc_gap_counts):
            out, start = np.zeros(len(probs), dtype=np.int8), 0
            for n in doc_gap_counts:
                k = int(round(self.fitted["rate"] * self.factor * n))
                top = np.argsort(-np.asarray(probs[start:start + n]), kind="stable")[:k]
                out[start + top] = 1
                start += n
            return out

        def settings(self):
            return {"factor": self.factor}

        def describe(self):
            return f", the top {self.factor:g} x train rate of each document's gaps"
''')


@pytest.fixture
def share(tmp_path, monkeypatch):
    (tmp_path / "seg_test_share.py").write_text(SHARE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(decode, "_DECODERS", decode._DECODERS.copy())   # registrations end with the test
    # the one line
    decode.register(decode.DecoderInfo("share", "seg_test_share:ShareDecoder", "each document's top-scored gaps"))
    yield "share"
    sys.modules.pop("seg_test_share", None)


def test_a_registered_decoder_is_fitted_tuned_on_dev_saved_and_used_by_segment(share, train_dataset, tmp_path):
    from pipeline.dataset import load_split
    from tests.reproduce import segment_reproduces_test

    run = seg.train(train_dataset, encoder="tiny", model="pool", window="1:1", decode="share", epochs=2, seed=5,
                    repeats=2, hidden=16, name="share", output=tmp_path / "runs", progress=False)
    # fitted on train, saved once: the train split's own break rate
    train = load_split(train_dataset, "train")
    gaps = np.concatenate([np.asarray(train.labels)[s + 1:e] for _, s, e in train.doc_ranges()])
    assert run.config["decoder"] == {"kind": "share", "rate": pytest.approx(float(gaps.mean()))}
    metrics = json.loads((run.path / "metrics.json").read_text())
    rows = [json.loads(line) for line in (run.path / "predictions-test.jsonl").read_text().splitlines()]
    docs = [r["doc"] for r in rows]
    counts = [docs.count(d) for d in dict.fromkeys(docs)]
    labels = np.array([r["label"] for r in rows])
    for k, rep in enumerate(metrics["repeats"]):
        # its dev-chosen setting is the repeat's, the kind and threshold are not repeated there
        assert set(rep["decoder"]) == {"factor"} and rep["decoder"]["factor"] in (0.6, 0.8, 1.0, 1.25)
        breaks = np.array([r["break"][k] for r in rows])
        # every test document breaks at exactly its share of gaps, at its highest probabilities
        start = 0
        for n in counts:
            want = int(round(run.config["decoder"]["rate"] * rep["decoder"]["factor"] * n))
            assert breaks[start:start + n].sum() == want
            start += n
        assert segmentation_metrics(labels, breaks, counts) == pytest.approx(rep["test"])
        assert type(run.decoder(k)).__name__ == "ShareDecoder"
    # a fresh load decides new text with it: segment --evaluate on the test works' source files
    # reproduces train's test metrics, and says which decoder decided
    res, _, _ = segment_reproduces_test(train_dataset, run.path)
    assert "train rate of each document" in res.stderr
    # and seg train --help lists it from the same line
    assert "share (each document's top-scored gaps)" in decode.help_text()


def test_decoder_checks_come_from_the_registry(share):
    check_config(TrainConfig(model="bilstm", decode="share"))          # models=() : every model
    with pytest.raises(SegError, match=r"^--decode 'beam': use one of threshold, viterbi, crf, share$"):
        check_config(TrainConfig(decode="beam"))
    with pytest.raises(SegError, match=r"^--decode crf applies to --model seq only; with --model pool use "
                                       r"threshold, viterbi, share$"):
        check_config(TrainConfig(model="pool", decode="crf"))


def test_runs_of_seg_0_1_still_decode_as_trained():
    """metrics.json of earlier runs repeated the kind and threshold in every repeat's decoder; the
    stored threshold is the repeat's own, the extra keys are left out."""
    prior = decode.fit("viterbi", np.array([1, 0, 1, 0, 0, 1, 0, 1]), [(0, 8)])
    old = {"kind": "viterbi", "threshold": 0.4, "tau": -0.2, "weight": 1.5}
    d = decode.make(prior, 0.4, old)
    assert (d.threshold, d.tau, d.weight) == (0.4, -0.2, 1.5)
    plain = decode.make({"kind": "threshold", "length_prior": None}, 0.3, {"kind": "threshold", "threshold": 0.3,
                                                                           "tau": None, "weight": 0.0})
    assert plain.decide(np.array([0.2, 0.3, 0.9]), [3]).tolist() == [0, 1, 1]
    assert decode.make(None, 0.5).decide(np.array([0.49, 0.5]), [2]).tolist() == [0, 1]
    with pytest.raises(SegError, match="paragraph-length prior but none was saved"):
        decode.make({"kind": "viterbi"}, 0.5)
