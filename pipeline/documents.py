"""One novel file -> a Document: cleaned sentences, each labelled 1 if it starts a paragraph.

A Document also keeps the whitespace that stood before each sentence inside its paragraph
(`seps`), so `paragraphs()` gives back the cleaned paragraphs character for character, and
the doubts met while parsing it: `warnings` (one line each: the layout guessed for a short or
ambiguous plain file, text that is hardly Japanese) and `issues` (counted repairs: stray ruby
brackets kept as text, unclosed notes dropped, over-long sentences cut). `warning_lines` turns
the doubts of many documents into the lines `seg prep` and `seg segment` print.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .aozora import looks_like_aozora, parse_aozora
from .errors import SegError
from .plaintext import guess_layout, parse_plain
from .reader import read_text
from .sentences import MAX_SENTENCE, split_paragraph

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
    seps: list[str] = field(default_factory=list)        # whitespace before each sentence in its paragraph
    warnings: list[str] = field(default_factory=list)    # one line each, without the file name
    issues: Counter = field(default_factory=Counter)     # counted repairs (see ISSUES)

    @property
    def n_paragraphs(self) -> int:
        return sum(self.labels)

    def paragraphs(self) -> list[str]:
        """The cleaned paragraphs, exactly: sentences joined with the whitespace between them."""
        return join_paragraphs(self.sentences, self.labels, self.seps or [""] * len(self.sentences))

    def info(self) -> dict:
        return {
            "doc": self.doc_id, "title": self.title, "author": self.author, "source": self.source,
            "format": self.format, "encoding": self.encoding, "sentences": len(self.sentences),
            "paragraphs": self.n_paragraphs, "bytes": self.n_bytes,
        }


# what each counted repair means, for the warning line
ISSUES = {
    "stray ruby bracket": "《 or 》 that open(s) no ruby reading kept as text",
    "unclosed note": "editor note(s) ［＃ never closed on their line dropped to the end of the line",
    "long sentence": f"sentence(s) longer than {MAX_SENTENCE} characters cut at a comma or at {MAX_SENTENCE} characters",
}
_JAPANESE = re.compile(r"[\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ヵヶ]+")
_LETTERS = re.compile(r"[^\W\d_]+")
JAPANESE_SHARE = 0.5   # a text whose letters are less than this share kana/kanji is not Japanese


def paragraphs_to_sentences(paragraphs: list[str]) -> tuple[list[str], list[int], list[str], int]:
    """(sentences, labels, whitespace before each sentence, number of over-long sentences cut)."""
    sentences: list[str] = []
    labels: list[int] = []
    seps: list[str] = []
    capped = 0
    for p in paragraphs:
        pairs, n = split_paragraph(p)
        capped += n
        for k, (sep, s) in enumerate(pairs):
            sentences.append(s)
            labels.append(1 if k == 0 else 0)
            seps.append(sep)
    return sentences, labels, seps, capped


def join_paragraphs(sentences: list[str], starts, seps: list[str]) -> list[str]:
    """Sentences back into paragraphs, losing no character: a paragraph starts at every start
    (and at the first sentence); elsewhere a sentence follows the whitespace that stood before
    it. Whitespace before a start (a break placed where the text had none) ends the previous
    paragraph, so joining the paragraphs without separator gives back the text."""
    out: list[str] = []
    for s, start, sep in zip(sentences, starts, seps):
        if not out:
            out.append(s)
        elif start:
            out[-1] += sep
            out.append(s)
        else:
            out[-1] += sep + s
    return out


def japanese_share(paragraphs: list[str], sample: int = 5_000) -> tuple[float, int]:
    """(share of letters that are kana or kanji, number of letters) in the first `sample`
    characters of the text."""
    head, n = [], 0
    for p in paragraphs:
        head.append(p)
        n += len(p)
        if n >= sample:
            break
    text = "".join(head)[:sample]
    letters = sum(map(len, _LETTERS.findall(text)))
    return (sum(map(len, _JAPANESE.findall(text))) / letters if letters else 1.0), letters


def parse_text(text: str, fmt: str = "auto", doc_id: str = "doc", source: str = "", encoding: str = "utf-8",
               title: str | None = None, author: str | None = None, format_option: str = "--format") -> Document:
    """Parse a novel's text. `format_option` names the option that sets the format, for warnings."""
    if fmt not in FORMATS:
        raise SegError(f"{format_option} {fmt!r} is not one of {', '.join(FORMATS)}")
    warnings: list[str] = []
    issues: Counter = Counter()
    if fmt == "auto":
        if looks_like_aozora(text):
            fmt = "aozora"
        else:
            fmt, doubt = guess_layout(text)
            if doubt:
                other = "blank" if fmt == "lines" else "lines"
                read_as = "one paragraph per line" if fmt == "lines" else "paragraphs separated by blank lines"
                warnings.append(f"{doubt}; read as {read_as} ({format_option} {fmt}); "
                                f"pass {format_option} {other} if that is wrong")
    if fmt == "aozora":
        t, a, paragraphs, headings = parse_aozora(text, issues)
    else:
        t, a = "", ""
        paragraphs, headings = parse_plain(text, fmt)
    share, letters = japanese_share(paragraphs)
    if letters >= 20 and share < JAPANESE_SHARE:
        warnings.append(f"hardly Japanese (only {share:.0%} of its letters are kana or kanji); "
                        f"seg is built for Japanese novels and its results on other text mean little")
    sentences, labels, seps, capped = paragraphs_to_sentences(paragraphs)
    if capped:
        issues["long sentence"] += capped
    return Document(
        doc_id=doc_id, source=source, title=title or t or doc_id, author=author or a, format=fmt,
        encoding=encoding, sentences=sentences, labels=labels, headings=headings,
        n_bytes=len(text.encode("utf-8")), seps=seps, warnings=warnings, issues=issues,
    )


