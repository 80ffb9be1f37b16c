"""The comparison table: one row per run, the settings that differ, metrics mean ± std.

`build_table` returns plain numbers (tests compare them with metrics.json); the
writers and `rich_table` only format them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rich.table import Table as RichTable

from .collect import LOWER_IS_BETTER, METRICS, Run
from .. import catalog

LABELS = {"precision": "P", "recall": "R", "f1": "F1", "bacc": "bAcc", "pk": "Pk", "windowdiff": "WD"}
# settings always shown (when known), then any other train setting that differs between runs
ALWAYS = ("encoder", "model")
ORDER = ("encoder", "model", "window", "features", "loss", "gamma", "alpha", "pooling", "hidden", "layers", "heads",
         "memory_size", "lr", "batch_size", "epochs", "dataset")
# bookkeeping that says nothing about the model
IGNORE = {"name", "output", "force", "runs", "repeats", "seed", "device", "threads", "workers", "dataset", "embeddings", "cache"}
BASELINE_NAMES = {"everywhere": "baseline: break everywhere", "rule": "baseline: bracket rule"}


@dataclass
class Row:
    name: str
    settings: dict[str, str]
    values: dict[str, Optional[tuple[float, float]]]   # metric -> (mean, std) or None
    repeats: Optional[int]
    kind: str = "run"            # run | baseline
    note: str = ""
    best: set = field(default_factory=set)       # metrics where this run is the best run
    beats: set = field(default_factory=set)      # baseline rows: metrics where it beats every run


@dataclass
class Table:
    split: str
    columns: list[str]           # setting names
    rows: list[Row]


# options shown only for the runs they act on (the settings line of each run, the table columns):
# the model and loss options by catalog.applies (the same test seg train refuses them by), and these, shown
# when they differ from what every run did before they existed
SHOWN_WHEN = {
    "sentence_pooling": lambda t: t.get("sentence_pooling") == "attention",
    "max_train_gaps": lambda t: bool(t.get("max_train_gaps")),
    "max_train_works": lambda t: bool(t.get("max_train_works")),
    "finetune_layers": lambda t: bool(t.get("finetune_layers")), "across_gap": lambda t: bool(t.get("across_gap")),
}


def shown(t: dict, key: str) -> bool:
    """Whether a run's train setting `key` goes in its settings line."""
    if key in SHOWN_WHEN:
        return SHOWN_WHEN[key](t)
    return catalog.applies(t, key)[0]


def run_settings(run: Run) -> dict[str, str]:
    t = run.train
    s = {k: _fmt_setting(v) for k, v in t.items() if not isinstance(v, (dict, list))
         and shown(t, k)}
    s.setdefault("features", "none")       # runs from before --features had none
    if t.get("init_from"):                 # the run it started from, by name
        s["init_from"] = Path(t["init_from"]).name
    s["encoder"] = run.encoder
    s["model"] = run.model_kind
    if run.dataset is not None:
        s["dataset"] = run.dataset.name
    return s


def _fmt_setting(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return "" if v is None else str(v)


def differing_columns(runs: list[Run]) -> list[str]:
    sets = [run_settings(r) for r in runs if r.config]
    keys: set[str] = set()
    for s in sets:
        keys |= s.keys()
    cols = [k for k in ALWAYS if any(k in s for s in sets)] or list(ALWAYS)
    for k in sorted(keys, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k)):
        if k in cols or (k in IGNORE and k != "dataset"):
            continue
        if len({s.get(k, "") for s in sets}) > 1:
            cols.append(k)
    return cols


