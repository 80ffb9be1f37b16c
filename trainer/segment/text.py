"""Text in and out of `seg segment`: inputs parsed as `seg prep` parses them (files, folders,
standard input), and each input's result rendered as text (one paragraph per line) or jsonl,
to standard output or to files planned before anything runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from pipeline.documents import FORMATS, Document, expand_input, load_document, parse_text, print_warnings
from pipeline.errors import SegError
from pipeline.reader import decode

from ..features import OPENERS
from .segmentation import DocResult

OUTPUT_FORMATS = ("text", "jsonl")
# --indent leaves dialogue (the one definition of its brackets, features.OPENERS) and
# parenthesised inner speech unindented, as Japanese typesetting does
DIALOGUE_OPENERS = (*OPENERS, "（")
INDENT = "\u3000"
STDIN = "-"


def _unique_id(stem: str, seen: set[str]) -> str:
    doc_id, k = stem, 2
    while doc_id in seen:
        doc_id, k = f"{stem}-{k}", k + 1
    seen.add(doc_id)
    return doc_id


def read_inputs(inputs: list[str], fmt: str = "auto", stdin=None) -> list[Document]:
    """Parse every input as `seg prep` does. Raises SegError for missing, unreadable or empty input."""
    if fmt not in FORMATS:
        raise SegError(f"--input-format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not inputs:
        raise SegError("no INPUT given; pass one or more files, or - to read standard input")
    if inputs.count(STDIN) > 1:
        raise SegError("standard input (-) can be given only once")
    files: list[str] = []
    for spec in inputs:
        if spec == STDIN:
            files.append(spec)
            continue
        files.extend(str(f) for f in expand_input(spec))
    docs: list[Document] = []
    names: list[str] = []
    seen: set[str] = set()
    for spec in files:
        if spec == STDIN:
            stream = stdin if stdin is not None else sys.stdin
            data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
            if isinstance(data, str):
                data = data.encode("utf-8")
            text, enc = decode(data, "<stdin>")
            doc = parse_text(text, fmt, _unique_id("stdin", seen), STDIN, enc, format_option="--input-format")
            name = "standard input"
        else:
            p = Path(spec)
            doc = load_document(p, fmt, _unique_id(p.stem, seen), format_option="--input-format")
            name = str(p)
        if not doc.sentences:
            what = "is empty" if doc.n_bytes == 0 else "holds no sentences (after removing headings and notes)"
            raise SegError(f"{name} {what}; give Japanese text in Aozora Bunko or plain-text format")
        docs.append(doc)
        names.append(name)
    print_warnings(docs, names)
    return docs


def render_text(r: DocResult, indent: bool) -> str:
    lines = []
    for p in r.paragraphs():
        if indent and not p.startswith(DIALOGUE_OPENERS):
            p = INDENT + p
        lines.append(p)
    return "\n".join(lines) + "\n"


def render_jsonl(r: DocResult) -> str:
    out = []
    for i, (s, p, d) in enumerate(zip(r.doc.sentences, r.probs, r.decisions)):
        prob = None if np.isnan(p) else round(float(p), 6)
        row = {"doc": r.doc.doc_id, "i": i, "text": s, "prob": prob, "label": int(d)}
        if r.attention is not None:
            row["attention"] = r.attention[i]
        out.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(out) + "\n"


def plan_outputs(docs: list[Document], output: str | None, fmt: str, force: bool) -> list[Path] | None:
    """Output path per document (None = standard output). Checks overwrites before anything runs."""
    if output is None:
        return None
    out = Path(output)
    ext = ".txt" if fmt == "text" else ".jsonl"
    if len(docs) == 1 and not out.is_dir() and not str(output).endswith(("/", "\\")):
        paths = [out]
    else:
        if out.exists() and not out.is_dir():
            raise SegError(f"--output {out}: is a file, but {len(docs)} inputs need a directory (one file per input); "
                           f"give a directory path")
        paths = [out / f"{d.doc_id}{ext}" for d in docs]
    if not force:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise SegError(f"{existing[0]} already exists; pass --force to overwrite it or choose another --output")
    return paths


def write_stdout(text: str, stream=None) -> None:
    """Write the result to standard output. A failed write (`> /dev/full`, a closed pipe) is an
    OSError naming standard output; fd 1 is then pointed at /dev/null so that Python's own flush
    at exit does not add a second error."""
    stream = stream if stream is not None else sys.stdout
    try:
        stream.write(text)
        stream.flush()
    except OSError as e:
        if stream is sys.stdout:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):   # not a real file descriptor (tests)
                pass
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror or os.strerror(e.errno), "standard output") from None
