"""The one reader of a run directory written by `seg train` (used by segment, report, predict).

A run directory holds config.json, metrics.json, repeat-<k>.pt and predictions-<split>.jsonl.

    run = load_run("runs/bilstm-w2x2-bce-20250101-120000")   strict: SegError unless finished and usable
    run = read_run(path)                                       lenient: problems become run.notes, run.complete
                                                               says whether it can be tabled (seg report)
    run.config / run.metrics   config.json / metrics.json ({} when unreadable)
    run.name, run.path, run.train (the TrainConfig dict), run.model_kind, run.encoder, run.dataset
    run.repeats                metrics.json["repeats"]
    run.thresholds             decision threshold of each repeat (chosen on dev)
    run.best_repeat            position of the repeat with the best dev F1 (first on ties)
    run.ensemble_threshold     the threshold of the mean probability of all repeats, tuned on dev
    run.window, run.spec       the model's (L, R) window and architecture spec
    run.build_model(k) / build_models()   eval-mode models, weights loaded with weights_only=True
    run.inputs(vectors, texts) cached sentence vectors -> the model's inputs (+ --features columns)
    run.predictions(split)     Predictions (docs, index, labels, probs (gaps, repeats)) or None (+ a note)

One bad run must not hide the others in a report, so read_run never raises for a damaged
run; load_run (segment, attention heatmaps) turns the first blocking problem into a SegError.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from pipeline.errors import SegError

from .features import with_features
from .results import best_index


@dataclass
class Predictions:
    """One row per candidate gap of a split (predictions-<split>.jsonl), probabilities per repeat."""

    docs: list[str]
    index: np.ndarray     # sentence index within its document (the gap before it)
    labels: np.ndarray    # 1 = true break
    probs: np.ndarray     # (gaps, repeats)
    breaks: Optional[np.ndarray] = None   # (gaps, repeats) 0/1 decisions as seg train made them (older runs: None)

    def __len__(self) -> int:
        return len(self.docs)

    def decisions(self, thresholds) -> np.ndarray:
        """(gaps, repeats) bool: the stored decisions (threshold or Viterbi, as trained), else
        probabilities >= each repeat's threshold (runs written before decisions were stored)."""
        if self.breaks is not None:
            return self.breaks.astype(bool)
        return self.probs >= np.asarray(thresholds, dtype=np.float64)[None, :]

    def doc_slices(self) -> dict[str, np.ndarray]:
        """Row indices of each document, in file order."""
        out: dict[str, list[int]] = {}
        for k, d in enumerate(self.docs):
            out.setdefault(d, []).append(k)
        return {d: np.asarray(v) for d, v in out.items()}

    def doc_gap_counts(self) -> list[int]:
        return [len(v) for v in self.doc_slices().values()]


