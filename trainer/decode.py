"""Turning gap probabilities into paragraph breaks: the one place that names the decoders.

    seg train --decode threshold     a gap is a break when its probability >= the dev threshold
    seg train --decode viterbi       the best segmentation of each document under the model's
                                     gap scores plus a prior over paragraph lengths
    seg train --decode crf           (--model seq only) the model's own CRF over neighbouring
                                     gaps (models/crf.py): its marginals, at the dev threshold

A decoder is a class (the threshold rule, `Decoder`, is the base of every one) and one
`register(DecoderInfo(...))` line at the end of this file; train, the run files, `seg segment`,
the API and `seg train --help` reach it only through the functions here (docs/development.md):

    register(info) / info(name) / names()    the registry ("--decode NAME")
    check(name, model)                       train's option check
    fit(name, train_labels, doc_ranges)      what the decoder learns from train: config.json["decoder"]
    make(fitted, threshold, settings)        the decoder of one repeat, from the run's files
    Decoder.tune(...)                        its own settings, chosen on dev (metrics.json, per repeat)
    Decoder.decide(probs, doc_gap_counts)    0/1 breaks

The run's files hold each fact once: the kind and what was fitted on train in config.json's
"decoder"; the dev threshold in each repeat's "threshold"; the decoder's dev-chosen settings
(viterbi: tau and weight) in each repeat's "decoder".

Viterbi with a paragraph-length prior (a semi-Markov decode). A document of n sentences is
cut into paragraphs of lengths l_1 .. l_m (sum n); a cut before sentence j earns the gap's
log-odds minus a bias, and every paragraph earns `weight` times the log-probability of its
length under the train split's distribution:

    score = sum over breaks j (logit p_j - tau)  +  weight * sum over paragraphs log P(l)

With weight 0 this is the threshold rule at p >= sigmoid(tau), so the dev search below
(which includes that point) can only match or improve threshold decoding on dev. P(l) is
the empirical distribution of paragraph lengths in sentences on the train split (add-half
smoothing) for l < LMAX, and a geometric tail fitted to the mean excess length beyond it;
the tail makes the dynamic programme exact for paragraphs of any length at O(n * LMAX).

Every setting (tau, weight) is chosen on dev only: `ViterbiDecoder.tune` searches a small grid
around the dev F1-optimal threshold and keeps the best dev F1 (ties: the smaller weight,
then the smaller tau shift).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.errors import SegError

from .registry import Registry, load_target

LMAX = 32                      # lengths below this get their own probability; the rest a geometric tail
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
TAU_SHIFTS = (-1.5, -1.0, -0.6, -0.3, -0.15, 0.0, 0.15, 0.3, 0.6, 1.0, 1.5)
_EPS = 1e-6
_TIE = 1e-9


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


# ----------------------------------------------------------------------------- the length prior

@dataclass
class LengthPrior:
    """log P(paragraph length = l sentences): a table for l < lmax, a geometric tail beyond."""

    log_p: list[float]          # index l-1 for l = 1 .. lmax-1
    log_tail: float             # log P(l = lmax); P(l = lmax + k) = P(lmax) * rho ** k
    log_rho: float
    lmax: int = LMAX
    n_paragraphs: int = 0

    @classmethod
    def fit(cls, labels: np.ndarray, doc_ranges: list[tuple[int, int]], lmax: int = LMAX) -> "LengthPrior":
        """From sentence labels (1 = a paragraph starts) and (start, end) document ranges."""
        labels = np.asarray(labels)
        lengths = []
        for s, e in doc_ranges:
            if e <= s:
                continue
            starts = np.flatnonzero(labels[s:e])
            starts = np.union1d(starts, [0])
            lengths.extend(np.diff(np.append(starts, e - s)).tolist())
        lengths = np.asarray(lengths, dtype=np.int64)
        if len(lengths) == 0:
            raise SegError("the train split holds no paragraph to fit a length prior on; use --decode threshold")
        counts = np.bincount(np.minimum(lengths, lmax), minlength=lmax + 1)[1:].astype(np.float64)
        counts[:lmax - 1] += 0.5
        tail_n = counts[lmax - 1]
        excess = lengths[lengths >= lmax] - lmax
        mean_excess = float(excess.mean()) if len(excess) else 1.0
        rho = mean_excess / (1.0 + mean_excess)
        rho = min(max(rho, 0.05), 0.999)
        total = counts[:lmax - 1].sum() + tail_n + 0.5
        log_p = np.log(counts[:lmax - 1] / total)
        log_tail = math.log((tail_n + 0.5) / total) + math.log(1.0 - rho)
        return cls(log_p.tolist(), float(log_tail), float(math.log(rho)), lmax, int(len(lengths)))

    def table(self, n: int) -> np.ndarray:
        """log P(l) for l = 1 .. n (for tests and plots)."""
        out = np.empty(n)
        for l in range(1, n + 1):
            out[l - 1] = self.log_p[l - 1] if l < self.lmax else self.log_tail + (l - self.lmax) * self.log_rho

        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LengthPrior":
        return cls(**d)


# ----------------------------------------------------------------------------- semi-Markov Viterbi

def _split_docs(values: np.ndarray, doc_gap_counts: list[int]) -> list[np.ndarray]:
    out, start = [], 0
    for n in doc_gap_counts:
        out.append(values[start:start + n])
        start += n
    return out


def viterbi_batch(scores: np.ndarray, n_sent: np.ndarray, prior: LengthPrior, weights: np.ndarray) -> np.ndarray:
    """Best segmentation of K sequences at once.

    scores  (K, T) break score of the gap before sentence j at column j-1 (j = 1 .. T),
            T = the longest sequence's gap count; columns past a row's own gaps are ignored
    n_sent  (K,) sentences of each row (its gaps: n_sent - 1)
    weights (K,) the prior's weight per row
    Returns (K, T) 0/1 breaks.
    """
    K, T = scores.shape
    n_sent = np.asarray(n_sent, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)[:, None]
    lmax = prior.lmax
    lp = np.asarray(prior.log_p, dtype=np.float64)              # l = 1 .. lmax-1
    wlp = w * lp[None, ::-1]                                     # column c <-> length lmax-1-c
    neg = -1e18
    N = T + 1                                                    # boundary positions 0 .. T+1 (n_sent max = T+1)
    best = np.full((K, N + 1), neg)
    best[:, 0] = 0.0
    arg = np.zeros((K, N + 1), dtype=np.int32)                  # start of the paragraph ending at j
    long_val = np.full(K, neg)
    long_start = np.zeros(K, dtype=np.int64)
    w_rho = w[:, 0] * prior.log_rho
    w_tail = w[:, 0] * prior.log_tail
    rows = np.arange(K)
    pad = np.full((K, lmax - 1), neg)
    hist = np.concatenate([pad, best], axis=1)                   # hist[:, j + lmax-1] = best[:, j]
    for j in range(1, N + 1):
        # long paragraphs (length >= lmax) ending at j: extend the previous one or start at j-lmax
        if j >= lmax:
            cand = best[:, j - lmax] + w_tail
            ext = long_val + w_rho
            take_new = cand >= ext
            long_val = np.where(take_new, cand, ext)
            long_start = np.where(take_new, j - lmax, long_start)
        # short paragraphs: lengths 1 .. lmax-1 end at j, starting at j-l
        window = hist[:, j:j + lmax - 1] + wlp                    # starts j-lmax+1 .. j-1
        c = window.argmax(1)
        v = window[rows, c]
        start = j - (lmax - 1) + c
        use_long = long_val > v
        v = np.where(use_long, long_val, v)
        start = np.where(use_long, long_start, start)
        gap = np.zeros(K)
        inside = j < n_sent                                      # a cut before sentence j (not the end)
        if j <= T:
            gap = np.where(inside, scores[:, j - 1], 0.0)
        best[:, j] = v + gap
        hist[:, j + lmax - 1] = best[:, j]
        arg[:, j] = start
    breaks = np.zeros((K, T), dtype=np.int8)
    for k in range(K):
        j = int(n_sent[k])
        while j > 0:
            s = int(arg[k, j])
            if s > 0:
                breaks[k, s - 1] = 1
            j = s
    return breaks


def viterbi_decode(probs: np.ndarray, doc_gap_counts: list[int], prior: LengthPrior, tau: float,
                   weight: float) -> np.ndarray:
    """0/1 break per gap (document order) of the best segmentation; see the module docstring."""
    return viterbi_grid(probs, doc_gap_counts, prior, [(tau, weight)])[0]


def viterbi_grid(probs: np.ndarray, doc_gap_counts: list[int], prior: LengthPrior,
                 settings: list[tuple[float, float]]) -> list[np.ndarray]:
    """viterbi_decode for several (tau, weight) settings in one batched pass."""
    z = logit(probs)
    docs = [(d, n) for d, n in enumerate(doc_gap_counts) if n > 0]
    pieces = _split_docs(z, doc_gap_counts)
    out = [np.zeros(len(z), dtype=np.int8) for _ in settings]
    if not docs:
        return out
    offsets = np.concatenate([[0], np.cumsum(doc_gap_counts)])
    T = max(n for _, n in docs)
    K = len(docs) * len(settings)
    scores = np.zeros((K, T))
    n_sent = np.zeros(K, dtype=np.int64)
    weights = np.zeros(K)
    for si, (tau, w) in enumerate(settings):
        for di, (d, n) in enumerate(docs):
            k = si * len(docs) + di
            scores[k, :n] = pieces[d] - tau + _TIE     # p == sigmoid(tau) breaks, as p >= threshold does
            n_sent[k] = n + 1
            weights[k] = w
    breaks = viterbi_batch(scores, n_sent, prior, weights)
    for si in range(len(settings)):
        for di, (d, n) in enumerate(docs):
            out[si][offsets[d]:offsets[d] + n] = breaks[si * len(docs) + di, :n]
    return out


# ----------------------------------------------------------------------------- the decoders

class Decoder:
    """The threshold rule, and the interface every decoder keeps: built from the repeat's dev
    threshold, what `fit` learnt from train (saved once, config.json["decoder"]) and its own
    dev-chosen settings (`settings()`, saved per repeat)."""

    def __init__(self, threshold: float, fitted: dict | None = None):
        self.threshold = float(threshold)
        self.fitted = dict(fitted or {})

    @classmethod
    def fit(cls, labels: np.ndarray, doc_ranges: list[tuple[int, int]]) -> dict:
        """What this decoder reads from the train split (JSON-ready); the threshold rule reads nothing."""
        return {}

    def tune(self, labels: np.ndarray, probs: np.ndarray, doc_gap_counts: list[int], score) -> "Decoder":
        """The decoder with its own settings chosen on dev: the best `score(labels, breaks)` (dev F1)."""
        return self

    def decide(self, probs: np.ndarray, doc_gap_counts: list[int]) -> np.ndarray:
        """0/1 break per gap, the documents' gaps in order (doc_gap_counts of them each)."""
        return (np.asarray(probs, dtype=np.float64) >= self.threshold).astype(np.int8)

    def settings(self) -> dict:
        """The dev-chosen settings beyond the threshold (metrics.json's repeats[k]["decoder"])."""
        return {}

    def describe(self) -> str:
        """A clause for `seg segment`'s description ("" for the threshold rule)."""
        return ""


