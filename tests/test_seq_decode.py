"""Document-level models and structured decoding (`--model seq`, `--decode viterbi|crf`):
chunk bookkeeping, the semi-Markov Viterbi against brute force, a CRF and a seq model that
learn patterns a per-gap window model cannot, and dev-only selection of every setting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from trainer.config import TrainConfig
from trainer.data import SplitData
from trainer import decode
from trainer.decode import LengthPrior, logit, viterbi_decode
from trainer.metrics import segmentation_metrics
from trainer.models.crf import BinaryCRF, crf_marginals
from trainer.models.seq import SeqModel
from trainer.predict import predict_probs
from trainer.seqdata import make_chunks
from trainer.train import fit
from trainer.windows import gap_windows


# ----------------------------------------------------------------------------- chunks

@pytest.mark.parametrize("chunk", [4, 7, 16])
def test_every_gap_is_scored_by_exactly_one_chunk_near_its_middle(chunk):
    spans = [(0, 5), (5, 6), (6, 40), (40, 42), (42, 42 + chunk)]
    ch = make_chunks(spans, chunk)
    n_gaps = len(gap_windows(spans, 1, 1).sentence)
    kept = ch.gap_pos[ch.keep]
    assert sorted(kept.tolist()) == list(range(n_gaps))            # each gap once
    # a chunk never crosses a document, and a kept gap has >= chunk/4 sentences (or the edge) each side
    doc_of = np.concatenate([np.full(e - s, d) for d, (s, e) in enumerate(spans)])
    for c in range(len(ch.index)):
        idx = ch.index[c][ch.index[c] >= 0]
        assert len(set(doc_of[idx])) == 1 and (np.diff(idx) == 1).all()
        s, e = spans[doc_of[idx[0]]]
        for t in np.flatnonzero(ch.keep[c]) + 1:
            left_ok = t >= chunk // 4 or idx[0] == s
            right_ok = len(idx) - t >= chunk // 4 or idx[-1] == e - 1
            assert left_ok and right_ok


# ----------------------------------------------------------------------------- Viterbi with a length prior

def _brute(probs, prior, tau, w):
    n = len(probs) + 1
    z = logit(probs) - tau
    best = None
    for bits in itertools.product([0, 1], repeat=n - 1):
        starts = [0] + [j + 1 for j, b in enumerate(bits) if b] + [n]
        lens = np.diff(starts)
        s = sum(z[j] for j, b in enumerate(bits) if b) + w * prior.table(int(lens.max()))[lens - 1].sum()
        if best is None or s > best[0] + 1e-12:
            best = (s, bits)
    return np.array(best[1])


def test_viterbi_finds_the_best_segmentation_including_the_long_tail():
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.35).astype(int)
    prior = LengthPrior.fit(labels, [(0, 400)], lmax=4)        # lengths >= 4 use the geometric tail
    for _ in range(150):
        n = int(rng.integers(1, 11))
        p, tau, w = rng.random(n), float(rng.normal()), float(rng.choice([0.0, 0.5, 2.0, 6.0]))
        assert np.array_equal(viterbi_decode(p, [n], prior, tau, w), _brute(p, prior, tau, w))
    p = rng.random(21)
    two = viterbi_decode(p, [9, 0, 12], prior, 0.3, 1.0)        # documents decode independently
    assert np.array_equal(two, np.concatenate([_brute(p[:9], prior, 0.3, 1.0), _brute(p[9:], prior, 0.3, 1.0)]))


def test_viterbi_without_prior_is_the_threshold_rule_and_the_prior_moves_breaks():
    rng = np.random.default_rng(1)
    p = rng.random(500)
    labels = np.zeros(2000, dtype=int)
    labels[::5] = 1                                              # every paragraph 5 sentences long
    prior = LengthPrior.fit(labels, [(0, 2000)])
    thr = 0.6
    assert np.array_equal(viterbi_decode(p, [500], prior, float(logit(np.array([thr]))[0]), 0.0), p >= thr)
    strong = viterbi_decode(p, [500], prior, 0.0, 50.0)
    starts = np.flatnonzero(np.concatenate([[1], strong, [1]]))
    assert (np.diff(starts) == 5).mean() > 0.9                   # the prior dominates: lengths of 5


def test_length_prior_from_real_paragraphs(train_data):
    tr = train_data["train"]
    prior = LengthPrior.fit(tr.labels, tr.spans)
    table = np.exp(prior.table(400))
    assert table.sum() == pytest.approx(1.0, abs=1e-3)           # a distribution, tail included
    assert prior.n_paragraphs == int(tr.labels.sum() + sum(1 for s, e in tr.spans if e > s and not tr.labels[s]))
    assert LengthPrior.from_dict(prior.to_dict()) == prior


# ----------------------------------------------------------------------------- CRF

def test_crf_learns_an_alternating_pattern_a_per_gap_decision_cannot():
    """Breaks strictly alternate; each gap's own evidence is weak and noisy. The per-gap
    decision gets about 70% right; the CRF's transitions carry the pattern."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = np.tile([1, 0], 200)
    z = torch.tensor((y * 2 - 1) * 0.5 + rng.normal(0, 1.0, len(y)), dtype=torch.float32)
    per_gap = ((z.numpy() > 0) == y).mean()
    crf = BinaryCRF()
    opt = torch.optim.Adam(crf.parameters(), lr=0.1)
    Z, Y = z.view(8, 50), torch.tensor(y).view(8, 50)
    mask = torch.ones(8, 50, dtype=torch.bool)
    for _ in range(150):
        opt.zero_grad()
        loss = crf.nll(Z, Y, mask)
        loss.backward()
        opt.step()
    A = crf.numpy_transitions()
    assert A[1, 0] > A[1, 1] and A[0, 1] > A[0, 0]             # break -> no break -> break
    marg = crf_marginals(z.numpy(), A)
    crf_acc = ((marg >= 0.5) == y).mean()
    assert per_gap < 0.75 and crf_acc > 0.95, (per_gap, crf_acc)


