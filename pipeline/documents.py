"""One novel file -> a Document: cleaned sentences, each labelled 1 if it starts a paragraph."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .aozora import looks_like_aozora, parse_aozora
from .errors import SegError
from .plaintext import guess_layout, parse_plain
from .reader import read_text
from .sentences import split_sentences

FORMATS = ("auto", "aozora", "lines", "blank")


@dataclass
class Document:
    doc_id: str
    source: str
    title: str
    author: str
    format: str
    encoding: str
    sentences: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    n_bytes: int = 0

    @property
    def n_paragraphs(self) -> int:
        return sum(self.labels)

    def info(self) -> dict:
        return {
            "doc": self.doc_id, "title": self.title, "author": self.author, "source": self.source,
            "format": self.format, "encoding": self.encoding, "sentences": len(self.sentences),
            "paragraphs": self.n_paragraphs, "bytes": self.n_bytes,
        }


def paragraphs_to_sentences(paragraphs: list[str]) -> tuple[list[str], list[int]]:
    sentences: list[str] = []
    labels: list[int] = []
    for p in paragraphs:
        for k, s in enumerate(split_sentences(p)):
            sentences.append(s)
            labels.append(1 if k == 0 else 0)
    return sentences, labels


def parse_text(text: str, fmt: str = "auto", doc_id: str = "doc", source: str = "", encoding: str = "utf-8",
               title: str | None = None, author: str | None = None) -> Document:
    if fmt not in FORMATS:
        raise SegError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = "aozora" if looks_like_aozora(text) else guess_layout(text)
    if fmt == "aozora":
        t, a, paragraphs, headings = parse_aozora(text)
    else:
        t, a = "", ""
        paragraphs, headings = parse_plain(text, fmt)
    sentences, labels = paragraphs_to_sentences(paragraphs)
    return Document(
        doc_id=doc_id, source=source, title=title or t or doc_id, author=author or a, format=fmt,
        encoding=encoding, sentences=sentences, labels=labels, headings=headings,
        n_bytes=len(text.encode("utf-8")),
    )


def load_document(path: Path, fmt: str = "auto", doc_id: str | None = None, meta: dict | None = None) -> Document:
    """Read and parse one file. Raises reader.UnreadableFile for binary/undecodable files."""
    path = Path(path)
    text, enc = read_text(path)
    meta = meta or {}
    doc = parse_text(text, fmt, doc_id or path.stem, str(path), enc, meta.get("title"), meta.get("author"))
    doc.n_bytes = path.stat().st_size
    return doc


def expand_input(spec: str) -> list[Path]:
    """One INPUT path -> the files it names: the file itself, or a directory's *.txt (sorted)."""
    p = Path(spec)
    if not p.exists():
        raise SegError(f"{p}: no such file or directory; check the INPUT path")
    if not p.is_dir():
        return [p]
    files = sorted(f for f in p.rglob("*.txt") if f.is_file() and not f.name.startswith("."))
    if not files:
        raise SegError(f"{p}: directory holds no .txt files; point INPUT at a folder of novels in .txt files")
    return files


def read_manifest(folder: Path) -> dict[str, dict]:
    """Rows of a MANIFEST.tsv (file, title, author, ...) beside the novels, keyed by file name."""
    path = Path(folder) / "MANIFEST.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t") if row.get("file")}
