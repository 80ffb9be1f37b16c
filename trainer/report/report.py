"""`seg report`: runs -> a comparison table, significance figures and plots (HTML or Markdown).

    ReportConfig   the options (saved beside the report as report.json with the numbers shown)
    report(cfg)    find the runs, build the tables, draw the plots, write the report atomically
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from rich.console import Console

from pipeline.errors import SegError
from pipeline.fsutil import atomic_dir, write_json_atomic, write_text_atomic
from pipeline.progress import progress, stdout_console

from . import html as html_writer
from . import markdown as md_writer
from .collect import METRICS, Run, find_runs
from .content import (Block, CompareBlock, GridBlock, Image, KeyValue, Notes, ReportContent, Section, SentenceLine,
                      SentencesBlock, TableBlock, Text)
from .gaptypes import GAP_TYPES, GapTypeResult, gap_type_analysis
from .plots import cjk_font, doc_f1, plot_doc_f1, plot_gap_types, plot_threshold, plot_timeline, plot_training
from .significance import REFERENCE_SPLIT, Comparison, compare_all, reference_run
from .tables import Table, build_table, rich_table, run_settings
from .. import catalog
from ..settings import ReportConfig

SPLITS = ("test", "dev")
FORMATS = ("html", "md")


def _check(cfg: ReportConfig) -> None:
    if cfg.split not in SPLITS:
        raise SegError(f"--split {cfg.split!r}: use test or dev")
    if cfg.format not in FORMATS:
        raise SegError(f"--format {cfg.format!r}: use html or md")
    if cfg.sort.lower() not in METRICS:
        raise SegError(f"--sort {cfg.sort!r}: use one of {', '.join(METRICS)}")
    if cfg.resamples < 100:
        raise SegError(f"--resamples {cfg.resamples}: use at least 100 (1000+ for a stable interval)")


def report(cfg: ReportConfig, out: Optional[Console] = None) -> Path:
    """Write the report of `cfg.runs` (or every run under `cfg.runs_dir`) and return its directory."""
    _check(cfg)
    output = Path(cfg.output)
    if output.exists() and not cfg.force:
        raise SegError(f"{output} already exists; pass --force to overwrite it or choose another --output")
    runs = find_runs(cfg.runs, Path(cfg.runs_dir))
    other = "dev" if cfg.split == "test" else "test"
    tables = {s: build_table(runs, s, cfg.sort) for s in (cfg.split, other)}
    best = reference_run(runs)     # chosen on dev, whatever split the comparisons are made on
    comparisons = compare_all(runs, best, cfg.split, cfg.resamples, cfg.seed) if best else []
    gap_types = gap_type_analysis(runs, cfg.split)

    # a failed write (disk full, read-only location) is reported against the report directory
    # the user asked for; atomic_dir has removed the half-built temporary one, nothing is left
    try:
        with atomic_dir(output, force=cfg.force) as tmp:
            with tempfile.TemporaryDirectory(prefix="seg-report-") as scratch:
                img_dir = tmp if cfg.format == "md" else Path(scratch)
                content = build_content(cfg, runs, tables, best, comparisons, img_dir, gap_types)
                if cfg.format == "html":
                    write_text_atomic(tmp / "index.html", html_writer.render(content))
                else:
                    write_text_atomic(tmp / "report.md", md_writer.render(content, tmp))
            write_json_atomic(tmp / "report.json", summary_json(cfg, runs, tables, comparisons, gap_types))
    except OSError as e:
        tmp_prefix = str(output.parent / f".{output.name}.tmp-")
        if e.errno is None or not (e.filename is None or str(e.filename).startswith(tmp_prefix)):
            raise                  # names its own file (e.g. the output's parent, read-only)
        raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(output)) from None

    console = out or stdout_console(width=None if sys.stdout.isatty() else 220)
    for s in (cfg.split, other):
        console.print(rich_table(tables[s], title=f"{s} split: mean ± std over repeats (best run in bold green, "
                                                  f"▲ baseline beats every run)"))
    for r in runs:
        for n in r.notes:
            console.print(f"[yellow]⚠ {r.name}: {n}[/]")
    if best is not None and comparisons:
        console.print(f"reference run (best mean {REFERENCE_SPLIT} F1): {best.name}; differences on {cfg.split}, "
                      f"p-values Holm-adjusted over {len(comparisons)} comparison(s)")
    for c in comparisons:
        if c.lo is not None:
            verdict = c.note if c.holds_up is None else "holds up" if c.holds_up else "within noise"
            console.print(f"{c.run} vs reference {c.best}: ΔF1 {c.diff:+.3f}, 95% CI [{c.lo:+.3f}, {c.hi:+.3f}] over "
                          f"{c.n_docs} documents, Holm p {c.p_boot_holm:.3g} ({verdict})")
        elif c.diff is not None:
            console.print(f"{c.run} vs reference {c.best}: ΔF1 {c.diff:+.3f} ({c.note})")
    main = output / ("index.html" if cfg.format == "html" else "report.md")
    console.print(f"report written to [bold]{main}[/]")
    return output


def summary_json(cfg: ReportConfig, runs: list[Run], tables: dict[str, Table], comparisons: list[Comparison],
                 gap_types: Optional[GapTypeResult] = None) -> dict:
    def row(r):
        return {"name": r.name, "kind": r.kind, "settings": r.settings, "repeats": r.repeats, "note": r.note,
                "best": sorted(r.best), "beats": sorted(r.beats),
                "values": {m: (None if v is None else {"mean": v[0], "std": v[1]}) for m, v in r.values.items()}}
    return {"config": asdict(cfg), "runs": [{"name": r.name, "path": str(r.path), "complete": r.complete, "notes": r.notes}
                                           for r in runs],
            "tables": {s: {"columns": t.columns, "rows": [row(r) for r in t.rows]} for s, t in tables.items()},
            "reference": {"run": comparisons[0].best if comparisons else None, "chosen_on": REFERENCE_SPLIT,
                          "by": "highest mean F1", "correction": "Holm"},
            "comparisons": [asdict(c) | {"holds_up": c.holds_up} for c in comparisons],
            "gap_types": None if gap_types is None else {
                "split": gap_types.split, "runs": "best repeat by dev F1 at its dev threshold",
                "systems": {n: {"kind": gap_types.kinds[n], "by_type": v} for n, v in gap_types.systems.items()}}}


# --- content --------------------------------------------------------------------------

def _titles(runs: list[Run]) -> dict[str, dict]:
    from pipeline.dataset import load_documents

    out: dict[str, dict] = {}
    seen = set()
    for r in runs:
        ds = r.dataset
        if ds is None or ds in seen:
            continue
        seen.add(ds)
        try:
            for d in load_documents(ds):
                out.setdefault(str(d.get("doc")), d)
        except (SegError, OSError, ValueError):
            r.note(f"dataset {ds} not readable: documents shown by id")
    return out


def build_content(cfg: ReportConfig, runs: list[Run], tables: dict[str, Table], best: Optional[Run],
                  comparisons: list[Comparison], img_dir: Path, gap_types: Optional[GapTypeResult] = None) -> ReportContent:
    split = cfg.split
    order = {row.name: k for k, row in enumerate(tables[split].rows)}
    runs = sorted(runs, key=lambda r: order.get(r.name, len(order)))     # table order: best first
    docs = _titles(runs)
    titles = {k: str(v.get("title") or k) for k, v in docs.items()}
    finished = [r for r in runs if r.complete]
    subtitle = (f"{len(runs)} run{'s' * (len(runs) != 1)} ({len(finished)} finished) · plots and significance on the "
                f"`{split}` split · reference run chosen on `{REFERENCE_SPLIT}`"
                + (f" ({best.name})" if best is not None else "")
                + f" · rows sorted by {cfg.sort} · {time.strftime('%Y-%m-%d %H:%M')}")
    content = ReportContent("seg report", subtitle)

    overview = Section("Runs compared")
    overview.blocks.append(Text("Settings shown are those that differ between the runs. Values are mean ± std over "
                                "repeats; the best run value of each column is highlighted (highest P, R, F1, bAcc; "
                                "lowest Pk and WindowDiff). Baselines are scored on the same gaps; a baseline value "
                                "that beats every run is marked ▲ (amber)."))
    for s, t in tables.items():
        overview.blocks.append(TableBlock(t, f"{s} split"))
    content.sections.append(overview)

    if best is not None:
        content.sections.append(Section("Does the difference hold up?",
                                        [CompareBlock(comparisons, split, best.name, REFERENCE_SPLIT)]))

    # plots: a list of jobs, run under one progress bar
    jobs: list[tuple[str, Callable[[], list[Block]]]] = []
    if gap_types is not None:
        errors = Section(f"Where runs win and lose: F1 by gap type ({split})", gap_type_blocks(gap_types))
        content.sections.append(errors)
        jobs.append(("F1 by gap type", lambda: errors.blocks.insert(2, Image(
            plot_gap_types(gap_types.systems, gap_types.kinds, GAP_TYPES, split, img_dir / f"gap-types-{split}.png"),
            "F1 of each run (best repeat by dev F1, at its dev threshold) and of the baselines (hatched) on each "
            "type of gap; under each group the number of gaps and true breaks of that type."))))
    per_doc = Section(f"Per document ({split})")
    doc_view = Section(f"One document ({split})")
    run_sections = {r.name: Section(f"Run {r.name}") for r in runs}
    with_preds = [r for r in finished if r.predictions(split) is not None]

    if with_preds:
        def job_doc_f1():
            per_run = {r.name: doc_f1(r, r.predictions(split)) for r in with_preds}
            p = plot_doc_f1(per_run, titles, split, img_dir / f"doc-f1-{split}.png")
            blocks: list[Block] = [Image(p, "F1 per document, mean over repeats at each repeat's threshold; "
                                            "the hardest documents are on top.")] if p else []
            shown = sorted({d for v in per_run.values() for d in v})
            if shown:
                blocks.append(KeyValue("document" + ("" if cjk_font() else " (plots label documents by id)"),
                                       [(d, f"{titles.get(d, '?')} / {docs.get(d, {}).get('author', '?')}") for d in shown]))
            return blocks
        jobs.append(("F1 per document", lambda: per_doc.blocks.extend(job_doc_f1())))
        jobs.append(("document view", lambda: doc_view.blocks.extend(document_view(cfg, with_preds, best, titles, img_dir))))

    for r in runs:
        sec = run_sections[r.name]
        sec.blocks.append(KeyValue("settings", _settings_rows(r) if r.config else [("config.json", "unreadable")], inline=True))
        if r.notes:
            sec.blocks.append(Notes(list(r.notes)))
        if not r.complete:
            continue
        safe = _safe(r.name)
        jobs.append((f"{r.name}: training curves", lambda r=r, sec=sec, safe=safe: sec.blocks.extend(
            [Image(p, "Loss per epoch (solid train, dashed dev) and dev F1 per epoch for each repeat; ★ marks the "
                      "epoch whose weights were kept.")]
            if (p := plot_training(r, img_dir / f"{safe}-training.png")) else [Notes(["no per-epoch history in metrics.json"])])))
        if r.predictions(split) is not None:
            jobs.append((f"{r.name}: threshold", lambda r=r, sec=sec, safe=safe: sec.blocks.append(
                Image(plot_threshold(r, r.predictions(split), split, img_dir / f"{safe}-threshold-{split}.png"),
                      f"Precision-recall curve and F1 against the decision threshold on {split}, one colour per "
                      "repeat; ○ marks the threshold chosen on dev."))))
            from ..models import word_attention

            draws = r.model_kind in catalog.names() and catalog.info(r.model_kind).attention
            if ((draws and not (r.spec or {}).get("sentence_pooling"))
                    or word_attention(r.spec or {})):   # a mean over token states has no weights to draw
                jobs.append((f"{r.name}: attention", lambda r=r, sec=sec, safe=safe: sec.blocks.extend(
                    attention_section(r, split, img_dir / f"{safe}-attention-{split}.png"))))

    with progress() as bar:
        task = bar.add_task("drawing plots", total=len(jobs), unit="plot")
        for desc, job in jobs:
            bar.update(task, description=f"plot: {desc}")
            job()
            bar.advance(task)
        bar.update(task, description="plots drawn")

    # notes gathered while plotting (e.g. missing predictions) belong in each run's section
    for r in runs:
        sec = run_sections[r.name]
        have = next((b for b in sec.blocks if isinstance(b, Notes)), None)
        if have is None and r.notes:
            sec.blocks.insert(1, Notes(list(r.notes)))
        elif have is not None:
            have.items[:] = list(r.notes)
    if per_doc.blocks:
        content.sections.append(per_doc)
    content.sections.extend(run_sections.values())
    if doc_view.blocks:                      # the long sentence list goes last
        content.sections.append(doc_view)
    return content


def gap_type_blocks(g: GapTypeResult) -> list[Block]:
    """The explanation and the table of the error analysis by gap type (the plot is added as a job)."""
    def cell(v: Optional[float]) -> str:
        return "—" if v is None else f"{v:.3f}"

    header = ["system"] + [f"{t} {m}" for t in GAP_TYPES for m in ("P", "R", "F1")]
    names = list(g.systems)
    rows = [[n + (" (baseline)" if g.kinds[n] == "baseline" else "")]
            + [cell(g.systems[n][t][m]) for t in GAP_TYPES for m in ("precision", "recall", "f1")] for n in names]
    first = g.systems[names[0]]
    counts = "; ".join(f"{t}: {first[t]['gaps']:,} gaps, {first[t]['breaks']:,} breaks "
                       f"({(first[t]['breaks'] / first[t]['gaps'] if first[t]['gaps'] else 0):.0%})" for t in GAP_TYPES)
    text = Text("Every gap lies between two sentences; a sentence is dialogue when it opens with 「 or 『 (the "
                "bracket definition of `trainer/features.py`), else narration. Precision, recall and F1 of the breaks "
                f"predicted at each type of gap on the {g.split} split, for each run's best repeat by dev F1 at its dev "
                "threshold and for the baselines on the same gaps: the bracket rule (a break before 「/『 or after "
                "」/』) and a break at every gap. Gaps of each type: " + counts + ".")
    return [text, GridBlock(header, rows, bold_rows={k for k, n in enumerate(names) if g.kinds[n] == "baseline"})]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _settings_rows(r: Run) -> list[tuple[str, str]]:
    rows = [("path", str(r.path)), ("dataset", str(r.dataset or "?"))]
    rows += [(k, v) for k, v in run_settings(r).items() if k not in ("dataset", "name", "output", "force", "threads")]
    if r.repeats:
        rows.append(("thresholds (chosen on dev)", ", ".join(f"{t:.3f}" for t in r.thresholds)))
        rows.append(("best epochs", ", ".join(str(x.get("best_epoch", "?")) for x in r.repeats)))
    if r.config.get("seg_version"):
        rows.append(("seg version", str(r.config["seg_version"])))
    return rows


def _repeat_preds(r: Run, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(0/1 predictions, probabilities) of the run's best repeat (by dev F1), decided as trained."""
    p = r.predictions(split)
    k = r.best_repeat
    return p.decisions(r.thresholds)[:, k], p.probs[:, k]