def test_crf_nll_by_brute_force():
    torch.manual_seed(1)
    crf = BinaryCRF()
    with torch.no_grad():
        crf.transitions.copy_(torch.randn(2, 2))
    z = torch.randn(1, 5)
    y = torch.tensor([[1, 0, 0, 1, 1]])
    A = crf.transitions

    def score(lab):
        return sum(z[0, t] * lab[t] for t in range(5)) + sum(A[lab[t - 1], lab[t]] for t in range(1, 5))

    log_z = torch.logsumexp(torch.stack([score(l) for l in itertools.product([0, 1], repeat=5)]), 0)
    with torch.no_grad():
        nll = float(crf.nll(z, y, torch.ones(1, 5, dtype=torch.bool)))
        assert nll == pytest.approx(float(log_z - score(y[0].tolist())), abs=1e-5)
    # marginals agree with brute force
    marg = crf_marginals(z[0].numpy(), A.detach().numpy())
    paths = list(itertools.product([0, 1], repeat=5))
    w = torch.softmax(torch.stack([score(l) for l in paths]), 0).detach().numpy()
    brute = np.array([sum(wi for wi, l in zip(w, paths) if l[t]) for t in range(5)])
    assert np.allclose(marg, brute, atol=1e-5)


# ----------------------------------------------------------------------------- the seq model

def _marker_data(seed: int, n_docs: int, dim: int = 8) -> SplitData:
    """Noise vectors; a paragraph starts 3 sentences after a 'marker' sentence (dimension 0
    set). A 2:2 window around a gap never sees the marker; a whole-document model can."""
    rng = np.random.default_rng(seed)
    vecs, labels, docs, index, ranges, start = [], [], [], [], [], 0
    for d in range(n_docs):
        n = int(rng.integers(30, 90))
        v = rng.normal(0, 1, (n, dim)).astype(np.float32)
        v[:, 0] = 0
        lab = np.zeros(n, dtype=np.int64)
        lab[0] = 1
        pos = 0
        while True:
            pos += int(rng.integers(4, 9))
            if pos >= n:
                break
            lab[pos] = 1
            v[pos - 3, 0] = 3.0
        vecs.append(v)
        labels.append(lab)
        docs += [f"d{d}"] * n
        index += list(range(n))
        ranges.append((f"d{d}", start, start + n))
        start += n
    return SplitData("x", np.concatenate(vecs), np.concatenate(labels), ["。"] * start, docs, index, ranges)


