"""The one check of re-encoded vectors: the reproducibility contract of the vector cache
(pipeline/encoders/base.py: same_vectors, docs/reliability.md). Every test that compares floats
after a re-encode, a resume, a kill -9, another thread count or a Ray run goes through it, so
no test asks for more than seg promises (a bit-exact comparison of transformer vectors fails
on a machine whose BLAS blocks differently) nor less (wiki2vec's vectors are exact)."""

from __future__ import annotations

import numpy as np

from pipeline.embed import EmbedConfig
from pipeline.encoders import encoder_class
from pipeline.encoders.base import same_vectors


def assert_reproduced(got, want, encoder: str, cfg: EmbedConfig | None = None) -> None:
    """`got` re-encodes the sentences of `want` with `encoder` (e5, sbert, bert, wiki2vec; `cfg`:
    the embedding's settings, for an encoder whose contract depends on them, e.g. e5 at bf16)."""
    how = encoder_class(encoder).reproducible if cfg is None else _contract(cfg)
    ok, worst = same_vectors(np.asarray(got), np.asarray(want), how)
    assert ok, f"{encoder} vectors break the {how!r} contract: {worst}"


def _contract(cfg: EmbedConfig) -> str:
    from pipeline.encoders import make_encoder

    return make_encoder(cfg).contract()
