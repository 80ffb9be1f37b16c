"""The segmenters of `seg segment --run`: a trained run, the bracket rule, TextTiling. Each is
one class, built from the segment options and called on documents for their Segmentation;
`Segmenter` holds one of them (SCORERS picks it by --run) and adds the text-level API."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.documents import FORMATS, Document, parse_text, print_warnings
from pipeline.errors import SegError
from pipeline.progress import progress, quiet
from pipeline.ray_engine import check_engine, make_engine

from ..settings import SegmentConfig
from ..texttiling import TextTilingConfig, texttiling
from .evaluate import evaluate
from .segmentation import DocResult, Segmentation, split_results
from .text import OUTPUT_FORMATS


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


class RuleScorer:
    """The bracket rule (trainer/baselines.py): its 0/1 decisions are the scores."""

    def __init__(self, cfg: SegmentConfig, cache_root: Path, show_progress: bool, engine):
        self.threshold, self.description = cfg.threshold, cfg.run

    def __call__(self, docs: list[Document]) -> Segmentation:
        """The bracket rule: probs are its 0/1 decisions."""
        from ..baselines import rule_predictions
        from ..predict import gap_sentences

        texts, spans = _flatten(docs)
        gaps = gap_sentences(spans)
        probs = np.full(len(texts), np.nan)
        probs[gaps] = rule_predictions(texts, gaps)
        return Segmentation.cut(probs, spans, None, probs, "rule (bracket rule)")


class TextTilingScorer:
    """TextTiling (trainer/texttiling.py) over the sentence vectors of --encoder (or --dataset's manifest)."""

    def __init__(self, cfg: SegmentConfig, cache_root: Path, show_progress: bool, engine):
        from pipeline.vectors import TextEncoder

        self.cfg, self.threshold, self.description = cfg, cfg.threshold, cfg.run
        self.manifest = texttiling_manifest(cfg, Path(cache_root))
        self.encoder = TextEncoder(self.manifest, Path(cfg.cache) if cfg.cache else None, show_progress, engine)

    def __call__(self, docs: list[Document]) -> Segmentation:
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


class RunScorer:
    """A trained run: its model(s), threshold and decoder, and a TextEncoder that keeps the vector
    cache open and the run's encoder loaded (a crossseg run reads the sentences themselves)."""

    def __init__(self, cfg: SegmentConfig, cache_root: Path, show_progress: bool, engine):
        self.cfg, self.show_progress, self.engine = cfg, show_progress, engine
        self.threshold = cfg.threshold
        self.load(resolve_run(cfg.run, cfg.runs_dir))

    def load(self, run_dir: Path) -> None:
        from pipeline.vectors import TextEncoder

        from ..run import load_run

        cfg = self.cfg
        self.run_dir = run_dir
        self.run = run = load_run(run_dir)
        self.raw_text = run.spec.get("kind") == "crossseg"    # a fine-tuned transformer reads the sentences themselves
        if self.raw_text:
            from ..crossdata import check_base_model

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
            from ..decode import Decoder

            self.decoder = Decoder(self.threshold)
        else:
            self.decoder = run.decoder(self.chosen[0])
        self.description += self.decoder.describe()
        self.encoder = None if self.raw_text else TextEncoder(manifest, Path(cfg.cache) if cfg.cache else None,
                                                              self.show_progress, self.engine)

    def __call__(self, docs: list[Document]) -> Segmentation:
        """The run's probabilities, decided by its repeat's decoder (or cut at --threshold / the ensemble's)."""
        from ..data import gap_counts
        from ..predict import gap_sentences, predict_probs

        run = self.run
        texts, spans = _flatten(docs)
        vectors = None if self.raw_text else run.inputs(self.encoder(texts), texts, spans)
        gap_probs = []
        with progress() as bar:
            task = bar.add_task("predict", total=len(texts) * len(self.models), unit="sent")
            for m in self.models:
                if self.raw_text:
                    from ..crossdata import predict_cross

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
        from ..models import word_attention

        if vectors is not None and hasattr(self.models[0], "token_weights") and word_attention(run.spec):
            seg.attention = token_attention(self.models, vectors, texts)
        return seg


# --run NAME: these baselines, else a run directory (the names take precedence over runs of the same name)
SCORERS = {"rule": RuleScorer, "texttiling": TextTilingScorer}
BASELINES = tuple(SCORERS)


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
        engine = make_engine(cfg.engine, cfg.address, cfg.workers)
        with quiet(not progress):
            self.scorer = SCORERS.get(cfg.run, RunScorer)(cfg, Path(cache_root), progress, engine)

    @property
    def threshold(self) -> float | None:
        return self.scorer.threshold

    @property
    def description(self) -> str:
        return self.scorer.description

    # ------------------------------------------------------------------ documents

    def __call__(self, docs: list[Document]) -> Segmentation:
        """The flattened documents' scores and decisions."""
        with quiet(not self.show_progress):
            return self.scorer(docs)

    def segment_documents(self, docs: list[Document]) -> list[DocResult]:
        """Scores and decisions of each document (1 at every document's first sentence)."""
        return split_results(docs, self(docs))

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
