"""Surface features of each sentence, appended to its cached vector when a run asks for them.

    seg train --features brackets          (or brackets,length; default none)

A sentence encoder sees the words of a sentence, but its vector blurs what Japanese
typesetting makes a near-certain cue: a line of dialogue opens with 「 or 『 and starts a
paragraph (the bracket rule alone scores F1 0.68-0.73 on the Aozora test sets). These columns hand
the integrator that cue directly. They come from the sentence text only (the text that
`seg prep` cleaned: no indent, no line break), so they carry no label.

    brackets   4 columns: opens with 「/『, closes with 」/』, opens with （, closes with ）
    length     1 column: log(1 + characters)
    cues       9 columns of the sentence in its document: inside an open 「」/『』 at its start
               (a quote that spans sentences) and that depth, opens/closes with ――, holds and
               opens with ……, log(1 + its position in the document), its relative position, and
               log(1 + sentences since the last line of dialogue) (0 when none yet)
    tokens     2 x 64 columns: the first and the last MeCab word (fugashi + ipadic; brackets and
               punctuation skipped) hashed into 64 buckets each, one-hot. Through the model's
               input projection a one-hot block is a learned embedding of sentence-initial and
               sentence-final words (やがて, しかし, ...) with no hand-made list

The features are part of the run's config (config.json["train"]["features"]); every reader
of a run (seg segment, seg report) rebuilds the same input with `with_features`, given the
document ranges (`cues` reads a sentence's neighbours within its document).
"""

from __future__ import annotations

import hashlib

import numpy as np

from pipeline.errors import SegError

# dialogue brackets (also the bracket-rule baseline's, baselines.py) and the blanks around a sentence
OPENERS = ("「", "『")
CLOSERS = ("」", "』")
BLANKS = " \u3000\t"


def _brackets(texts: list[str]) -> np.ndarray:
    rows = []
    for t in texts:
        t = t.strip(BLANKS)
        rows.append((t.startswith(OPENERS), t.endswith(CLOSERS), t.startswith("（"), t.endswith("）")))
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 4)


def _length(texts: list[str]) -> np.ndarray:
    return np.log1p(np.fromiter((len(t) for t in texts), dtype=np.float32, count=len(texts)))[:, None]


DASH, ELLIPSIS = "――", "……"
TOKEN_BUCKETS = 64
_SKIP_TOKEN = set("「」『』（）()〔〕、。，．！？!?・…―　 ")


def _cues(texts: list[str], spans: list[tuple[int, int]]) -> np.ndarray:
    out = np.zeros((len(texts), 9), dtype=np.float32)
    for s, e in spans:
        depth = 0
        last_dialogue = None
        for i in range(s, e):
            t = texts[i].strip(BLANKS)
            k = i - s
            out[i, 0] = depth > 0
            out[i, 1] = min(depth, 3)
            out[i, 2] = t.startswith(DASH)
            out[i, 3] = t.rstrip("。").endswith(DASH)
            out[i, 4] = ELLIPSIS in t
            out[i, 5] = t.startswith(ELLIPSIS)
            out[i, 6] = np.log1p(k)
            out[i, 7] = k / max(e - s - 1, 1)
            out[i, 8] = np.log1p(k - last_dialogue) if last_dialogue is not None else 0.0
            if t.startswith(OPENERS):
                last_dialogue = k
            for ch in t:                      # running quote depth across sentences
                if ch in OPENERS:
                    depth += 1
                elif ch in CLOSERS and depth > 0:
                    depth -= 1
    return out


def _bucket(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "little") % TOKEN_BUCKETS


def _tokens(texts: list[str], spans=None) -> np.ndarray:
    from pipeline.encoders.wiki2vec import words

    out = np.zeros((len(texts), 2 * TOKEN_BUCKETS), dtype=np.float32)
    for i, t in enumerate(texts):
        ws = [w for w in words(t) if not set(w) <= _SKIP_TOKEN]
        if ws:
            out[i, _bucket(ws[0])] = 1.0
            out[i, TOKEN_BUCKETS + _bucket(ws[-1])] = 1.0
    return out


# name -> (function of (texts, spans), columns)
FEATURES = {"brackets": lambda texts, spans: _brackets(texts), "length": lambda texts, spans: _length(texts),
            "cues": _cues, "tokens": _tokens}


def parse_features(spec: str | None) -> tuple[str, ...]:
    """'none' / '' -> (); 'brackets,length' -> ('brackets', 'length'); unknown names are a SegError."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return ()
    names = tuple(n.strip() for n in spec.split(","))
    bad = [n for n in names if n not in FEATURES]   # an empty name too: brackets,,cues
    if bad or len(set(names)) != len(names):
        raise SegError(f"--features {spec!r}: give none, or a comma-separated list of {', '.join(FEATURES)} "
                       f"(each once), e.g. --features brackets")
    return names


def with_features(vectors: np.ndarray, texts: list[str], spec: str | None,
                  spans: list[tuple[int, int]] | None = None) -> np.ndarray:
    """`vectors` (n, D) with the feature columns of `texts` appended: (n, D + k); as is for none.

    `spans` are the documents as (start, end) ranges over `texts` (None: one document)."""
    names = parse_features(spec)
    if not names:
        return vectors
    if len(texts) != len(vectors):
        raise SegError(f"{len(texts)} sentences but {len(vectors)} vectors; re-run `seg embed`")
    spans = [(0, len(texts))] if spans is None else [(int(r[-2]), int(r[-1])) for r in spans]
    cols = [np.asarray(vectors, dtype=np.float32)] + [FEATURES[n](texts, spans) for n in names]
    return np.hstack(cols).astype(np.float32, copy=False)
