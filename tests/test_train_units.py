"""seg train building blocks on hand-worked cases: windows, masking, losses, metrics, baselines."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.errors import SegError
from trainer.baselines import rule_predictions
from trainer import catalog
from trainer.config import TrainConfig
from trainer.losses import GapLoss, class_weights, focal_loss
from trainer.metrics import best_threshold, pk_windowdiff, segmentation_metrics, window_k
from trainer.models import build_model
from trainer.train import block_permutation
from trainer.windows import gap_windows, gather, padded, parse_window

# three documents: sentences 0-2, 3 (a one-sentence document: no gap), 4-7
RANGES = [(0, 3), (3, 4), (4, 8)]


# ----------------------------------------------------------------------------- windows

def test_windows_pad_at_document_edges_and_never_cross_documents():
    g = gap_windows(RANGES, 2, 2)
    # the gap before sentence i; the first sentence of each document is not a candidate
    assert g.sentence.tolist() == [1, 2, 5, 6, 7]
    assert g.index.tolist() == [
        [-1, 0, 1, 2],     # before 1: i-2 is outside document 0
        [0, 1, 2, -1],     # before 2: i+1 = 3 belongs to the next document
        [-1, 4, 5, 6],     # before 5: i-2 = 3 belongs to the previous document
        [4, 5, 6, 7],
        [5, 6, 7, -1],     # before 7: the document ends
    ]
    g13 = gap_windows(RANGES, 1, 3)
    assert g13.index.tolist()[0] == [0, 1, 2, -1]
    doc_of = np.repeat(np.arange(len(RANGES)), [e - s for s, e in RANGES])
    for w, s in zip(g13.index, g13.sentence):
        assert all(doc_of[j] == doc_of[s] for j in w if j >= 0)


def test_gather_gives_zero_vectors_and_false_mask_for_padding():
    v = torch.arange(1, 8 * 3 + 1, dtype=torch.float32).reshape(8, 3)
    g = gap_windows(RANGES, 2, 2)
    x, mask = gather(padded(v), torch.from_numpy(g.index))
    assert x.shape == (5, 4, 3)
    assert mask.tolist()[0] == [False, True, True, True]
    assert torch.equal(x[0, 0], torch.zeros(3))
    assert torch.equal(x[0, 1], v[0]) and torch.equal(x[4, 2], v[7])
    assert not mask[1, 3] and torch.equal(x[1, 3], torch.zeros(3))


@pytest.mark.parametrize("spec", ["2", "0:2", "2:0", "a:b", "2:2:2", "-1:1"])
def test_bad_window_spec_is_a_clear_error(spec):
    with pytest.raises(SegError, match="--window"):
        parse_window(spec)


def test_block_permutation_is_a_permutation_of_contiguous_blocks():
    p = block_permutation(100, 16, torch.Generator().manual_seed(0))
    assert sorted(p.tolist()) == list(range(100))
    starts = [p[k].item() for k in range(0, 96, 16)]
    assert all(s % 16 == 0 for s in starts)
    assert p.tolist() != list(range(100))
    assert sorted(block_permutation(10, 1, torch.Generator().manual_seed(0)).tolist()) == list(range(10))


# ----------------------------------------------------------------------------- models and masking

VARIANTS = [(kind, "auto") for kind in catalog.names("window")] + [("pool", "max"), ("transformer", "sep"), ("transformer", "mean")]


@pytest.mark.parametrize("kind,pooling", VARIANTS)
@pytest.mark.parametrize("layers", [1, 2])
def test_padded_positions_never_change_the_output(kind, pooling, layers):
    torch.manual_seed(0)
    cfg = TrainConfig(model=kind, layers=layers, hidden=32, heads=4, memory_size=3, pooling=pooling)
    model = build_model(cfg, 16).eval()
    g = gap_windows(RANGES, 2, 2)
    v = torch.randn(8, 16)
    x, mask = gather(padded(v), torch.from_numpy(g.index))
    noisy = x.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), 16) * 100
    with torch.no_grad():
        a, b = model(x, mask), model(noisy, mask)
        c = model.forward_indexed(padded(v), torch.from_numpy(g.index))
        # a real sentence does change it
        changed = x.clone()
        changed[3, 1] += 5
        d = model(changed, mask)
    assert a.shape == (5,)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a, c, atol=1e-5)      # projecting distinct sentences once is the same function
    assert not torch.isclose(a[3], d[3], atol=1e-5)


def test_attention_shapes_for_heatmaps():
    x, mask = gather(padded(torch.randn(8, 16)), torch.from_numpy(gap_windows(RANGES, 2, 2).index))
    tr = build_model(TrainConfig(model="transformer", hidden=32, heads=4, layers=2), 16).eval()
    am = build_model(TrainConfig(model="attmem", hidden=32, heads=2, memory_size=3), 16).eval()
    with torch.no_grad():
        _, at = tr(x, mask, return_attention=True)
        _, aa = am(x, mask, return_attention=True)
    assert at.shape == (5, 4, 6, 6) and len(tr.attention_labels()) == 6
    assert aa.shape == (5, 2, 4 + 3) and tr.attention_labels()[3] == "[SEP]"
    assert torch.allclose(aa.sum(-1), torch.ones(5, 2), atol=1e-5)
    assert torch.all(aa[0, :, 0] == 0)           # padding gets no attention
    assert torch.all(at[0, :, :, 1] == 0)        # [CLS] i-2 [SEP] ...: i-2 is padding for the first gap


@pytest.mark.parametrize("opts,match", [
    (dict(model="transformer", hidden=30, heads=4), "--heads"),
    (dict(model="transformer", pooling="max"), "--pooling"),
    (dict(model="pool", pooling="cls"), "--pooling"),
    (dict(model="nosuch"), "--model"),
    (dict(model="pool", layers=0), "--layers"),
])
def test_bad_architecture_options_are_clear_errors(opts, match):
    with pytest.raises(SegError, match=match):
        build_model(TrainConfig(**opts), 16)


# ----------------------------------------------------------------------------- losses

def test_focal_with_gamma_zero_is_bce():
    torch.manual_seed(0)
    z, y = torch.randn(1000) * 3, (torch.rand(1000) < 0.3).float()
    bce = F.binary_cross_entropy_with_logits(z, y)
    assert torch.allclose(focal_loss(z, y, gamma=0.0), bce, rtol=0, atol=1e-7)
    assert torch.allclose(GapLoss("focal", gamma=0.0)(z, y), bce, rtol=0, atol=1e-7)
    assert GapLoss("focal", gamma=2.0)(z, y) < bce          # easy examples are down-weighted


def test_focal_by_hand():
    # logit 0 -> p = 0.5; target 1: bce = ln 2, (1 - p_t)^2 = 1/4; alpha 0.25 scales positives
    z, y = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])
    assert focal_loss(z, y, gamma=2.0).item() == pytest.approx(math.log(2) / 4)
    assert focal_loss(z, y, gamma=2.0, alpha=0.25, reduction="none").tolist() == pytest.approx(
        [0.25 * math.log(2) / 4, 0.75 * math.log(2) / 4])


def test_balanced_class_weights():
    labels = np.array([0, 0, 0, 1])
    assert class_weights(labels) == pytest.approx((4 / 6, 2.0))           # N / (2 n_c)
    beta = 0.9
    e0, e1 = (1 - beta) / (1 - beta**3), (1 - beta) / (1 - beta**1)      # effective numbers (Cui et al.)
    assert class_weights(labels, beta) == pytest.approx((2 * e0 / (e0 + e1), 2 * e1 / (e0 + e1)))
    loss = GapLoss("balanced", train_labels=labels)
    z, y = torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0])
    ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    expected = (2.0 * ce[0] + 4 / 6 * ce[1]) / (2.0 + 4 / 6)
    assert loss(z, y).item() == pytest.approx(expected.item())
    with pytest.raises(SegError, match="only one class"):
        class_weights(np.array([0, 0, 0]))
    with pytest.raises(SegError, match="--loss"):
        GapLoss("hinge")


# ----------------------------------------------------------------------------- metrics

def test_precision_recall_f1_bacc_by_hand():
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([1, 1, 0, 0, 0, 0])
    m = segmentation_metrics(y, p, [6])
    # TP 1, FN 2 (recall 1/3); FP 1, TN 2 (specificity 2/3)
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert m["bacc"] == pytest.approx((1 / 3 + 2 / 3) / 2)


def test_pk_and_windowdiff_by_hand():
    # 5 sentences, gaps "0110" (3 segments, mean length 5/3) -> k = max(2, round(0.83)) = 2
    # windows of 2 gaps: [01] [11] [10] vs hyp [01] [10] [00]
    #   Pk (boundary in window?): same, same, differ -> 1/3
    #   WindowDiff (same count?):  same, differ, differ -> 2/3
    assert window_k("0110") == 2
    assert pk_windowdiff(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), [4]) == pytest.approx((1 / 3, 2 / 3))
    # "0100" vs "0010": windows [01|00] [10|01] [00|10] -> both 2/3
    assert pk_windowdiff(np.array([0, 1, 0, 0]), np.array([0, 0, 1, 0]), [4]) == pytest.approx((2 / 3, 2 / 3))
    # two documents, weighted by their gaps: (4 * 1/3 + 2 * 0) / 6, not the plain mean 1/6
    y = np.array([0, 1, 1, 0, 1, 0])
    p = np.array([0, 1, 0, 0, 1, 0])
    assert pk_windowdiff(y, p, [4, 2])[0] == pytest.approx(2 / 9)
    # k is half the mean segment length: 21 sentences, one break -> mean 10.5 -> k = 5
    assert window_k("0" * 9 + "1" + "0" * 10) == 5
    assert window_k("1") == 1                 # never wider than the document


def test_best_threshold_maximises_f1_on_the_given_labels():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.4, 0.35])
    # thresholds 0.8 -> F1 2/3, 0.4 -> 1, 0.35 -> 0.8, 0.1 -> 2/3
    assert best_threshold(y, p) == pytest.approx((0.4, 1.0))
    assert best_threshold(np.zeros(4), p) == (0.5, 0.0)


# ----------------------------------------------------------------------------- baselines

def test_bracket_rule():
    texts = ["地の文である。", "「こんにちは」", "と彼は言った。", "『本』を読む。", "また地の文。", "『終わり』"]
    sentence = np.arange(1, len(texts))
    # before 「こんにちは」: opens; after it: closes; before 『本』: opens; after 『本』を読む。: no
    assert rule_predictions(texts, sentence).tolist() == [1, 1, 1, 0, 1]


def test_surface_features_from_real_sentences():
    from trainer.features import parse_features, with_features

    texts = ["「走れ！メロス。」", "メロスは激怒した。", "（これは註である）", "『ああ』と言った。"]
    v = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = with_features(v, texts, "brackets,length")
    assert out.shape == (4, 2 + 4 + 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :2], v)                  # the cached vector is kept as is
    np.testing.assert_array_equal(out[:, 2:6], [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0]])
    np.testing.assert_allclose(out[:, 6], np.log1p([len(t) for t in texts]))
    assert with_features(v, texts, "none") is v and parse_features("") == ()
    for bad in ("brackets,brackets", "pos", "brackets;length"):
        with pytest.raises(SegError, match="--features"):
            parse_features(bad)


# ----------------------------------------------------------------------------- one definition of each fact

def test_every_option_is_written_once_in_its_config_dataclass():
    """cli.py declares no option itself (one typer.Option call, in command()); each command's
    options are its config's option() fields, in order, with their defaults, flags and help, and
    the API documents its functions with the same help (no import of cli.py)."""
    import ast
    from pathlib import Path

    import typer.main

    import cli
    import seg
    from pipeline import options
    from pipeline.corpus import CorpusConfig
    from pipeline.e5_convert import ConvertConfig
    from pipeline.embed import EmbedConfig
    from pipeline.prep import PrepConfig
    from trainer.settings import ReportConfig, SegmentConfig

    tree = ast.parse(Path(cli.__file__).read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) in ("typer.Option", "typer.Argument")]
    assert len(calls) == 2, [ast.unparse(c) for c in calls]
    assert "import cli" not in Path(seg.__file__).read_text(encoding="utf-8")
    app = typer.main.get_command(cli.app)
    for path, config in ((["prep"], PrepConfig), (["embed"], EmbedConfig), (["train"], TrainConfig),
                         (["report"], ReportConfig), (["segment"], SegmentConfig), (["convert-e5"], ConvertConfig),
                         (["corpus", "aozora"], CorpusConfig)):
        command = app
        for part in path:
            command = command.commands[part]
        fields = options.options(config)
        assert [p.name for p in command.params] == [f.name for f in fields], path
        for p, f in zip(command.params, fields):
            o = options.info(f)
            assert " ".join(p.help.split()) == options.help_texts(config)[f.name], (path, f.name)
            if o.argument:
                continue
            assert tuple(p.opts + p.secondary_opts)[:len(options.flags(f))] == options.flags(f), (path, f.name)
            if o.required:
                assert p.required, (path, f.name)
            elif not isinstance(options.default(f), list):
                got = str(p.default) if isinstance(p.default, Path) else p.default
                assert got == options.default(f), (path, f.name, got)
    # the API's documentation carries the same help texts
    assert options.help_texts(TrainConfig)["finetune_layers"][:40] in " ".join(seg.train.__doc__.split())


def test_model_constructors_are_strict(tiny_bert):
    """No `**_`: a keyword a model does not take is an error, and no constructor default can
    disagree with config.py because constructors have none."""
    from trainer.models import from_spec, model_spec

    cfg = TrainConfig(model="pool")
    spec = model_spec(cfg, 16)
    from trainer.models.pool import PoolIntegrator

    args = dict(dim=16, left=2, right=2, hidden=8, layers=1, dropout=0.3, pooling="mean")
    PoolIntegrator(**args)
    with pytest.raises(TypeError):
        PoolIntegrator(**args, heads=4)                 # swallowed silently before
    with pytest.raises(TypeError):
        PoolIntegrator(**{k: v for k, v in args.items() if k != "dropout"})    # no hidden default any more
    for kind in catalog.names():
        cls = catalog.info(kind).load()
        params = inspect.signature(cls).parameters.values()
        assert all(p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD for p in params), kind
        m = from_spec(model_spec(TrainConfig(model=kind, encoder_model=str(tiny_bert) if kind == "crossseg" else None), 16))
        mods = m.head.modules() if kind == "crossseg" else m.modules()   # crossseg's encoder keeps its config's dropout
        assert all(d.p == TrainConfig().dropout for d in mods if isinstance(d, torch.nn.Dropout)), kind
    broken = {k: v for k, v in spec.items() if k != "dropout"}
    with pytest.raises(SegError, match="lacks dropout"):
        from_spec(broken)


def test_one_definition_of_each_fact():
    import trainer.config
    import trainer.metrics
    import trainer.predict
    import trainer.report.attention
    import trainer.report.collect
    import trainer.run
    import trainer.segment
    import trainer.train
    import trainer.windowdata
    from trainer import features
    from trainer.models import common

    # one run reader, one Predictions type
    assert trainer.report.collect.read_run is trainer.run.read_run and trainer.report.collect.Run is trainer.run.Run
    assert not hasattr(trainer.report.collect, "RunInfo")
    assert isinstance(trainer.run.Run.thresholds, property) and isinstance(trainer.run.Run.best_repeat, property)
    # one gap scorer for training and prediction, one batch size
    assert trainer.windowdata.indexed_logits is trainer.predict.indexed_logits and not hasattr(trainer.train, "EVAL_BATCH")
    # one metric list and direction
    assert trainer.report.collect.METRICS is trainer.metrics.METRICS
    assert trainer.report.collect.LOWER_IS_BETTER is trainer.metrics.LOWER_IS_BETTER
    # one set of attention position labels: the models'
    assert not hasattr(trainer.report.attention, "window_labels") or trainer.report.attention.window_labels is common.window_labels
    # one definition of the dialogue brackets
    assert trainer.segment.DIALOGUE_OPENERS[:len(features.OPENERS)] == features.OPENERS
    # dead code gone
    assert not hasattr(trainer.config, "POOLINGS")
    # the models' defaults and options live in the catalog only
    assert not any(hasattr(trainer.config, n) for n in ("MODELS", "WINDOW_MODELS", "DEFAULT_HIDDEN", "DEFAULT_BATCH"))
    import trainer.models.seq
    import trainer.report.report

    assert not hasattr(trainer.models.seq, "ARCHS") and not hasattr(trainer.report.report, "ATTENTION_MODELS")
