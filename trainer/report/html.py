"""One self-contained HTML page: CSS inline, figures embedded as base64 PNG data URIs."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from .collect import LOWER_IS_BETTER, METRICS
from .content import (CompareBlock, GridBlock, Image, KeyValue, Notes, ReportContent, SentencesBlock, TableBlock, Text,
                      TokenHeatBlock, WindowBlock)
from .tables import LABELS, fmt_value

CSS = """
body { font-family: -apple-system, "Segoe UI", "Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", sans-serif;
       margin: 1.5em auto; max-width: 1300px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #666; margin-top: 0; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.88em; }
.wide { overflow-x: auto; }   /* many differing settings: the table scrolls, the page does not */
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: bold; background: #e6f4e6; }
tr.baseline td.beats { background: #fff1d6; color: #8a5a00; font-weight: bold; }
td:first-child { white-space: nowrap; }
tr.baseline td { color: #777; font-style: italic; background: #fafafa; }
tr.warn td:first-child::after { content: " ⚠"; color: #c60; }
.note { color: #a50; font-size: 0.85em; }
.yes { color: #070; font-weight: bold; } .no { color: #888; }
figure { margin: 0.8em 0 1.4em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.88em; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
ol.sents { font-size: 0.92em; padding-left: 4.2em; } ol.sents li { margin: 0.1em 0; }
ol.sents li.brk { margin-top: 0.7em; }
.mk { display: inline-block; min-width: 4.6em; font-size: 0.78em; font-weight: bold; padding: 0 0.3em;
      border-radius: 3px; margin-right: 0.5em; text-align: center; }
.tp { background: #cdeccd; color: #060; } .fn { background: #f8d0d0; color: #900; }
.fp { background: #fde3c0; color: #a50; } .tn { color: #bbb; }
.prob { color: #999; font-size: 0.75em; margin-left: 0.4em; }
.legend span { margin-right: 1em; }
p.kv { font-size: 0.88em; } p.kv span { display: inline-block; background: #f3f3f3; border-radius: 3px;
       padding: 0.05em 0.45em; margin: 0.15em 0.3em 0.15em 0; } p.kv i { color: #666; font-style: normal; }
"""


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _table(b: TableBlock) -> str:
    t = b.table
    out = [f"<h3>{html.escape(b.title)}</h3>", '<div class="wide"><table>', "<tr><th>run</th>"]
    out += [f"<th>{html.escape(c)}</th>" for c in t.columns]
    out += [f"<th>{LABELS[m]}{' ↓' if m in LOWER_IS_BETTER else ''}</th>" for m in METRICS]
    out.append("<th>repeats</th></tr>")
    for row in t.rows:
        cls = " ".join(c for c in ("baseline" if row.kind == "baseline" else "", "warn" if row.note else "") if c)
        out.append(f'<tr class="{cls}">' if cls else "<tr>")
        title = f' title="{html.escape(row.note)}"' if row.note else ""
        out.append(f"<td{title}>{html.escape(row.name)}</td>")
        out += [f"<td>{html.escape(row.settings.get(c, ''))}</td>" for c in t.columns]
        for m in METRICS:
            cls = "num best" if m in row.best else "num beats" if m in row.beats else "num"
            mark = " ▲" if m in row.beats else ""
            out.append(f'<td class="{cls}">{html.escape(fmt_value(row.values[m], row.repeats))}{mark}</td>')
        out.append(f'<td class="num">{"" if row.repeats is None else row.repeats}</td></tr>')
    out.append("</table></div>")
    notes = [(row.name, row.note) for row in t.rows if row.note]
    if notes:
        out.append("<ul>" + "".join(f'<li class="note"><b>{html.escape(n)}</b>: {html.escape(x)}</li>' for n, x in notes) + "</ul>")
    return "\n".join(out)


def _compare(b: CompareBlock) -> str:
    if not b.comparisons:
        return "<p>Only one finished run: nothing to compare.</p>"
    out = [f"<p>Each run against the reference run <b>{html.escape(b.best)}</b>, the run with the highest mean F1 "
           f"on the <b>{html.escape(b.chosen_on)}</b> split (test labels play no part in the choice), measured on the "
           f"{html.escape(b.split)} split. ΔF1 = F1(run) − F1(reference), mean over repeats, each at its chosen "
           "threshold; the 95% interval (unadjusted) and the bootstrap p-value come from resampling documents with "
           "replacement. Both p-values are Holm-adjusted over the "
           f"{len(b.comparisons)} comparison{'s' * (len(b.comparisons) != 1)} of this table; a difference holds up "
           "when its Holm-adjusted bootstrap p is below 0.05. The t-test is Welch's (unpaired) over per-repeat F1.</p>",
           "<table><tr><th>run</th><th>ΔF1</th><th>95% interval</th><th>documents</th><th>bootstrap p (Holm)</th>"
           "<th>holds up?</th><th>Welch t-test over repeats (Holm p)</th><th>note</th></tr>"]
    for c in b.comparisons:
        d, ci, pb, hold, tt = c.cells('<span class="yes">yes</span>', '<span class="no">no</span>')
        out.append(f"<tr><td>{html.escape(c.run)}</td><td class='num'>{d}</td><td class='num'>{ci}</td>"
                   f"<td class='num'>{c.n_docs or '—'}</td><td class='num'>{pb}</td><td>{hold}</td><td>{html.escape(tt)}</td>"
                   f"<td class='note'>{html.escape(c.note)}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def _grid(b: GridBlock) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
    rows = []
    for k, r in enumerate(b.rows):
        cells = "".join(f"<td>{html.escape(c)}</td>" if j == 0 else f"<td class='num'>{html.escape(c)}</td>"
                        for j, c in enumerate(r))
        rows.append(f"<tr{' class=baseline' if k in b.bold_rows else ''}>{cells}</tr>")
    cap = f"<p class='note'>{_inline(b.caption)}</p>" if b.caption else ""
    return f"<div class='wide'><table><tr>{head}</tr>{''.join(rows)}</table></div>{cap}"


def _sentences(b: SentencesBlock) -> str:
    out = [f"<h3>{html.escape(b.title)} <small>({html.escape(b.doc)}), predictions of {html.escape(b.run)}</small></h3>",
           '<p class="legend"><span class="mk tp">break</span>true break found '
           '<span class="mk fn">missed</span>true break missed <span class="mk fp">false</span>break predicted where there is none</p>',
           '<ol class="sents" start="0">']
    for ln in b.lines:
        if ln.label is None:
            mk, cls = '<span class="mk tn">start</span>', "brk"
        elif ln.label and ln.pred:
            mk, cls = '<span class="mk tp">break</span>', "brk"
        elif ln.label:
            mk, cls = '<span class="mk fn">missed</span>', "brk"
        elif ln.pred:
            mk, cls = '<span class="mk fp">false</span>', ""
        else:
            mk, cls = '<span class="mk tn">·</span>', ""
        prob = f'<span class="prob">p={ln.prob:.2f}</span>' if ln.prob is not None else ""
        out.append(f'<li class="{cls}">{mk}{html.escape(ln.text)}{prob}</li>')
    out.append("</ol>")
    if b.total > len(b.lines):
        out.append(f"<p class='note'>first {len(b.lines)} of {b.total} sentences shown</p>")
    return "\n".join(out)


def _window(b: WindowBlock) -> str:
    rows = "".join(f"<tr><td>{html.escape(p)}</td><td>{'¶' if lab else ''}</td><td>{html.escape(t)}</td></tr>"
                   for p, t, lab in b.rows)
    return f"<details><summary>{html.escape(b.title)}</summary><table><tr><th>position</th><th>break</th><th>sentence</th></tr>{rows}</table></details>"


def _token_heat(b: TokenHeatBlock) -> str:
    top = max((w for _, _, toks in b.rows for _, w in toks), default=1.0) or 1.0
    rows = []
    for p, lab, toks in b.rows:
        cells = "".join(f'<span title="{w:.3f}" style="background: rgba(230, 97, 1, {min(w / top, 1.0):.2f})">'
                        f"{html.escape(t)}</span>" for t, w in toks)
        rows.append(f"<tr><td>{html.escape(p)}</td><td>{'¶' if lab else ''}</td><td class='heat'>{cells}</td></tr>")
    return (f"<p><b>{html.escape(b.title)}</b></p><table><tr><th>position</th><th>break</th>"
            f"<th>sentence, each token shaded by its weight (darkest = {top:.2f}; 1 = uniform)</th></tr>{''.join(rows)}</table>")


def _text(b: Text) -> str:
    return f"<p>{_inline(b.text)}</p>"


def _notes(b: Notes) -> str:
    return (f"<p><b>{html.escape(b.title)}</b></p><ul>"
            + "".join(f'<li class="note">{_inline(x)}</li>' for x in b.items) + "</ul>")


def _image(b: Image) -> str:
    return (f'<figure><img src="{_img(b.path)}" alt="{html.escape(b.alt or b.caption)}">'
            f"<figcaption>{_inline(b.caption)}</figcaption></figure>")


def _key_value(b: KeyValue) -> str:
    if b.inline:
        return (f'<p class="kv"><b>{html.escape(b.title)}</b> '
                + "".join(f"<span><i>{html.escape(k)}</i> {html.escape(v)}</span>" for k, v in b.rows) + "</p>")
    return (f"<table><tr><th colspan=2>{html.escape(b.title)}</th></tr>"
            + "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in b.rows) + "</table>")


# how each kind of block of a report section is written (content.py defines them)
_BLOCKS = {Text: _text, Notes: _notes, TableBlock: _table, CompareBlock: _compare, GridBlock: _grid, Image: _image,
           SentencesBlock: _sentences, WindowBlock: _window, TokenHeatBlock: _token_heat, KeyValue: _key_value}


def render(content: ReportContent) -> str:
    body = [f"<h1>{html.escape(content.title)}</h1>", f'<p class="subtitle">{_inline(content.subtitle)}</p>']
    for s in content.sections:
        body.append(f"<h{s.level}>{html.escape(s.title)}</h{s.level}>")
        body += [_BLOCKS[type(b)](b) for b in s.blocks]
    return ("<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(content.title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