def warning_lines(docs: list[Document], names: list[str] | None = None) -> list[str]:
    """The lines to print for the doubts of `docs` (names: how to call each, default its source):
    each document's own warnings, then one line per kind of repair with its count."""
    names = names or [d.source or d.doc_id for d in docs]
    out = [f"{name}: {w}" for d, name in zip(docs, names) for w in d.warnings]
    for kind, what in ISSUES.items():
        hit = [(name, d.issues[kind]) for d, name in zip(docs, names) if d.issues.get(kind)]
        if hit:
            total = sum(n for _, n in hit)
            where = hit[0][0] if len(hit) == 1 else f"{len(hit)} files, e.g. {hit[0][0]}"
            out.append(f"{total:,} {what} (in {where})")
    return out


def print_warnings(docs: list[Document], names: list[str] | None = None) -> None:
    """Print warning_lines on the console, each on one line however long."""
    from rich.markup import escape

    from .progress import console

    for line in warning_lines(docs, names):
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def load_document(path: Path, fmt: str = "auto", doc_id: str | None = None, meta: dict | None = None,
                  format_option: str = "--format") -> Document:
    """Read and parse one file. Raises reader.UnreadableFile for binary/undecodable files."""
    path = Path(path)
    text, enc = read_text(path)
    meta = meta or {}
    doc = parse_text(text, fmt, doc_id or path.stem, str(path), enc, meta.get("title"), meta.get("author"),
                     format_option)
    doc.n_bytes = path.stat().st_size
    return doc


def expand_input(spec: str) -> list[Path]:
    """One INPUT path -> the files it names: the file itself, or a directory's *.txt (sorted)."""
    p = Path(spec)
    if p.is_symlink() and not p.exists():
        raise SegError(f"{p}: a symbolic link to nothing (broken, or a loop); point INPUT at the file itself")
    if not p.exists():
        raise SegError(f"{p}: no such file or directory; check the INPUT path")
    if not p.is_dir():
        if not p.is_file():   # a FIFO or a device: reading it could block forever
            raise SegError(f"{p}: not a regular file (a FIFO, socket or device); save the text to a file, or pipe it to -")
        return [p]
    entries = sorted(f for f in p.rglob("*.txt") if not f.name.startswith("."))
    files = [f for f in entries if f.is_file()]
    odd = [f for f in entries if not f.is_file() and not f.is_dir()]
    if odd:
        from .progress import console

        console.print(f"[yellow]warning:[/] passed over {len(odd)} .txt entr{'y' if len(odd) == 1 else 'ies'} that "
                      f"are no regular file (broken or looping links, FIFOs, devices): "
                      + ", ".join(str(f) for f in odd[:5]) + (" ..." if len(odd) > 5 else ""), soft_wrap=True)
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
