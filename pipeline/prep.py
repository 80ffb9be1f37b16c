"""`seg prep`: novels on disk -> a labelled sentence dataset with document-level splits."""

from __future__ import annotations

import errno
import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from rich.table import Table

from . import __version__
from .dataset import SPLITS
from .documents import FORMATS, Document, expand_input, load_document, print_warnings, read_manifest
from .errors import SegError
from .fsutil import atomic_dir
from .progress import console, progress
from .reader import UnreadableFile
from .settings import PrepConfig

DEMO_CORPUS = Path(__file__).parent / "demo_corpus"


def default_output(inputs: list[str], cache_root: Path) -> Path:
    name = "demo" if not inputs else (Path(inputs[0]).resolve().stem or "corpus")
    return cache_root / "datasets" / name


def parse_ratio(spec: str) -> tuple[float, float, float]:
    try:
        parts = [float(x) for x in spec.split(":")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts) or parts[0] <= 0:
        raise SegError(f"--split {spec!r}: give three non-negative numbers train:dev:test with train > 0, e.g. 8:1:1")
    if parts[1] <= 0 or parts[2] <= 0:
        empty = " and ".join(n for n, p in zip(("dev", "test"), parts[1:]) if p <= 0)
        raise SegError(f"--split {spec!r}: the {empty} part is empty, but `seg train` picks its threshold on dev "
                       f"and reports on test; give every part a share, e.g. 8:1:1")
    s = sum(parts)
    return parts[0] / s, parts[1] / s, parts[2] / s


def collect_files(inputs: list[str]) -> list[tuple[Path, dict]]:
    """Expand INPUT paths into (file, manifest row) pairs, in a stable order."""
    if not inputs:
        inputs = [str(DEMO_CORPUS)]
    out: list[tuple[Path, dict]] = []
    manifests: dict[Path, dict] = {}
    for spec in inputs:
        for f in expand_input(spec):
            if f.parent not in manifests:
                manifests[f.parent] = read_manifest(f.parent)
            out.append((f, manifests[f.parent].get(f.name, {})))
    return out


def assign_splits(docs: list[Document], ratio: tuple[float, float, float], by: str, seed: int) -> dict[str, str]:
    """Deterministic document (or author) -> split assignment; no group is in two splits."""
    if by not in ("document", "author"):
        raise SegError(f"--split-by {by!r}: use document or author")
    key = (lambda d: d.doc_id) if by == "document" else (lambda d: d.author or d.doc_id)
    groups = sorted({key(d) for d in docs})
    random.Random(seed).shuffle(groups)
    n = len(groups)
    if n < len(SPLITS):
        what = "documents" if by == "document" else "authors"
        console.print(f"[yellow]warning:[/] only {n} {what[:-1] if n == 1 else what}: too few for three non-empty splits (train, dev, test), "
                      f"so `seg train` will refuse this dataset; give at least 3 {what}"
                      + (" (or --split-by document)" if by == "author" else ""), soft_wrap=True)
    n_dev = round(n * ratio[1])
    n_test = round(n * ratio[2])
    if n >= 3:
        n_dev = max(n_dev, 1 if ratio[1] > 0 else 0)
        n_test = max(n_test, 1 if ratio[2] > 0 else 0)
    while n - n_dev - n_test < 1 and (n_dev or n_test):
        if n_dev >= n_test and n_dev:
            n_dev -= 1
        else:
            n_test -= 1
    split_of_group = {}
    for k, g in enumerate(groups):
        split_of_group[g] = "test" if k < n_test else "dev" if k < n_test + n_dev else "train"
    return {d.doc_id: split_of_group[key(d)] for d in docs}


def prep(cfg: PrepConfig, cache_root: Path = Path("cache")) -> Path:
    """Run the whole step; return the dataset directory."""
    if cfg.format not in FORMATS:
        raise SegError(f"--format {cfg.format!r}: use one of {', '.join(FORMATS)}")
    ratio = parse_ratio(cfg.split)
    if cfg.split_by not in ("document", "author"):
        raise SegError(f"--split-by {cfg.split_by!r}: use document or author")
    out_dir = Path(cfg.output) if cfg.output else default_output(cfg.inputs, cache_root)
    if out_dir.exists() and not cfg.force:
        raise SegError(f"{out_dir} already exists; pass --force to overwrite it or choose another --output")
    files = collect_files(cfg.inputs)
    extra_files = collect_files(cfg.train_extra) if cfg.train_extra else []
    n_main = len(files)
    files = files + extra_files

    docs: list[Document] = []
    extra_ids: set[str] = set()
    skipped: list[str] = []
    empty: list[str] = []
    seen_ids: set[str] = set()
    total_bytes = sum(f.stat().st_size for f, _ in files)
    t0 = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("prep", total=total_bytes / 1e6, unit="MB")
        for n_file, (path, meta) in enumerate(files):
            doc_id = path.stem
            k = 2
            while doc_id in seen_ids:
                doc_id, k = f"{path.stem}-{k}", k + 1
            try:
                doc = load_document(path, cfg.format, doc_id, meta)
            except UnreadableFile as e:
                console.print(f"[yellow]warning:[/] skipped {e}")
                skipped.append(str(path))
                bar.advance(task, path.stat().st_size / 1e6)
                continue
            bar.advance(task, path.stat().st_size / 1e6)
            if not doc.sentences:
                console.print(f"[yellow]warning:[/] {path}: {'empty file' if doc.n_bytes == 0 else 'yields no sentences'}; left out")
                empty.append(str(path))
                continue
            seen_ids.add(doc_id)
            docs.append(doc)
            if n_file >= n_main:
                extra_ids.add(doc_id)
    elapsed = time.perf_counter() - t0
    print_warnings(docs)
    if skipped:
        console.print(f"[yellow]warning:[/] {len(skipped)} file(s) skipped as binary or undecodable")
    if not docs:
        raise SegError(f"no sentences found in {', '.join(cfg.inputs) or str(DEMO_CORPUS)}; give novels in Aozora Bunko or plain-text format")

    split_of = assign_splits([d for d in docs if d.doc_id not in extra_ids], ratio, cfg.split_by, cfg.seed)
    if extra_ids:
        docs = add_train_extra(docs, extra_ids, split_of, cfg.split_by)
    try:
        stats = write_dataset(out_dir, docs, split_of, cfg, skipped, empty)
    except OSError as e:   # read-only location, disk full: atomic_dir has removed its temporary directory
        raise SegError(write_error(out_dir, e)) from None
    stats["seconds"] = round(elapsed, 3)
    console.print(split_table(stats))
    console.print(f"dataset written to [bold]{out_dir}[/] ({total_bytes / 1e6 / max(elapsed, 1e-9):.1f} MB/s)")
    return out_dir


