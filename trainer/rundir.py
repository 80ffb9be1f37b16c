"""The run directory of `seg train`: names, resumable partial runs, the final layout.

While a run trains, finished repeats are kept in `<output>/.<name>.partial/` (its config.json
plus repeat-<k>.pt and repeat-<k>.json per finished repeat). A run that is interrupted or
crashes leaves only that hidden directory, never a half-written run under the real name;
the same command run again finds it (same options, dataset and embedding fingerprints),
keeps the finished repeats and trains the rest. Repeats are seeded independently, so a
resumed run equals an uninterrupted one. --repeats is not part of the match: a run stopped after
2 of 5 repeats is finished as a 2-repeat run by the same command with --repeats 2 (or extended). When all repeats are done the final files are
written into the partial directory and it is renamed to `<output>/<name>/`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from pipeline.errors import SegError
from pipeline.fsutil import atomic_file, naming, write_text_atomic

from .results import FitResult, RepeatResult, best_index
from .windows import parse_window

# options that do not change what is trained
RESUME_IGNORES = ("name", "output", "force", "device", "threads", "repeats")


def default_name(model: str, window: str, loss: str, output: Path) -> str:
    """<model>-w<L>x<R>-<loss>-<yyyymmdd-HHMMSS>, with -2, -3 ... when taken."""
    left, right = parse_window(window)
    base = f"{model}-w{left}x{right}-{loss}-{datetime.now():%Y%m%d-%H%M%S}"
    name, k = base, 2
    while (output / name).exists() or (output / f".{name}.partial").exists():
        name, k = f"{base}-{k}", k + 1
    return name


def resume_key(config: dict) -> dict:
    train = {k: v for k, v in config["train"].items() if k not in RESUME_IGNORES}
    return {"train": train, "dataset_fingerprint": config.get("dataset_fingerprint"),
            "embedding_fingerprint": (config.get("embedding") or {}).get("fingerprint"),
            "encoder_model_hash": (config.get("encoder_model") or {}).get("hash"),
            "init_weights": (config.get("init_from") or {}).get("weights")}


def differing_settings(old: dict | None, new: dict) -> str:
    """'--model pool -> bilstm, --epochs 4 -> 6' between two run configs (what resume_key compares)."""
    if not isinstance(old, dict) or not isinstance(old.get("train"), dict):
        return "its config.json is unreadable"
    a, b = resume_key(old), resume_key(new)
    out = [f"--{k.replace('_', '-')} {a['train'].get(k)} -> {b['train'].get(k)}"
           for k in sorted(set(a["train"]) | set(b["train"])) if a["train"].get(k) != b["train"].get(k)]
    out += [f"{k.replace('_', ' ')} changed" for k in ("dataset_fingerprint", "embedding_fingerprint", "encoder_model_hash", "init_weights")
            if a.get(k) != b.get(k)]
    return ", ".join(out) or "unknown"


def _read_config(d: Path) -> dict | None:
    try:
        obj = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("train"), dict) else None


class PartialRun:
    def __init__(self, output: Path, name: str, config: dict):
        self.output, self.name, self.config = Path(output), name, config
        self.path = self.output / f".{name}.partial"

    @classmethod
    def open(cls, output: Path, name: str | None, config: dict) -> "PartialRun":
        """The partial run to continue (same name, or for no --name the newest matching one),
        else a fresh one. A partial run under the same name with other options is replaced only
        with --force (config["train"]["force"]) when it holds finished repeats: without it the
        command is refused, naming the settings that differ."""
        output = Path(output)
        key = resume_key(config)
        if name:
            p = cls(output, name, config)
            if p.path.is_dir():
                old = _read_config(p.path)
                if old is None or resume_key(old) != key:
                    finished = sorted(p.path.glob("repeat-*.json"))
                    if finished and not config["train"].get("force"):
                        raise SegError(f"{p.path} holds {len(finished)} finished repeat(s) of an interrupted run "
                                       f"--name {name} trained with other settings ({differing_settings(old, config)}); "
                                       f"re-run with those settings to resume it, pass --force to discard it, "
                                       f"or choose another --name")
                    shutil.rmtree(p.path)
            return p.start()
        found = []
        if output.is_dir():
            for d in output.glob(".*.partial"):
                old = _read_config(d)
                if d.is_dir() and old is not None and resume_key(old) == key:
                    found.append((d.stat().st_mtime, d.name[1:-len(".partial")]))
        if found:
            name = max(found)[1]
            if not (output / name).exists():
                return cls(output, name, config).start()
        model, window, loss = (config["train"][k] for k in ("model", "window", "loss"))
        return cls(output, default_name(model, window, loss, output), config).start()

    def start(self) -> "PartialRun":
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path / "config.json", json.dumps(self.config, ensure_ascii=False, indent=2) + "\n")
        return self

    def done(self) -> dict[int, RepeatResult]:
        """Finished repeats found in the partial directory, by repeat index."""
        out = {}
        for f in sorted(self.path.glob("repeat-*.json")):
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
                state = torch.load(self.path / f"repeat-{rec['repeat']}.pt", map_location="cpu", weights_only=True)
            except Exception:   # a repeat cut off while being saved: train it again
                continue
            stored = rec.pop("probs")
            probs = {s: np.asarray(stored[s], dtype=np.float64) for s in ("dev", "test")}
            out[int(rec["repeat"])] = RepeatResult(state_dict=state, probs=probs, **rec)
        return out

    def save(self, r: RepeatResult) -> None:
        """Keep a finished repeat: weights first, then its record (the record marks it done)."""
        save_weights(r.state_dict, self.path / f"repeat-{r.repeat}.pt")
        rec = r.record() | {"probs": {s: p.tolist() for s, p in r.probs.items()}}
        write_text_atomic(self.path / f"repeat-{r.repeat}.json", json.dumps(rec))

    def finish(self, result: FitResult, force: bool) -> Path:
        """Write metrics and predictions, drop the resume records, rename into place."""
        for r in result.repeats:
            if not (self.path / f"repeat-{r.repeat}.pt").is_file():
                save_weights(r.state_dict, self.path / f"repeat-{r.repeat}.pt")
        for s in ("dev", "test"):
            write_predictions(self.path / f"predictions-{s}.jsonl", result.sets[s], [r.probs[s] for r in result.repeats],
                              [result.breaks(r, s) for r in result.repeats])
        write_text_atomic(self.path / "metrics.json", json.dumps(result.metrics(), ensure_ascii=False, indent=2) + "\n")
        from .models import word_attention

        if word_attention(result.spec):
            write_token_attention(self.path / "attention-test.npz", result)
        kept = {f"repeat-{r.repeat}.pt" for r in result.repeats}
        for f in [*self.path.glob("repeat-*.json"), *self.path.glob("repeat-*.pt")]:
            if f.name not in kept:         # resume records, and repeats past a lowered --repeats
                f.unlink()
        final = self.output / self.name
        if final.exists():
            if not force:
                raise SegError(f"{final} already exists; pass --force to replace it or choose another --name")
            old = self.output / f".{self.name}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(self.path, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.path, final)
        return final


def save_weights(state: dict, path: Path) -> None:
    """A state_dict to `path` through a temporary file. torch.save writes into memory first: on a
    full disk it would raise a RuntimeError naming no file, a plain write raises an OSError
    naming `path` (pipeline.fsutil.naming) and leaves nothing behind."""
    buf = io.BytesIO()
    torch.save(state, buf)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with naming(path):
            tmp.write_bytes(buf.getbuffer())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_predictions(path: Path, gs, probs: list[np.ndarray], breaks: list[np.ndarray]) -> None:
    """predictions-<split>.jsonl: one line per gap,
    {"doc", "i", "label", "prob": [per repeat], "break": [0/1 decision per repeat]}."""
    split = gs.split
    lines = []
    for g, s in enumerate(gs.sentence):
        rec = {"doc": split.docs[s], "i": split.index[s], "label": int(split.labels[s]),
               "prob": [float(p[g]) for p in probs], "break": [int(b[g]) for b in breaks]}
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    write_text_atomic(path, "".join(lines))


def write_token_attention(path: Path, result: FitResult) -> None:
    """--sentence-pooling attention runs: the word-attention weights of every test sentence under
    the best repeat (by dev F1, first on ties, as Run.best_repeat), so that the run itself holds
    them (seg report draws them without the dataset's token states):
        offsets (n+1,) int64   the tokens of test sentence j are rows offsets[j] .. offsets[j+1]-1
        weights (T, heads) float16, spans (T, 2) int32 (characters of the sentence per token)"""
    from .models import from_spec

    k = best_index([float(r.dev["f1"]) for r in result.repeats])
    model = from_spec(result.spec)
    model.load_state_dict(result.repeats[k].state_dict)
    bank = result.sets["test"].vectors.to("cpu")
    n = len(bank)
    weights = model.eval().token_weights(bank, np.arange(n))
    lengths = np.array([len(w) for w in weights], dtype=np.int64)
    spans = [bank.states.spans(j)[:len(w)] for j, w in enumerate(weights)]
    with atomic_file(path, "write the run's attention weights") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                     weights=np.concatenate(weights).astype(np.float16) if n else np.zeros((0, 1), np.float16),
                     spans=np.concatenate(spans).astype(np.int32) if n else np.zeros((0, 2), np.int32),
                     repeat=np.int64(result.repeats[k].repeat))