def test_seq_model_learns_what_a_window_model_cannot_see():
    data = {"train": _marker_data(0, 40), "dev": _marker_data(1, 8), "test": _marker_data(2, 8)}
    seq = fit(TrainConfig(model="seq", hidden=32, chunk=32, epochs=12, lr=3e-3, batch_size=128, dropout=0.1), data)
    win = fit(TrainConfig(model="bilstm", window="2:2", hidden=32, epochs=12, lr=3e-3, dropout=0.1), data)
    assert seq.repeats[0].test["f1"] > 0.9, seq.repeats[0].test
    assert win.repeats[0].test["f1"] < 0.6, win.repeats[0].test
    # predict_probs (seg segment, seg report) reproduces the probabilities training stored
    model = SeqModel(**{k: v for k, v in seq.spec.items() if k != "kind"})
    model.load_state_dict(seq.repeats[0].state_dict)
    t = data["test"]
    assert np.allclose(predict_probs(model, t.vectors, t.ranges, None), seq.repeats[0].probs["test"], atol=1e-6)


def test_seq_padding_never_changes_the_output():
    torch.manual_seed(0)
    for arch in ("bilstm", "transformer"):
        m = SeqModel(dim=6, hidden=8, layers=2, heads=2, dropout=0.0, arch=arch, chunk=10, crf=False).eval()
        x = torch.randn(1, 10, 6)
        short = m(x[:, :6], torch.ones(1, 6, dtype=torch.bool))
        padded = m(torch.cat([x[:, :6], torch.randn(1, 4, 6) * 100], 1),
                   torch.tensor([[True] * 6 + [False] * 4]))
        assert torch.allclose(short, padded[:, :5], atol=1e-5), arch


# ----------------------------------------------------------------------------- dev-only selection

@pytest.mark.parametrize("opts", [dict(model="seq", decode="crf", chunk=16), dict(model="pool", decode="viterbi"),
                                  dict(model="seq", arch="transformer", decode="viterbi", chunk=16)])
def test_test_labels_never_steer_any_setting(train_data, opts):
    """Flipping every test label changes none of: epoch, threshold, decoder settings, weights."""
    cfg = TrainConfig(epochs=4, hidden=16, lr=3e-3, **opts)
    flipped = dict(train_data, test=train_data["test"].with_labels(1 - train_data["test"].labels))
    a, b = fit(cfg, train_data), fit(cfg, flipped)
    for ra, rb in zip(a.repeats, b.repeats):
        assert (ra.best_epoch, ra.threshold, ra.decoder, ra.dev) == (rb.best_epoch, rb.threshold, rb.decoder, rb.dev)
        assert all(torch.equal(ra.state_dict[k], rb.state_dict[k]) for k in ra.state_dict)
        assert np.array_equal(ra.probs["test"], rb.probs["test"])
        counts = a.sets["test"].doc_gap_counts
        breaks = decode.make(a.decoder, ra.threshold, ra.decoder).decide(ra.probs["test"], counts)
        assert ra.test == segmentation_metrics(a.sets["test"].labels, breaks, counts)
        assert rb.test == segmentation_metrics(1 - a.sets["test"].labels, breaks, counts)
    if cfg.decode == "viterbi":
        assert a.decoder["kind"] == "viterbi" and a.repeats[0].decoder["tau"] is not None


# ----------------------------------------------------------------------------- cue features