def document_view(cfg: ReportConfig, runs: list[Run], best: Optional[Run], titles: dict[str, str],
                  img_dir: Path) -> list[Block]:
    """A strip of one document's true and predicted breaks for every run, and (HTML) its sentences."""
    split = cfg.split
    lead = best if best in runs else runs[0]
    preds = lead.predictions(split)
    doc = preds.docs[0]
    blocks: list[Block] = []
    all_rows = preds.doc_slices()[doc]
    limit = 2 * cfg.max_sentences                       # a strip longer than this is unreadable
    rows = all_rows[preds.index[all_rows] < limit]
    predicted, probs = {}, {}
    for r in runs:
        p = r.predictions(split)
        sl = p.doc_slices().get(doc)
        if sl is None or len(sl) != len(all_rows) or not np.array_equal(p.index[sl], preds.index[all_rows]):
            continue
        sl = sl[: len(rows)]
        yhat, prob = _repeat_preds(r, split)
        predicted[r.name], probs[r.name] = yhat[sl], prob[sl]
    path = plot_timeline(doc, preds.labels[rows], preds.index[rows], predicted, probs, titles,
                         img_dir / f"timeline-{split}.png")
    part = f"first {len(rows) + 1} of {len(all_rows) + 1} sentences; " if len(rows) < len(all_rows) else ""
    blocks.append(Image(path, f"{titles.get(doc, doc)} ({doc}; {part}x = sentence index): true breaks and each "
                              "run's predicted breaks (best repeat by dev F1, at its threshold), with the break "
                              "probability."))
    texts = _doc_texts(lead, split, doc)
    if texts is None:
        lead.note(f"dataset {lead.dataset} not readable: sentence view skipped")
        return blocks
    yhat, prob = _repeat_preds(lead, split)
    gap = {int(preds.index[k]): (int(preds.labels[k]), int(yhat[k]), float(prob[k])) for k in rows}
    lines = []
    for i, text in texts[: cfg.max_sentences]:
        g = gap.get(i)
        lines.append(SentenceLine(i, text, None if g is None else g[0], None if g is None else g[1],
                                  None if g is None else g[2]))
    blocks.append(SentencesBlock(doc, titles.get(doc, doc), lead.name, lines, len(texts)))
    return blocks


def _doc_texts(run: Run, split: str, doc: str) -> Optional[list[tuple[int, str]]]:
    from pipeline.dataset import load_split

    if run.dataset is None:
        return None
    try:
        s = load_split(run.dataset, split)
    except SegError:
        return None
    return [(i, t) for d, i, t in zip(s.docs, s.index, s.texts) if d == doc]


def attention_section(run: Run, split: str, path: Path) -> list[Block]:
    from .attention import attention_blocks

    try:
        return attention_blocks(run, split, path)
    except SegError as e:
        run.note(f"attention heatmaps skipped: {str(e).splitlines()[0]}")
        return []