def add_train_extra(docs: list[Document], extra_ids: set[str], split_of: dict[str, str], by: str) -> list[Document]:
    """--train-extra: its works join train, the split of INPUTS stays as it was. Left out: a
    work with the title and author of a dev or test work (another edition of it), and with
    --split-by author every work by a dev or test author (they must stay unseen)."""
    held = [d for d in docs if d.doc_id not in extra_ids and split_of[d.doc_id] != "train"]
    held_works = {(d.title, d.author) for d in held}
    held_authors = {d.author for d in held if d.author}
    kept, dropped = [], Counter()
    for d in docs:
        if d.doc_id in extra_ids:
            if (d.title, d.author) in held_works:
                dropped["another edition of a dev or test work"] += 1
                continue
            if by == "author" and d.author in held_authors:
                dropped["by a dev or test author"] += 1
                continue
            split_of[d.doc_id] = "train"
        kept.append(d)
    added = sum(d.doc_id in extra_ids for d in kept)
    console.print(f"--train-extra: {added:,} works added to train"
                  + (f"; left out: {', '.join(f'{n:,} {why}' for why, n in dropped.items())}" if dropped else ""))
    return kept


def write_error(out_dir: Path, e: OSError) -> str:
    """One line for a failed write of the dataset: the path, the errno and what to do."""
    code = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else "unknown errno"
    fix = "free some space there" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "choose a writable --output"
    return f"cannot write the dataset {out_dir}: {e.filename or out_dir}: {e.strerror or e} ({code}); {fix}"


def write_dataset(out_dir: Path, docs: list[Document], split_of: dict[str, str], cfg: PrepConfig,
                  skipped: list[str], empty: list[str]) -> dict:
    h = hashlib.blake2b(digest_size=16)
    per_split = {s: {"documents": 0, "sentences": 0, "paragraphs": 0} for s in SPLITS}
    with atomic_dir(out_dir, force=cfg.force) as tmp:
        handles = {s: (tmp / f"{s}.jsonl").open("w", encoding="utf-8") for s in SPLITS}
        try:
            with (tmp / "documents.jsonl").open("w", encoding="utf-8") as dh:
                for doc in docs:
                    split = split_of[doc.doc_id]
                    info = doc.info() | {"split": split}
                    dh.write(json.dumps(info, ensure_ascii=False) + "\n")
                    st = per_split[split]
                    st["documents"] += 1
                    st["sentences"] += len(doc.sentences)
                    st["paragraphs"] += doc.n_paragraphs
                    fh = handles[split]
                    for i, (text, label) in enumerate(zip(doc.sentences, doc.labels)):
                        line = json.dumps({"doc": doc.doc_id, "i": i, "text": text, "label": label}, ensure_ascii=False)
                        fh.write(line + "\n")
                        h.update(f"{split}\t{line}\n".encode("utf-8"))
        finally:
            for fh in handles.values():
                fh.close()
        stats = {
            "fingerprint": h.hexdigest(),
            "splits": per_split,
            "documents": len(docs),
            "sentences": sum(s["sentences"] for s in per_split.values()),
            "paragraphs": sum(s["paragraphs"] for s in per_split.values()),
            "skipped_files": skipped,
            "empty_files": empty,
            "seg_version": __version__,
        }
        (tmp / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (tmp / "config.json").write_text(json.dumps(asdict(cfg), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return stats


def split_table(stats: dict) -> Table:
    t = Table(title="seg prep: documents, sentences and paragraph starts per split")
    for col in ("split", "documents", "sentences", "paragraph starts", "notes"):
        t.add_column(col, justify="right" if col not in ("split", "notes") else "left")
    for s in SPLITS:
        st = stats["splits"][s]
        t.add_row(s, str(st["documents"]), str(st["sentences"]), str(st["paragraphs"]),
                  f"{s.capitalize()}({st['sentences']}:{st['paragraphs']})")
    return t
