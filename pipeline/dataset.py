"""The dataset directory written by `seg prep` and read by every later stage.

    <dataset>/
      train.jsonl dev.jsonl test.jsonl   one sentence per line: {"doc", "i", "text", "label"}
      documents.jsonl                    one document per line: doc, title, author, split, counts
      stats.json                         counts per split and the dataset fingerprint
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
    with f.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                r = json.loads(line)
                docs.append(r["doc"]); index.append(r["i"]); texts.append(r["text"]); labels.append(int(r["label"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise SegError(f"{f}:{n}: not a seg sentence record; re-run `seg prep --force --output {path}`") from None
    return Split(split, docs, index, texts, labels)


def load_stats(path: Path) -> dict:
    path = check_dataset(path)
    return json.loads((path / "stats.json").read_text(encoding="utf-8"))


def load_documents(path: Path) -> list[dict]:
    path = check_dataset(path)
    with (path / "documents.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(l) for l in fh if l.strip()]
