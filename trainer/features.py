"""Surface features of each sentence, appended to its cached vector when a run asks for them.

    seg train --features brackets          (or brackets,length; default none)

A sentence encoder sees the words of a sentence, but its vector blurs what Japanese
typesetting makes a near-certain cue: a line of dialogue opens with 「 or 『 and starts a
paragraph (the bracket rule alone scores F1 0.68-0.73 on the Aozora test sets). These columns hand
the integrator that cue directly. They come from the sentence text only (the text that
`seg prep` cleaned: no indent, no line break), so they carry no label.

    brackets   4 columns: opens with 「/『, closes with 」/』, opens with （, closes with ）
    length     1 column: log(1 + characters)

The features are part of the run's config (config.json["train"]["features"]); every reader
of a run (seg segment, seg report) rebuilds the same input with `with_features`.
"""

from __future__ import annotations

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


FEATURES = {"brackets": _brackets, "length": _length}


def parse_features(spec: str | None) -> tuple[str, ...]:
    """'none' / '' -> (); 'brackets,length' -> ('brackets', 'length'); unknown names are a SegError."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return ()
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    bad = [n for n in names if n not in FEATURES]
    if bad or len(set(names)) != len(names):
        raise SegError(f"--features {spec!r}: give none, or a comma-separated list of {', '.join(FEATURES)} "
                       f"(each once), e.g. --features brackets")
    return names


def with_features(vectors: np.ndarray, texts: list[str], spec: str | None) -> np.ndarray:
    """`vectors` (n, D) with the feature columns of `texts` appended: (n, D + k); as is for none."""
    names = parse_features(spec)
    if not names:
        return vectors
    if len(texts) != len(vectors):
        raise SegError(f"{len(texts)} sentences but {len(vectors)} vectors; re-run `seg embed`")
    cols = [np.asarray(vectors, dtype=np.float32)] + [FEATURES[n](texts) for n in names]
    return np.hstack(cols).astype(np.float32, copy=False)