@dataclass
class Run:
    path: Path
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    complete: bool = False
    _preds: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    # --- views on config.json -------------------------------------------------
    @property
    def train(self) -> dict:
        t = self.config.get("train")
        return t if isinstance(t, dict) else {}

    @property
    def model_kind(self) -> str:
        return str(self.train.get("model", "?"))

    @property
    def encoder(self) -> str:
        base = self.config.get("encoder_model")      # crossseg: the fine-tuned transformer, no cached vectors
        if isinstance(base, dict) and base.get("source"):
            return f"fine-tuned {Path(str(base['source'])).name}"
        emb = self.config.get("embedding")
        if isinstance(emb, dict) and emb.get("name"):
            return str(emb["name"])
        return str(self.train.get("encoder", "?"))

    @property
    def dataset(self) -> Optional[Path]:
        d = self.config.get("dataset")
        return Path(d) if d else None

    @property
    def dataset_key(self) -> str:
        return str(self.config.get("dataset_fingerprint") or self.config.get("dataset") or "?")

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
    def features(self) -> str:
        return str(self.train.get("features") or "none")

    # --- views on metrics.json ------------------------------------------------
    @property
    def repeats(self) -> list[dict]:
        r = self.metrics.get("repeats")
        return [x for x in r if isinstance(x, dict)] if isinstance(r, list) else []

    def summary(self, split: str) -> dict:
        s = self.metrics.get("summary", {})
        return s.get(split, {}) if isinstance(s, dict) else {}

    def per_repeat(self, split: str, metric: str) -> list[float]:
        return [float(r[split][metric]) for r in self.repeats
                if isinstance(r.get(split), dict) and metric in r[split]]

    @property
    def thresholds(self) -> list[float]:
        return [float(r.get("threshold", 0.5)) for r in self.repeats]

    @property
    def best_repeat(self) -> int:
        """Position (in `repeats`, `thresholds`, `build_models()`) of the best dev F1; first on ties."""
        f1 = [float(r["dev"]["f1"]) if isinstance(r.get("dev"), dict) and "f1" in r["dev"] else -1.0
              for r in self.repeats]
        return best_index(f1)

    @property
    def ensemble_threshold(self) -> float:
        """Threshold of the mean probability over all repeats, chosen on dev as each repeat's is:
        the one maximising F1 of the averaged dev probabilities (predictions-dev.jsonl).
        The mean of the repeats' own thresholds is not that threshold: averaging probabilities
        shrinks them towards the middle."""
        from .metrics import best_threshold

        p = self.predictions("dev")
        if p is None:
            raise SegError(f"{self.path}: {self.notes[-1] if self.notes else 'no predictions-dev.jsonl'}; "
                           f"--ensemble tunes its threshold on it; retrain with `seg train`")
        return best_threshold(p.labels, p.probs.mean(axis=1))[0]

    def decoder(self, k: int):
        """How repeat k turns probabilities into breaks (a decode.Decoder; the threshold rule for a run
        without a "decoder" record)."""
        from . import decode

        rep = self.repeats[k]
        return decode.make(self.config.get("decoder"), float(rep.get("threshold", 0.5)), rep.get("decoder"))

    # --- models ---------------------------------------------------------------
    def inputs(self, vectors, texts: list[str], spans=None):
        """The model's input rows for these sentences: their cached vectors plus the run's --features
        (`spans`: the documents as (start, end) or (doc, start, end) ranges over `texts`). Token
        states (a --sentence-pooling attention run) become a TokenBank with the --features columns."""
        from pipeline.token_states import TokenStates

        if isinstance(vectors, TokenStates):
            from .tokendata import TokenBank

            return TokenBank(vectors, with_features(np.zeros((len(texts), 0), np.float32), texts, self.features, spans))
        return with_features(vectors, texts, self.features, spans)

    def build_model(self, k: int, device="cpu"):
        import pickle

        import torch

        from .models import from_spec

        rep = self.repeats[k]["repeat"]
        f = self.path / f"repeat-{rep}.pt"
        if not f.is_file():
            raise SegError(f"{f}: weights of repeat {rep} missing; retrain with `seg train`")
        model = from_spec(self.spec)
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError,
                UnicodeDecodeError, KeyError, IndexError) as e:
            # never repeat torch's own advice here: loading with weights_only=False would run
            # whatever code a foreign file carries
            raise SegError(f"{f}: not a weights file written by `seg train` (damaged, truncated or foreign: "
                           f"{type(e).__name__}); retrain with `seg train`") from None
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError, ValueError) as e:
            first = str(e).strip().splitlines()
            raise SegError(f"{f}: its tensors do not fit the run's {self.spec['kind']} model "
                           f"({first[1].strip() if len(first) > 1 else type(e).__name__}); retrain with `seg train`") from None
        return model.to(device).eval()

    def build_models(self, device="cpu") -> list:
        return [self.build_model(k, device) for k in range(len(self.repeats))]

    # --- predictions ----------------------------------------------------------
    def predictions_path(self, split: str) -> Path:
        return self.path / f"predictions-{split}.jsonl"

    def predictions(self, split: str) -> Optional[Predictions]:
        """The split's predictions, or None (with a note) when absent or unreadable."""
        if split not in self._preds:
            self._preds[split] = self._read_predictions(split)
        return self._preds[split]

    def _read_predictions(self, split: str) -> Optional[Predictions]:
        f = self.predictions_path(split)
        if not f.is_file():
            self.note(f"no {f.name}: plots and significance on {split} skipped")
            return None
        docs, index, labels, probs, breaks = [], [], [], [], []
        try:
            with f.open(encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    r = json.loads(line)
                    p = r["prob"]
                    docs.append(str(r["doc"])); index.append(int(r["i"])); labels.append(int(r["label"]))
                    probs.append([float(x) for x in (p if isinstance(p, list) else [p])])
                    if "break" in r:
                        breaks.append([int(x) for x in r["break"]])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError):
            self.note(f"{f.name} is not in the expected format (old or damaged run): plots and significance on {split} skipped")
            return None
        if not docs or len({len(p) for p in probs}) != 1:
            self.note(f"{f.name} is empty or ragged: plots and significance on {split} skipped")
            return None
        n_rep = len(probs[0])
        if self.repeats and n_rep != len(self.repeats):
            self.note(f"{f.name} has {n_rep} probabilities per gap but metrics.json {len(self.repeats)} repeats: skipped")
            return None
        stored = None
        if breaks and len(breaks) == len(probs) and {len(b) for b in breaks} == {n_rep}:
            stored = np.asarray(breaks, dtype=np.int8)
        return Predictions(docs, np.asarray(index), np.asarray(labels, dtype=np.int64), np.asarray(probs, dtype=np.float64),
                           stored)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def read_json_object(path: Path) -> tuple[Optional[dict], Optional[str]]:
    """(the JSON object, None) or (None, what is wrong: missing / unreadable / not valid JSON / not a JSON object)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "missing"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "not valid JSON"
    except OSError as e:
        return None, f"unreadable ({e.strerror or e})"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, None


def read_run(path: Path | str) -> Run:
    """Read one run directory; problems become `notes`, `complete` says if it can be tabled."""
    path = Path(path)
    run = Run(path=path)
    cfg, err = read_json_object(path / "config.json")
    if cfg is None:
        run.note(f"config.json {err}: settings unknown")
    else:
        run.config = cfg
        if not isinstance(cfg.get("train"), dict):
            run.note("old format: config.json has no \"train\" section (written by an older seg); settings unknown, re-run `seg train` to refresh it")
    met, err = read_json_object(path / "metrics.json")
    if met is None:
        if err == "missing":
            run.note("incomplete: no metrics.json yet (training interrupted or still running); re-run `seg train` with the same options to resume")
        else:
            run.note(f"metrics.json {err}: delete the run and re-run `seg train`")
        return run
    run.metrics = met
    status = met.get("status")
    summary = met.get("summary")
    if "status" not in met or not isinstance(summary, dict) or not isinstance(met.get("repeats"), list):
        run.note("old format: metrics.json has no status/summary/repeats (written by an older seg); re-run `seg train` to report it")
        return run
    if status != "complete":
        done = len(met.get("repeats") or [])
        want = run.train.get("repeats", "?")
        run.note(f"incomplete: status {status!r}, {done} of {want} repeats done; re-run `seg train` with the same options to finish it")
        return run
    if not _finite(summary):   # seg train never writes NaN: a damaged or hand-edited file
        run.note("metrics.json holds NaN or infinite values (damaged or edited): delete the run and re-run `seg train`")
        return run
    run.complete = True
    return run


def _finite(obj) -> bool:
    """Whether every number in a JSON value is finite."""
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_finite(v) for v in obj)
    return not isinstance(obj, float) or math.isfinite(obj)


def load_run(run_dir: Path | str) -> Run:
    """The run at `run_dir`, ready to predict; SegError when it is missing, unfinished or not a seg run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise SegError(f"{path}: no such run directory; train one with `seg train` (runs are under runs/ by default)")
    for name, what in (("config.json", "run config"), ("metrics.json", "run metrics")):
        obj, err = read_json_object(path / name)
        if obj is None:
            fix = "the run did not finish; retrain it with `seg train`" if err == "missing" else \
                  "delete the run and retrain it with `seg train`"
            raise SegError(f"{path / name}: {what} {'not found' if err == 'missing' else 'is ' + err}; {fix}")
    run = read_run(path)
    if not run.complete and run.notes and run.notes[-1].startswith("metrics.json holds NaN"):
        raise SegError(f"{path / 'metrics.json'}: holds NaN or infinite values (damaged or edited); delete the run and "
                       f"retrain it with `seg train`")
    if not run.complete or not run.repeats:
        raise SegError(f"{path}: the run did not finish (metrics.json status {run.metrics.get('status')!r}); retrain it")
    if not isinstance(run.config.get("model"), dict) or "kind" not in run.config["model"]:
        raise SegError(f"{path}/config.json: no model spec; this run was not written by this `seg train`")
    bad = [r for r in run.repeats if not isinstance(r.get("repeat"), int) or not isinstance(r.get("threshold"), (int, float))]
    if bad or len(run.repeats) != len(run.metrics["repeats"]):
        raise SegError(f"{path}/metrics.json: repeats without a repeat number or threshold (damaged); retrain the run")
    return run
