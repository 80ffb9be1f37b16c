"""What a report holds, independent of how it is written (html.py, markdown.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .significance import Comparison
from .tables import Table


@dataclass
class Image:
    path: Path
    caption: str
    alt: str = ""


@dataclass
class Text:
    text: str            # plain text; `code` spans in backticks are rendered as code


@dataclass
class Notes:
    items: list[str]
    title: str = "Notes"


@dataclass
class TableBlock:
    table: Table
    title: str


@dataclass
class CompareBlock:
    comparisons: list[Comparison]
    split: str                 # split the differences are measured on
    best: str                  # the reference run
    chosen_on: str = "dev"     # split that chose the reference run


@dataclass
class GridBlock:
    """A plain table of preformatted cells (first column left-aligned, the rest numbers)."""
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    bold_rows: set = field(default_factory=set)     # row indices shown in bold (e.g. baselines apart)


@dataclass
class SentenceLine:
    i: int
    text: str
    label: Optional[int]       # None: first sentence of the document (not a candidate gap)
    pred: Optional[int]
    prob: Optional[float]


@dataclass
class SentencesBlock:
    doc: str
    title: str
    run: str
    lines: list[SentenceLine]
    total: int                 # sentences in the document (lines may be the first part)


@dataclass
class WindowBlock:
    """The sentences of one attention example's window, shown under its heatmap."""
    title: str
    rows: list[tuple[str, str, Optional[int]]]   # (position label, text, label)


@dataclass
class TokenHeatBlock:
    """Word attention over the sentences of one gap's window: each token with its weight."""
    title: str
    rows: list[tuple[str, Optional[int], list[tuple[str, float]]]]   # (position label, label, [(token, weight)])


@dataclass
class KeyValue:
    title: str
    rows: list[tuple[str, str]]
    inline: bool = False       # one wrapped line of key: value pairs instead of a table


Block = Union[Image, Text, Notes, TableBlock, CompareBlock, GridBlock, SentencesBlock, WindowBlock, KeyValue]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass
class ReportContent:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)
