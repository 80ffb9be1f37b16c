"""The dataset directory written by `seg prep` and read by every later stage.

    <dataset>/
      train.jsonl dev.jsonl test.jsonl   one sentence per line: {"doc", "i", "text", "label"}
      documents.jsonl                    one document per line: doc, title, author, split, counts
      stats.json                         counts per split and the dataset fingerprint (a hash of every
                                         sentence, its label and its split)
      config.json                        the PrepConfig that produced it

`label` is 1 when the sentence starts a paragraph (the gap before it is a break).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import SegError

SPLITS = ("train", "dev", "test")


@dataclass
class Split:
    name: str
    docs: list[str]      # document id per sentence
    index: list[int]     # sentence index within its document
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def doc_ranges(self) -> list[tuple[str, int, int]]:
        """(doc, start, end) of each document's contiguous run of sentences."""
        out: list[tuple[str, int, int]] = []
        start = 0
        for k in range(1, len(self.docs) + 1):
            if k == len(self.docs) or self.docs[k] != self.docs[start]:
                out.append((self.docs[start], start, k))
                start = k
        return out


def check_dataset(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise SegError(f"{path}: dataset not found; run `seg prep --output {path}` first")
    if not (path / "stats.json").is_file():
        raise SegError(f"{path}: not a seg dataset (no stats.json); point at a directory written by `seg prep`")
    return path


def load_split(path: Path, split: str) -> Split:
    path = check_dataset(path)
    if split not in SPLITS:
        raise SegError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    f = path / f"{split}.jsonl"
    if not f.is_file():
        raise SegError(f"{f}: split file missing; re-run `seg prep --force --output {path}`")
    docs, index, texts, labels = [], [], [], []
    try:
        lines = f.read_text(encoding="utf-8").split("\n")   # not splitlines: U+2028 may stand in a text
    except UnicodeDecodeError:
        raise SegError(f"{f}: not UTF-8 text; re-run `seg prep --force --output {path}`") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            doc, i, text, label = r["doc"], r["i"], r["text"], r["label"]
            # a record of another shape (a number for text, a label of 2) would fail later,
            # deep in an encoder or a metric: refuse it here, naming the line
            if not (isinstance(doc, str) and isinstance(text, str) and type(i) is int and label in (0, 1)
                    and type(label) in (int, bool)):
                raise ValueError
            docs.append(doc); index.append(i); texts.append(text); labels.append(int(label))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise SegError(f"{f}:{n}: not a seg sentence record; re-run `seg prep --force --output {path}`") from None
    return Split(split, docs, index, texts, labels)


def _damaged(f: Path, path: Path) -> SegError:
    return SegError(f"{f}: damaged (not what `seg prep` writes); re-run `seg prep --force --output {path}`")


def load_stats(path: Path) -> dict:
    path = check_dataset(path)
    f = path / "stats.json"
    try:
        obj = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _damaged(f, path) from None
    if not isinstance(obj, dict):
        raise _damaged(f, path)
    return obj


def load_documents(path: Path) -> list[dict]:
    path = check_dataset(path)
    f = path / "documents.jsonl"
    if not f.is_file():
        raise SegError(f"{f}: missing; re-run `seg prep --force --output {path}`")
    try:
        rows = [json.loads(l) for l in f.read_text(encoding="utf-8").split("\n") if l.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _damaged(f, path) from None
    if not all(isinstance(r, dict) and isinstance(r.get("doc"), str) for r in rows):
        raise _damaged(f, path)
    return rows
