"""`seg segment INPUT... --engine ray -o OUT_DIR`: batch inference over folders of novels.

One output file per input (OUT_DIR/<doc>.txt or .jsonl, the names and contents the plain
`seg segment -o OUT_DIR` gives), each written atomically. An input whose output exists is
skipped (without --force), so a re-run after a crash or Ctrl-C resumes where it stopped. The
inputs are read and segmented in chunks of about CHUNK_SENTENCES sentences, so memory stays
flat over millions of files; each chunk's sentences missing from the vector cache are encoded
by the Ray actors (pipeline/ray_engine.py) and cached by this process (when the cache is not
writable here, they are encoded and used without caching). The integrator model itself runs
here: scoring takes a small fraction of encoding (bench/bench_train.py: 70k+ gaps/s on one core).
An input that cannot be read or holds no sentence is skipped with a warning line (a batch
over a large corpus should not stop for one bad file); the plain path stops on it instead.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.documents import expand_input, load_document, print_warnings
from pipeline.errors import SegError
from pipeline.fsutil import write_output
from pipeline.progress import console

from ..settings import SegmentConfig
from .evaluate import evaluate, metrics_table
from .segmentation import SegmentResults, split_results
from .segmenters import Segmenter
from .text import STDIN, _unique_id, render_jsonl, render_text

#: sentences read, encoded and segmented at a time
CHUNK_SENTENCES = 50_000


def plan(cfg: SegmentConfig) -> list[tuple[Path, str, Path]]:
    """(input file, doc id, output path) of every input, doc ids given as the plain path gives them."""
    if STDIN in cfg.inputs:
        raise SegError("--engine ray reads files and folders, not standard input (-); save the text to a file")
    if not cfg.inputs:
        raise SegError("no INPUT given; pass one or more files or folders")
    out = Path(cfg.output)
    if out.exists() and not out.is_dir():
        raise SegError(f"--output {out}: is a file; --engine ray writes one file per input into a folder, give a folder")
    ext = ".txt" if cfg.format == "text" else ".jsonl"
    seen: set[str] = set()
    rows = []
    for spec in cfg.inputs:
        for f in expand_input(spec):
            doc_id = _unique_id(f.stem, seen)
            rows.append((f, doc_id, out / f"{doc_id}{ext}"))
    return rows


def segment_batch(cfg: SegmentConfig, cache_root: Path) -> SegmentResults:
    rows = plan(cfg)
    todo = [r for r in rows if cfg.force or not r[2].exists()]
    skipped = len(rows) - len(todo)
    if skipped:
        console.print(f"{skipped} of {len(rows)} inputs already have their output in {cfg.output}: skipped "
                      f"(--force to redo them)")
    res = SegmentResults(cfg.run, None, [])
    if not todo:
        return res
    Path(cfg.output).mkdir(parents=True, exist_ok=True)
    segmenter = Segmenter(cfg, cache_root)
    render = (lambda r: render_text(r, cfg.indent)) if cfg.format == "text" else render_jsonl
    t0 = time.perf_counter()
    bad: list[str] = []
    chunk: list[tuple] = []
    n = 0

    def flush():
        docs = [d for d, _ in chunk]
        print_warnings(docs, [str(d.source) for d in docs])
        seg = segmenter(docs)
        res.segmenter, res.threshold = seg.description, seg.threshold
        for r, (_, out) in zip(split_results(docs, seg), chunk):
            write_output(out, render(r))
            res.outputs.append(str(out))
            if cfg.evaluate:
                res.docs.append(r)
        chunk.clear()

    for f, doc_id, out in todo:
        try:
            doc = load_document(f, cfg.input_format, doc_id, format_option="--input-format")
        except SegError as e:
            bad.append(f"{f}: {e}")
            continue
        if not doc.sentences:
            bad.append(f"{f}: holds no sentences")
            continue
        chunk.append((doc, out))
        n += len(doc.sentences)
        res.sentences += len(doc.sentences)
        if n >= CHUNK_SENTENCES:
            flush()
            n = 0
    if chunk:
        flush()
    res.seconds = time.perf_counter() - t0
    for line in bad[:10]:
        console.print(f"[yellow]warning:[/] skipped {line}", soft_wrap=True)
    if len(bad) > 10:
        console.print(f"[yellow]warning:[/] skipped {len(bad) - 10} more unreadable or empty inputs", soft_wrap=True)
    console.print(f"seg segment --engine ray: {len(res.outputs)} input(s), {res.sentences:,} sentences, {res.segmenter}"
                  + (f", threshold {res.threshold:.4f}" if res.threshold is not None else "")
                  + f" ({res.sentences / max(res.seconds, 1e-9):,.0f} sentences/s); wrote {len(res.outputs)} files to {cfg.output}")
    if cfg.evaluate and res.docs:
        res.metrics = evaluate(res.docs)
        console.print(metrics_table(res.metrics, f"seg segment --evaluate: {res.segmenter}"))
    return res
