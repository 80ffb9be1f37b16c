"""What training produces in memory: one RepeatResult per repeat, one FitResult per run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import METRICS

SELECTION = ("per repeat: the epoch with the best dev F1, at the dev threshold maximising F1; "
             "--decode viterbi: then the prior weight and bias with the best dev F1; "
             "test scored once at that choice")


def best_index(dev_f1: list[float]) -> int:
    """The repeat to use alone (segment, heatmaps): the best dev F1, the first on ties."""
    return max(range(len(dev_f1)), key=lambda k: (dev_f1[k], -k)) if dev_f1 else 0


@dataclass
class RepeatResult:
    repeat: int
    seed: int
    best_epoch: int
    threshold: float
    epochs: list[dict]
    dev: dict
    test: dict
    state_dict: dict = field(repr=False)                 # the chosen epoch's weights (CPU tensors)
    probs: dict[str, np.ndarray] = field(repr=False)     # {"dev", "test"}: probability per gap
    decoder: dict | None = None                          # decode.Decoder.to_dict(): how probabilities became breaks

    def record(self) -> dict:
        """The repeat's entry of metrics.json."""
        return {"repeat": self.repeat, "seed": self.seed, "best_epoch": self.best_epoch, "threshold": self.threshold,
                "epochs": self.epochs, "dev": self.dev, "test": self.test, "decoder": self.decoder}


def summarize(results: list[dict]) -> dict:
    """{metric: {"mean", "std"}} over repeats; std is the sample std (ddof=1), 0 for one repeat."""
    out = {}
    for k in METRICS:
        v = np.array([r[k] for r in results], dtype=np.float64)
        out[k] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return out


@dataclass
class FitResult:
    spec: dict                      # model architecture (config.json["model"])
    loss: dict                      # loss description (config.json["loss"])
    repeats: list[RepeatResult]
    sets: dict = field(repr=False)  # split -> train.GapSet
    baselines: dict
    device: str
    length_prior: dict | None = None  # decode.LengthPrior of the train split (--decode viterbi)

    def breaks(self, r: RepeatResult, split: str) -> np.ndarray:
        """Repeat r's 0/1 decision per gap of `split`, through its decoder (threshold or Viterbi)."""
        from .decode import Decoder, LengthPrior

        prior = LengthPrior.from_dict(self.length_prior) if self.length_prior else None
        gs = self.sets[split]
        return Decoder.from_dict(r.decoder, r.threshold).decide(r.probs[split], gs.doc_gap_counts, prior)

    def metrics(self) -> dict:
        """metrics.json."""
        return {
            "status": "complete",
            "device": self.device,
            "selection": SELECTION,
            "repeats": [r.record() for r in self.repeats],
            "summary": {s: summarize([getattr(r, s) for r in self.repeats]) for s in ("dev", "test")},
            "baselines": self.baselines,
            "n_gaps": {s: len(g) for s, g in self.sets.items()},
        }
