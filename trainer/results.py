"""What training produces in memory: one RepeatResult per repeat, one FitResult per run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import METRICS

SELECTION = ("per repeat: the epoch with the best dev F1, at the dev threshold maximising F1; "
             "then the decoder's own settings with the best dev F1 (--decode viterbi: the prior weight and bias); "
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
    decoder: dict | None = None                          # the decoder's dev-chosen settings (decode.Decoder.settings())

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
    decoder: dict | None = None       # what the decoder learnt from train (config.json["decoder"])

    def breaks(self, r: RepeatResult, split: str) -> np.ndarray:
        """Repeat r's 0/1 decision per gap of `split`, through its decoder."""
        from . import decode

        return decode.make(self.decoder, r.threshold, r.decoder).decide(r.probs[split], self.sets[split].doc_gap_counts)

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