class ViterbiDecoder(Decoder):
    """--decode viterbi: the best segmentation under the gap scores and the train split's
    paragraph-length prior; bias and prior weight chosen on dev around the threshold."""

    def __init__(self, threshold: float, fitted: dict | None = None, tau: float | None = None, weight: float = 0.0):
        super().__init__(threshold, fitted)
        if not isinstance(self.fitted.get("length_prior"), dict):
            raise SegError("this run decodes with a paragraph-length prior but none was saved; retrain it")
        self.prior = LengthPrior.from_dict(self.fitted["length_prior"])
        self.tau = float(logit(np.array([threshold]))[0]) if tau is None else float(tau)
        self.weight = float(weight)

    @classmethod
    def fit(cls, labels, doc_ranges) -> dict:
        return {"length_prior": LengthPrior.fit(labels, doc_ranges).to_dict()}

    def tune(self, labels, probs, doc_gap_counts, score) -> "ViterbiDecoder":
        """The (tau, weight) of the best dev score on a grid around the threshold (ties: the
        smaller weight, then the smaller shift)."""
        base = float(logit(np.array([self.threshold]))[0])
        grid = [(base + s, w) for w in WEIGHTS for s in TAU_SHIFTS]
        best = None
        for (tau, w), br in zip(grid, viterbi_grid(probs, doc_gap_counts, self.prior, grid)):
            key = (score(labels, br), -w, -abs(tau - base))
            if best is None or key > best[0]:
                best = (key, tau, w)
        return ViterbiDecoder(self.threshold, self.fitted, best[1], best[2])

    def decide(self, probs, doc_gap_counts):
        return viterbi_decode(np.asarray(probs, dtype=np.float64), doc_gap_counts, self.prior, self.tau, self.weight)

    def settings(self) -> dict:
        return {"tau": self.tau, "weight": self.weight}

    def describe(self) -> str:
        return f", Viterbi with the paragraph-length prior (weight {self.weight:g})"


