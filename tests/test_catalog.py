"""trainer/catalog.py is the one home of what seg knows about each model: a new integrator is one
nn.Module file plus one register(ModelInfo(...)) line, and train's option checks, its defaults, the
saved spec, loading a run, segmenting new text, the report's settings line and `seg train --help`
all follow from that line with no other file touched.

The new model here is written at test time into a module outside the package ("gapdiff": an
MLP over the difference of the two sentences beside the gap, a model seg does not have) and
registered with one line; it is trained on train_dataset (4 Aozora works embedded with the tiny
sentence-transformers model) through the Python API.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

import seg
from pipeline.errors import SegError
from trainer import catalog
from trainer.config import TrainConfig
from trainer.train import check_config

GAPDIFF = textwrap.dedent('''
    import torch

    from trainer.models.common import WindowIntegrator, mlp_head


    class GapDiff(WindowIntegrator):
        def __init__(self, *, dim: int, left: int, right: int, hidden: int, dropout: float):
            super().__init__(dim, left, right, hidden, dropout)
            self.head = mlp_head(2 * hidden, hidden, 1, dropout)

        def integrate(self, h, mask, return_attention=False):
            before, after = h[:, self.left - 1], h[:, self.left]
            logits = self.head(torch.cat([after - before, after * before], dim=-1)).squeeze(-1)
            return (logits, None) if return_attention else logits
''')


@pytest.fixture
def gapdiff(tmp_path, monkeypatch):
    (tmp_path / "seg_test_gapdiff.py").write_text(GAPDIFF, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(catalog, "_CATALOG", catalog._CATALOG.copy())   # registrations end with the test
    # the one line
    catalog.register(catalog.ModelInfo("gapdiff", "seg_test_gapdiff:GapDiff", hidden=24, batch=64,
                                       options={"window"}, summary="an MLP over the difference at the gap"))
    yield "gapdiff"
    sys.modules.pop("seg_test_gapdiff", None)


def test_a_registered_model_trains_loads_segments_and_reports(gapdiff, train_dataset, tmp_path):
    from tests.reproduce import segment_reproduces_test
    from trainer.report.collect import find_runs
    from trainer.report.tables import run_settings

    run = seg.train(train_dataset, encoder="tiny", model="gapdiff", window="1:1", epochs=3, seed=3, repeats=2,
                    name="gapdiff", output=tmp_path / "runs", progress=False)
    spec = run.spec
    # the catalog's width (--hidden 0), and only the fields its constructor declares reach it
    assert spec["kind"] == "gapdiff" and spec["hidden"] == 24 and (spec["left"], spec["right"]) == (1, 1)
    assert len(run.repeats) == 2 and all(0.0 <= r["test"]["f1"] <= 1.0 for r in run.repeats)
    # a fresh load rebuilds it from the saved spec: segment --evaluate on the test works' source
    # files gives train's test metrics and every gap's probability
    _, _, loaded = segment_reproduces_test(train_dataset, run.path)
    model = loaded.build_model(loaded.best_repeat)
    assert type(model).__name__ == "GapDiff" and model.head[-1].out_features == 1
    # the report's settings line shows the option it reads (window), none of those it does not
    shown = run_settings(find_runs([str(run.path)], tmp_path / "runs")[0])
    assert shown["model"] == "gapdiff" and shown["window"] == "1:1"
    assert not {"heads", "memory_size", "pooling", "arch", "chunk", "max_length", "encoder_lr"} & set(shown)


def test_the_catalog_line_drives_the_option_checks(gapdiff):
    check_config(TrainConfig(model="gapdiff", window="1:2"))          # it reads --window
    for option, value in (("heads", 8), ("pooling", "max"), ("memory_size", 2), ("arch", "transformer")):
        with pytest.raises(SegError) as e:
            check_config(TrainConfig(model="gapdiff", **{option: value}))
        flag = "--" + option.replace("_", "-")
        assert str(e.value).startswith(f"{flag} {value} applies to ") and "gapdiff" not in str(e.value).split("(")[0]
    # and the help text of seg train names it with its summary and defaults
    assert "gapdiff (an MLP over the difference at the gap)" in catalog.model_help()
    assert "gapdiff 24" in catalog.help_list("hidden") and "gapdiff 64" in catalog.help_list("batch")
    assert "gapdiff" not in catalog.pooling_help()


def test_an_unknown_model_is_one_line_naming_the_choices():
    with pytest.raises(SegError, match=r"--model 'lstm': use one of pool, bilstm, transformer, attmem, seq, crossseg"):
        check_config(TrainConfig(model="lstm"))


def test_a_registration_that_names_an_unknown_option_is_refused():
    with pytest.raises(ValueError, match="unknown options"):
        catalog.ModelInfo("x", "m:C", options={"windw"})
    with pytest.raises(ValueError, match="family"):
        catalog.ModelInfo("x", "m:C", family="graph")


def test_what_train_refuses_is_what_the_report_hides():
    """catalog.applies is the one test: for every model, loss and option, train accepts an option
    set away from its default exactly when the report would show it for that run."""
    from trainer.report.tables import shown

    default = TrainConfig()
    values = {"window": "1:1", "pooling": "mean", "heads": 2, "memory_size": 2, "arch": "transformer", "chunk": 32,
              "max_length": 64, "encoder_lr": 1e-4, "warmup": 0.2, "accumulate": 2, "gamma": 1.0, "beta": 0.99}
    checked = 0
    for model in catalog.names():
        for loss in ("bce", "focal", "balanced"):
            for option, value in values.items():
                cfg = TrainConfig(model=model, loss=loss, **{option: value})
                settings = {**vars(default), **vars(cfg)}
                try:
                    check_config(cfg)
                    accepted = True
                except SegError as e:
                    accepted = not str(e).startswith(f"--{option.replace('_', '-')} {value} applies to")
                    if not accepted:
                        assert not shown(settings, option), (model, loss, option)
                if accepted:
                    assert shown(settings, option), (model, loss, option)
                checked += 1
    assert checked == len(catalog.names()) * 3 * len(values)
