"""A finished run directory of `seg train`, for `seg segment`, `seg report` and scripts.

    run = load_run("runs/bilstm-w2x2-bce-20250101-120000")
    run.config         config.json (train options, dataset, embedding manifest, model spec)
    run.metrics        metrics.json
    run.window         (L, R)
    run.thresholds     decision threshold of each repeat (chosen on dev)
    run.best_repeat    index of the repeat with the best dev F1
    run.build_models() one eval-mode model per repeat, weights loaded with weights_only=True
    run.inputs(vectors, texts)  cached sentence vectors -> the model's inputs (+ --features columns)
    run.predictions(split)  rows of predictions-<split>.jsonl
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.errors import SegError
from pipeline.fsutil import read_json

from .features import with_features
from .models import from_spec


@dataclass
class Run:
    path: Path
    config: dict
    metrics: dict

    @property
    def spec(self) -> dict:
        return self.config["model"]

    @property
    def window(self) -> tuple[int, int] | None:
        """(L, R) of a window model; None for --model seq, which reads whole documents."""
        if self.spec.get("kind") == "seq":
            return None
        return int(self.spec["left"]), int(self.spec["right"])

    @property
    def repeats(self) -> list[dict]:
        return self.metrics["repeats"]

    @property
    def thresholds(self) -> list[float]:
        return [float(r["threshold"]) for r in self.repeats]

    @property
    def best_repeat(self) -> int:
        """Position (in `repeats`, `thresholds`, `build_models()`) of the best dev F1; first on ties."""
        f1 = [r["dev"]["f1"] for r in self.repeats]
        return max(range(len(f1)), key=lambda k: (f1[k], -k))

    @property
    def features(self) -> str:
        return str(self.config.get("train", {}).get("features") or "none")

    def inputs(self, vectors, texts: list[str], spans=None):
        """The model's input rows for these sentences: their cached vectors plus the run's --features
        (`spans`: the documents as (start, end) or (doc, start, end) ranges over `texts`)."""
        return with_features(vectors, texts, self.features, spans)

    def build_model(self, k: int, device: str | torch.device = "cpu") -> torch.nn.Module:
        rep = self.repeats[k]["repeat"]
        f = self.path / f"repeat-{rep}.pt"
        if not f.is_file():
            raise SegError(f"{f}: weights of repeat {rep} missing; retrain with `seg train`")
        model = from_spec(self.spec)
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as e:  # damaged or foreign file
            raise SegError(f"{f}: does not load into the run's {self.spec['kind']} model ({type(e).__name__}: {e}); "
                           f"retrain with `seg train`") from None
        return model.to(device).eval()

    def build_models(self, device: str | torch.device = "cpu") -> list[torch.nn.Module]:
        return [self.build_model(k, device) for k in range(len(self.repeats))]

    def predictions(self, split: str) -> list[dict]:
        f = self.path / f"predictions-{split}.jsonl"
        if not f.is_file():
            raise SegError(f"{f}: not found; retrain with `seg train`")
        with f.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


def load_run(run_dir: Path | str) -> Run:
    """The run at `run_dir`; SegError when it is missing, unfinished or not a seg run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise SegError(f"{path}: no such run directory; train one with `seg train` (runs are under runs/ by default)")
    config = read_json(path / "config.json", "run config")
    metrics = read_json(path / "metrics.json", "run metrics")
    if metrics.get("status") != "complete" or not metrics.get("repeats"):
        raise SegError(f"{path}: the run did not finish (metrics.json status {metrics.get('status')!r}); retrain it")
    if not isinstance(config.get("model"), dict) or "kind" not in config["model"]:
        raise SegError(f"{path}/config.json: no model spec; this run was not written by this `seg train`")
    return Run(path, config, metrics)