@dataclass(frozen=True)
class DecoderInfo:
    name: str                        # --decode NAME (config.json["decoder"]["kind"])
    target: str                      # "package.module:Class", a Decoder subclass, imported when used
    summary: str                     # --decode help
    models: tuple[str, ...] = ()     # the --model names it works with; () = every model
    crf: bool = False                # the model is built with its CRF layer (models/crf.py)

    def load(self) -> type[Decoder]:
        return load_target(self.target)


_DECODERS = Registry("--decode")


def register(d: DecoderInfo) -> DecoderInfo:
    return _DECODERS.add(d)


def info(name: str) -> DecoderInfo:
    return _DECODERS.entry(name)


def names() -> tuple[str, ...]:
    return tuple(_DECODERS)


def check(name: str, model: str) -> None:
    """Train's check of --decode against --model."""
    d = info(name)
    if d.models and model not in d.models:
        others = ", ".join(n for n, o in _DECODERS.items() if not o.models or model in o.models)
        raise SegError(f"--decode {name} applies to --model {' or '.join(d.models)} only; with --model {model} "
                       f"use {others}")


def fit(name: str, labels: np.ndarray, doc_ranges: list[tuple[int, int]]) -> dict:
    """config.json["decoder"]: the kind and what the decoder learnt from train."""
    return {"kind": name, **info(name).load().fit(labels, doc_ranges)}


