"""Markdown report: report.md with the PNG figures beside it (relative links)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .collect import LOWER_IS_BETTER, METRICS
from .content import (CompareBlock, GridBlock, Image, KeyValue, Notes, ReportContent, SentencesBlock, TableBlock, Text,
                      TokenHeatBlock, WindowBlock)
from .tables import LABELS, fmt_value


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _table(b: TableBlock) -> list[str]:
    t = b.table
    head = ["run", *t.columns, *[LABELS[m] + (" ↓" if m in LOWER_IS_BETTER else "") for m in METRICS], "repeats"]
    out = [f"### {b.title}", "", "| " + " | ".join(head) + " |",
           "|" + "|".join(["---"] * (1 + len(t.columns)) + ["---:"] * (len(METRICS) + 1)) + "|"]
    for row in t.rows:
        name = row.name + (" ⚠" if row.note else "")
        name = f"*{name}*" if row.kind == "baseline" else name
        cells = [_cell(name), *[_cell(row.settings.get(c, "")) for c in t.columns]]
        for m in METRICS:
            v = fmt_value(row.values[m], row.repeats)
            cells.append(f"**{v}**" if m in row.best else f"{v} ▲" if m in row.beats else v)
        cells.append("" if row.repeats is None else str(row.repeats))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [f"- ⚠ **{_cell(row.name)}**: {row.note}" for row in t.rows if row.note]
    return out + [""]


def _compare(b: CompareBlock) -> list[str]:
    if not b.comparisons:
        return ["Only one finished run: nothing to compare.", ""]
    n = len(b.comparisons)
    out = [f"Each run against the reference run **{b.best}**, the run with the highest mean F1 on the "
           f"**{b.chosen_on}** split (test labels play no part in the choice), measured on the {b.split} split: "
           "ΔF1 = F1(run) − F1(reference), mean over repeats at each repeat's threshold; 95% interval (unadjusted) and "
           f"bootstrap p from resampling documents. p-values in parentheses are Holm-adjusted over the {n} "
           f"comparison{'s' * (n != 1)}; a difference holds up when its Holm-adjusted bootstrap p is below 0.05. "
           "The t-test is Welch's (unpaired) over per-repeat F1.", "",
           "| run | ΔF1 | 95% interval | documents | bootstrap p (Holm) | holds up? | Welch t-test over repeats (Holm p) | note |",
           "|---|---:|---:|---:|---:|---|---|---|"]
    for c in b.comparisons:
        d, ci, pb, hold, tt = c.cells("**yes**", "no")
        out.append(f"| {_cell(c.run)} | {d} | {ci} | {c.n_docs or '—'} | {pb} | {hold} | {tt} | {_cell(c.note)} |")
    return out + [""]


def _sentences(b: SentencesBlock) -> list[str]:
    out = [f"### {b.title} ({b.doc}), predictions of {b.run}", "",
           "✅ true break found · ❌ true break missed · ⚠️ break predicted where there is none", ""]
    for ln in b.lines:
        mk = ("▶" if ln.label is None else "✅" if ln.label and ln.pred else "❌" if ln.label else "⚠️" if ln.pred else "")
        if ln.label and ln.i:
            out.append("")
        out.append(f"{ln.i}. {mk} {_cell(ln.text)}" + (f" <sub>p={ln.prob:.2f}</sub>" if ln.prob is not None else ""))
    if b.total > len(b.lines):
        out += ["", f"*first {len(b.lines)} of {b.total} sentences shown*"]
    return out + [""]


def render(content: ReportContent, out_dir: Path) -> str:
    lines = [f"# {content.title}", "", content.subtitle, ""]
    for s in content.sections:
        lines += ["#" * s.level + " " + s.title, ""]
        for b in s.blocks:
            if isinstance(b, Text):
                lines += [b.text, ""]
            elif isinstance(b, Notes):
                lines += [f"**{b.title}**", ""] + [f"- {x}" for x in b.items] + [""]
            elif isinstance(b, TableBlock):
                lines += _table(b)
            elif isinstance(b, CompareBlock):
                lines += _compare(b)
            elif isinstance(b, GridBlock):
                lines += ["| " + " | ".join(_cell(h) for h in b.header) + " |",
                          "|---|" + "---:|" * (len(b.header) - 1)]
                lines += ["| " + " | ".join((f"*{_cell(c)}*" if k in b.bold_rows else _cell(c)) for c in r) + " |"
                          for k, r in enumerate(b.rows)]
                lines += ["", b.caption, ""] if b.caption else [""]
            elif isinstance(b, Image):
                rel = Path(b.path).relative_to(out_dir).as_posix()
                lines += [f"![{b.alt or Path(rel).stem}]({rel})", "", f"*{b.caption}*", ""]
            elif isinstance(b, SentencesBlock):
                lines += _sentences(b)
            elif isinstance(b, TokenHeatBlock):
                lines += [f"**{b.title}** (the three most attended tokens of each sentence in bold)", "",
                          "| position | break | sentence |", "|---|---|---|"]
                for p, lab, toks in b.rows:
                    top = set(np.argsort([-w for _, w in toks])[:3].tolist())
                    text = "".join(f"**{t}**" if k in top and t.strip() else t for k, (t, _) in enumerate(toks))
                    lines.append(f"| {p} | {'¶' if lab else ''} | {_cell(text)} |")
                lines.append("")
            elif isinstance(b, WindowBlock):
                lines += [f"<details><summary>{b.title}</summary>", "", "| position | break | sentence |", "|---|---|---|"]
                lines += [f"| {p} | {'¶' if lab else ''} | {_cell(t)} |" for p, t, lab in b.rows]
                lines += ["", "</details>", ""]
            elif isinstance(b, KeyValue) and b.inline:
                lines += [f"**{b.title}**: " + " · ".join(f"{k} `{v}`" for k, v in b.rows), ""]
            elif isinstance(b, KeyValue):
                lines += [f"| {b.title} | |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in b.rows] + [""]
    return "\n".join(lines) + "\n"
