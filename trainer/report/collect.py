"""Find run directories written by `seg train` and read them without trusting them.

A run directory holds config.json, metrics.json, repeat-<k>.pt and
predictions-<split>.jsonl. Anything missing or in an older layout becomes a note on
the run (shown in the report), never an exception: one bad run must not hide the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from pipeline.errors import SegError

METRICS = ("precision", "recall", "f1", "bacc", "pk", "windowdiff")
LOWER_IS_BETTER = {"pk", "windowdiff"}


@dataclass
class Predictions:
    """One row per candidate gap of a split, probabilities per repeat."""

    docs: list[str]
    index: np.ndarray     # sentence index within its document (the gap before it)
    labels: np.ndarray    # 1 = true break
    probs: np.ndarray     # (gaps, repeats)

    def __len__(self) -> int:
        return len(self.docs)

    def doc_slices(self) -> dict[str, np.ndarray]:
        """Row indices of each document, in file order."""
        out: dict[str, list[int]] = {}
        for k, d in enumerate(self.docs):
            out.setdefault(d, []).append(k)
        return {d: np.asarray(v) for d, v in out.items()}


@dataclass
class RunInfo:
    name: str
    path: Path
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    complete: bool = False
    _preds: dict = field(default_factory=dict, repr=False)

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

    # --- views on metrics.json ------------------------------------------------
    @property
    def repeats(self) -> list[dict]:
        r = self.metrics.get("repeats")
        return r if isinstance(r, list) else []

    def summary(self, split: str) -> dict:
        s = self.metrics.get("summary", {})
        return s.get(split, {}) if isinstance(s, dict) else {}

    def per_repeat(self, split: str, metric: str) -> list[float]:
        return [float(r[split][metric]) for r in self.repeats
                if isinstance(r.get(split), dict) and metric in r[split]]

    def thresholds(self) -> list[float]:
        return [float(r.get("threshold", 0.5)) for r in self.repeats]

    def best_repeat(self, split: str = "dev") -> int:
        """Position (in `repeats`) of the repeat with the highest F1 on `split`."""
        f1 = self.per_repeat(split, "f1")
        return int(np.argmax(f1)) if f1 else 0

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
        docs, index, labels, probs = [], [], [], []
        try:
            with f.open(encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    r = json.loads(line)
                    p = r["prob"]
                    docs.append(str(r["doc"])); index.append(int(r["i"])); labels.append(int(r["label"]))
                    probs.append([float(x) for x in (p if isinstance(p, list) else [p])])
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
        return Predictions(docs, np.asarray(index), np.asarray(labels, dtype=np.int64), np.asarray(probs, dtype=np.float64))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _read_json(path: Path) -> tuple[Optional[dict], Optional[str]]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "missing"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, None


def read_run(path: Path) -> RunInfo:
    """Read one run directory; problems become `notes`, `complete` says if it can be tabled."""
    path = Path(path)
    run = RunInfo(name=path.name, path=path)
    cfg, err = _read_json(path / "config.json")
    if cfg is None:
        run.note(f"config.json {err}: settings unknown")
    else:
        run.config = cfg
        if not isinstance(cfg.get("train"), dict):
            run.note("old format: config.json has no \"train\" section (written by an older seg); settings unknown, re-run `seg train` to refresh it")
    met, err = _read_json(path / "metrics.json")
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
    run.complete = True
    return run


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").is_file() or (path / "metrics.json").is_file())


def find_runs(run_args: list[str], runs_root: Path) -> list[RunInfo]:
    """RUN arguments (directories, or names under `runs_root`); none = every run under it."""
    runs_root = Path(runs_root)
    dirs: list[Path] = []
    if run_args:
        for a in run_args:
            p = Path(a)
            if not p.exists() and (runs_root / a).exists():
                p = runs_root / a
            if not p.is_dir():
                raise SegError(f"{a}: no such run directory (looked in . and {runs_root}); list runs with `ls {runs_root}` or train one with `seg train`")
            if is_run_dir(p):
                dirs.append(p)
            else:
                sub = sorted(q for q in p.iterdir() if is_run_dir(q))
                if not sub:
                    raise SegError(f"{p}: not a run directory (no config.json or metrics.json) and holds none; train one with `seg train`")
                dirs.extend(sub)
    else:
        if runs_root.is_dir():
            dirs = sorted(q for q in runs_root.iterdir() if is_run_dir(q) and not q.name.startswith("."))
        if not dirs:
            raise SegError(f"no runs found under {runs_root}; train one with `seg train` or pass --runs DIR / RUN paths")
    seen: set[Path] = set()
    runs = []
    for d in dirs:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            runs.append(read_run(d))
    return runs