def make(fitted: dict | None, threshold: float, settings: dict | None = None) -> Decoder:
    """One repeat's decoder from the run's files: config.json["decoder"] (None: a threshold run),
    the repeat's dev threshold and its "decoder" settings. Keys a decoder does not take (the kind
    and threshold that runs of seg 0.1 repeated there) are left out."""
    fitted = dict(fitted or {"kind": "threshold"})
    cls = info(fitted.pop("kind", "threshold")).load()
    takes = set(inspect.signature(cls).parameters) - {"threshold", "fitted"}
    return cls(threshold, fitted, **{k: v for k, v in (settings or {}).items() if k in takes and v is not None})


def help_text() -> str:
    """The --decode help of seg train, from the registrations."""
    parts = [f"{n} ({d.summary}{'; ' + ' or '.join(d.models) + ' only' if d.models else ''})" for n, d in _DECODERS.items()]
    return "; ".join(parts) + ". Every setting is chosen on dev."


register(DecoderInfo("threshold", "trainer.decode:Decoder",
                     "break where the probability reaches the dev-chosen threshold"))
register(DecoderInfo("viterbi", "trainer.decode:ViterbiDecoder",
                     "best segmentation of each document under a paragraph-length prior fitted on train; "
                     "prior weight and bias chosen on dev"))
register(DecoderInfo("crf", "trainer.decode:Decoder",
                     "a CRF layer over neighbouring gaps, breaks where its marginal reaches the dev threshold",
                     models=("seq",), crf=True))
