"""Plain text novels: one paragraph per line, or paragraphs separated by blank lines."""

from __future__ import annotations

import re

from .headings import is_heading

_WS = " \t\u3000"
_ENDS_SENTENCE = re.compile(r"[。！？!?」』）)…―]$")


def guess_layout(text: str) -> str:
    """'blank' when paragraphs are separated by blank lines, else 'lines'."""
    lines = text.split("\n")
    nonempty = [i for i, l in enumerate(lines) if l.strip(_WS)]
    if not nonempty:
        return "lines"
    followed_by_blank = sum(1 for i in nonempty if i + 1 < len(lines) and not lines[i + 1].strip(_WS))
    if followed_by_blank / len(nonempty) >= 0.3:
        return "blank"
    if followed_by_blank:
        # hard-wrapped paragraphs: many lines stop mid-sentence and run on into the next
        wrapped = sum(
            1 for i in nonempty
            if i + 1 < len(lines) and lines[i + 1].strip(_WS) and not _ENDS_SENTENCE.search(lines[i].rstrip(_WS))
        )
        if wrapped / len(nonempty) >= 0.5:
            return "blank"
    return "lines"


def parse_plain(text: str, layout: str) -> tuple[list[str], list[str]]:
    """Return (paragraphs, stripped headings) for layout 'lines' or 'blank'."""
    if layout == "blank":
        blocks = re.split(r"\n[ \t\u3000]*\n", text)
        units = [(b, "".join(l.strip(_WS) for l in b.split("\n"))) for b in blocks]
    else:
        units = [(l, l.strip(_WS)) for l in text.split("\n")]
    paragraphs: list[str] = []
    headings: list[str] = []
    for raw, t in units:
        if not t:
            continue
        indent = len(raw.lstrip("\n")) - len(raw.lstrip("\n").lstrip("\u3000"))
        if is_heading(t, indent):
            headings.append(t)
        else:
            paragraphs.append(t)
    return paragraphs, headings