def test_cue_features_follow_quotes_across_sentences_and_documents():
    from trainer.features import TOKEN_BUCKETS, with_features

    texts = ["やがて彼は言った。", "「行こう。", "すぐに。」", "――それから歩いた……。", "しかし、雨だった。", "「おい。」"]
    base = np.zeros((6, 2), dtype=np.float32)
    x = with_features(base, texts, "cues", [(0, 4), (4, 6)])[:, 2:]
    assert x[:, 0].tolist() == [0, 0, 1, 0, 0, 0]          # inside a quote opened in an earlier sentence
    assert x[:, 2].tolist() == [0, 0, 0, 1, 0, 0]          # opens with ――
    assert x[:, 4].tolist() == [0, 0, 0, 1, 0, 0]          # holds ……
    assert x[:, 6] == pytest.approx(np.log1p([0, 1, 2, 3, 0, 1]))           # position restarts per document
    assert x[:, 8] == pytest.approx([0, 0, np.log1p(1), np.log1p(2), 0, 0])  # since the last dialogue line
    tok = with_features(base, texts, "tokens")[:, 2:]
    assert tok.shape == (6, 2 * TOKEN_BUCKETS) and (tok.sum(1) == 2).all()
    # the same first word lands in the same bucket; brackets are skipped
    again = with_features(np.zeros((2, 0), np.float32), ["やがて雨。", "「やがて、」"], "tokens")
    assert np.array_equal(again[0, :TOKEN_BUCKETS], tok[0, :TOKEN_BUCKETS])
    assert np.array_equal(again[1, :TOKEN_BUCKETS], tok[0, :TOKEN_BUCKETS])


# ----------------------------------------------------------------------------- the run directory

@pytest.mark.parametrize("opts", [["--model", "seq", "--decode", "crf", "--chunk", "16"],
                                  ["--model", "bilstm", "--decode", "viterbi", "--features", "brackets,cues"]])
def test_run_files_record_the_decoder_and_its_decisions(train_dataset, tmp_path, opts):
    import json

    from typer.testing import CliRunner

    from cli import app
    from trainer.run import load_run

    r = CliRunner().invoke(app, ["train", str(train_dataset), "--encoder", "tiny", "--epochs", "2", "--repeats", "2",
                                 "--hidden", "16", "--output", str(tmp_path), "--name", "x", *opts])
    assert r.exit_code == 0, r.output
    run = load_run(tmp_path / "x")
    decode = opts[opts.index("--decode") + 1]
    assert run.config["decoder"]["kind"] == decode
    assert ("length_prior" in run.config["decoder"]) == (decode == "viterbi")
    rows = [json.loads(l) for l in (tmp_path / "x" / "predictions-test.jsonl").read_text().splitlines()]
    labels = np.array([row["label"] for row in rows])
    docs = [row["doc"] for row in rows]
    counts = [sum(1 for d in docs if d == u) for u in dict.fromkeys(docs)]
    for k, rep in enumerate(run.metrics["repeats"]):
        assert set(rep["decoder"]) == ({"tau", "weight"} if decode == "viterbi" else set())   # the kind is the run's
        breaks = np.array([row["break"][k] for row in rows])
        assert segmentation_metrics(labels, breaks, counts) == pytest.approx(rep["test"])


def test_training_chunks_cover_every_gap_once_per_epoch_at_random_offsets():
    from trainer.seqdata import gap_positions, train_chunks

    spans = [(0, 5), (5, 6), (6, 140), (140, 142)]
    pos_of = gap_positions(spans)
    n_gaps = len(gap_windows(spans, 1, 1).sentence)
    rng = np.random.default_rng(0)
    firsts = set()
    for _ in range(5):
        index, gap_pos = train_chunks(spans, 16, pos_of, rng)
        covered = gap_pos[gap_pos >= 0]
        # every gap inside a chunk is scored once; the gaps between chunks are the cut points
        assert len(set(covered.tolist())) == len(covered)
        cut_gaps = n_gaps - len(covered)
        assert cut_gaps == sum(1 for row in index if row[0] not in (s for s, _ in spans))
        firsts.add(int(index[2][0]))                              # the second chunk of the long document
    assert len(firsts) > 1                                        # the offset changes between epochs
