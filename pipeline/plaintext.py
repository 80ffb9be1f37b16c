"""Plain text novels: one paragraph per line, or paragraphs separated by blank lines."""

from __future__ import annotations

import re

from .headings import is_heading

_WS = " \t\u3000"
_ENDS_SENTENCE = re.compile(r"[。！？!?」』）)…―]$")


SHORT = 4          # fewer non-empty lines than this: too few gaps to tell the layout
BLANK_SHARE = 0.3  # share of gaps between text lines that hold a blank line -> 'blank'
UNSURE = (0.15, 0.45)


def guess_layout(text: str) -> tuple[str, str]:
    """('blank' when paragraphs are separated by blank lines, else 'lines'; why the guess is
    unsure, or '' when it is not).

    Only gaps between two lines of text count: the newline that ends the file, and blank
    lines before the first or after the last line of text, say nothing about the layout.
    """
    lines = text.split("\n")
    nonempty = [i for i, l in enumerate(lines) if l.strip(_WS)]
    gaps = list(zip(nonempty, nonempty[1:]))
    if not gaps:
        return "lines", ""          # one line of text: both layouts read it the same way
    blank = sum(1 for a, b in gaps if b > a + 1)
    share = blank / len(gaps)
    if share >= BLANK_SHARE:
        layout = "blank"
    else:
        layout = "lines"
        if blank:
            # hard-wrapped paragraphs: many lines stop mid-sentence and run on into the next
            wrapped = sum(1 for a, b in gaps if b == a + 1 and not _ENDS_SENTENCE.search(lines[a].rstrip(_WS)))
            if wrapped / len(gaps) >= 0.5:
                layout = "blank"
    if len(nonempty) < SHORT:
        return layout, f"only {len(nonempty)} lines of text, too few to tell the layout"
    if UNSURE[0] <= share <= UNSURE[1]:
        return layout, f"blank lines follow {share:.0%} of its lines, so the layout is unclear"
    return layout, ""


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
