"""The options of `seg report` and `seg segment` as dataclasses (TrainConfig of `seg train` is in
config.py). cli.py takes every option's default from these, so each default is written once.
This module imports nothing heavy: the command line reads it to build --help.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.options import option


@dataclass
class ReportConfig:
    runs: list[str] = option(help="Run directories (or run names under --runs) to compare. Default: every run under --runs.", factory=list, argument=True)
    runs_dir: str = option("runs", "Directory holding the runs written by `seg train`.", "--runs", path=True)
    split: str = option("test", "Split of the plots and the significance figures: test or dev (the table shows both).")
    sort: str = option("f1", "Metric the rows are sorted by: precision, recall, f1, bacc, pk or windowdiff (best first).")
    output: str = option("report", "Report directory to write (index.html or report.md inside).", "--output", "-o", path=True)
    format: str = option("html", "html: one self-contained page with embedded images; md: report.md with PNGs beside it.")
    resamples: int = option(2000, "Bootstrap resamples of documents for the 95% interval of F1 differences.")
    force: bool = option(False, "Overwrite an existing report directory. Default: off.")
    seed: int = 0                                    # bootstrap seed
    max_sentences: int = 150                         # sentences shown in the document view


@dataclass
class SegmentConfig:
    inputs: list[str] = option(help="Text files, folders of .txt files, or - for standard input, in any format `seg prep` reads; their own paragraph breaks are ignored (and are the reference of --evaluate).", factory=list, argument=True, required=True)
    run: str = option("", "A run directory from `seg train`, or its name under --runs-dir; or the baselines rule (bracket rule) or texttiling (unsupervised).", required=True)
    threshold: float | None = option(None, "Break where the probability >= this. Must lie in (0, 1). Default: the run's dev-selected threshold (with --ensemble: tuned on the mean dev probability of all repeats). texttiling: break where depth >= this instead of the --depth-cutoff rule.")
    output: str | None = option(None, "Output file (one input) or directory (one <doc>.txt/.jsonl per input; used for several inputs, an existing directory or a path ending in /). Default: standard output.", "--output", "-o", path=True)
    format: str = option("text", "text (one paragraph per line) or jsonl (one line per sentence: doc, i, text, prob, label = decision; word-attention runs add attention: [[token, weight], ...], the weights averaged over heads (and over repeats with --ensemble)).")
    indent: bool = option(False, "text: start each narrative paragraph (not opening with 「『（) with a full-width space. Default: off.")
    ensemble: bool = option(False, "Average the probabilities of all repeats of the run, with the threshold that maximises F1 of the averaged dev probabilities, instead of using the repeat with the best dev F1. Default: off.")
    evaluate: bool = option(False, "Print P/R/F1/bAcc/Pk/WindowDiff against the inputs' own paragraph breaks, per input and overall. Default: off.")
    input_format: str = option("auto", "Input format: auto (detect), aozora, lines (one paragraph per line) or blank (blank line between paragraphs).")
    window: int = option(2, "texttiling: sentences in the block on each side of a gap (a trained run always uses its own L:R window).")
    depth_cutoff: float = option(0.5, "texttiling: break where the depth score > mean - C * std of the document (Hearst 1997).")
    encoder: str = option("e5", "texttiling: encoder of the sentence vectors (default configuration, or the manifest of --dataset).")
    dataset: str | None = option(None, "texttiling: use the --encoder embedding manifest of this dataset (model, cache). Default: none, the encoder's default model.", path=True)
    cache: str | None = option(None, "Vector cache directory. Default: the run's embedding cache (texttiling: <cache root>/vectors).", path=True)
    runs_dir: str = option("runs", "Where run names are looked up.", path=True)
    force: bool = option(False, "Overwrite existing output files. Default: off.")
    engine: str = option("local", "local, or ray: batch inference over files and folders, new sentences encoded by Ray actors; one file per input in -o OUT_DIR (required), written atomically, inputs whose output exists skipped (a re-run resumes). Needs pip install 'seg[ray]'.")
    address: str | None = option(None, "ray only: the Ray cluster to join, auto or HOST:PORT. Default: $RAY_ADDRESS, else a local Ray started for this run.")
    workers: int = option(0, "ray only: Ray actors (encoders) to run; 0 = one per GPU of the cluster, else one per node using all its CPUs.")