def build_table(runs: list[Run], split: str, sort: str = "f1") -> Table:
    cols = differing_columns(runs)
    rows: list[Row] = []
    for r in runs:
        s = run_settings(r) if r.config else {}
        vals: dict[str, Optional[tuple[float, float]]] = {}
        summ = r.summary(split) if r.complete else {}
        for m in METRICS:
            v = summ.get(m)
            vals[m] = (float(v["mean"]), float(v.get("std", 0.0))) if isinstance(v, dict) and "mean" in v else None
        note = "; ".join(n for n in r.notes if n.startswith(("incomplete", "old format", "config.json", "metrics.json")))
        rows.append(Row(r.name, {c: s.get(c, "") for c in cols}, vals, len(r.repeats) if r.complete else None, note=note))
    if sort:
        key = sort.lower()
        if key not in METRICS:
            from pipeline.errors import SegError
            raise SegError(f"--sort {sort!r}: use one of {', '.join(METRICS)}")
        sign = 1 if key in LOWER_IS_BETTER else -1
        rows.sort(key=lambda row: (row.values[key] is None, sign * row.values[key][0] if row.values[key] else 0))
    _mark_best(rows)
    base = baseline_rows(runs, split, cols)
    for m in METRICS:
        have = [row.values[m][0] for row in rows if row.values[m] is not None]
        if not have:
            continue
        lower = m in LOWER_IS_BETTER
        best = min(have) if lower else max(have)
        for b in base:
            v = b.values[m]
            if v is not None and (v[0] < best if lower else v[0] > best):
                b.beats.add(m)
    rows.extend(base)
    return Table(split, cols, rows)


def _mark_best(rows: list[Row]) -> None:
    for m in METRICS:
        have = [(row.values[m][0], row) for row in rows if row.values[m] is not None]
        if not have:
            continue
        best = (min if m in LOWER_IS_BETTER else max)(v for v, _ in have)
        for v, row in have:
            if v == best:
                row.best.add(m)


def baseline_rows(runs: list[Run], split: str, cols: list[str]) -> list[Row]:
    """Baselines of each distinct dataset among the runs (labelled by dataset if several)."""
    by_ds: dict[str, tuple[Run, dict]] = {}
    for r in runs:
        b = r.metrics.get("baselines", {}) if r.complete else {}
        b = b.get(split) if isinstance(b, dict) else None
        if isinstance(b, dict) and r.dataset_key not in by_ds:
            by_ds[r.dataset_key] = (r, b)
    rows = []
    for run, b in by_ds.values():
        suffix = f" ({run.dataset.name})" if len(by_ds) > 1 and run.dataset else ""
        for key, label in BASELINE_NAMES.items():
            m = b.get(key)
            if not isinstance(m, dict):
                continue
            vals = {k: ((float(m[k]), 0.0) if isinstance(m.get(k), (int, float)) else None) for k in METRICS}
            rows.append(Row(label + suffix, {c: "" for c in cols}, vals, None, kind="baseline"))
    return rows


def fmt_value(v: Optional[tuple[float, float]], repeats: Optional[int] = None, sep: str = " ± ") -> str:
    if v is None:
        return "—"
    mean, std = v
    if repeats is None or repeats < 2:
        return f"{mean:.3f}"
    return f"{mean:.3f}{sep}{std:.3f}"


def rich_table(t: Table, title: Optional[str] = None) -> RichTable:
    rt = RichTable(title=title or f"{t.split} split (mean ± std over repeats; best run in bold green, ▲ baseline beats every run)", padding=(0, 1))
    rt.add_column("run", style="cyan", overflow="fold")
    for c in t.columns:
        rt.add_column(c, overflow="fold")
    for m in METRICS:
        rt.add_column(LABELS[m] + ("↓" if m in LOWER_IS_BETTER else ""), justify="right", no_wrap=True)
    rt.add_column("n", justify="right")
    for row in t.rows:
        cells = [row.name + (" ⚠" if row.note else "")]
        cells += [row.settings.get(c, "") for c in t.columns]
        for m in METRICS:
            s = fmt_value(row.values[m], row.repeats, sep="±")
            cells.append(f"[bold green]{s}[/]" if m in row.best else f"[yellow]{s}▲[/]" if m in row.beats else s)
        cells.append("" if row.repeats is None else str(row.repeats))
        rt.add_row(*cells, style="dim" if row.kind == "baseline" else None)
    return rt
