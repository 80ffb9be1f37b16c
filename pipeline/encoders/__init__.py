"""Sentence encoders, one class per file; `make_encoder(cfg)` picks one by `cfg.encoder`."""

from __future__ import annotations

from importlib import import_module

from ..errors import SegError
from .base import Encoder

#: --encoder name -> "module:Class" (imported lazily: torch is slow to import)
ENCODERS = {
    "e5": "e5:E5Encoder",
    "sbert": "sbert:SBertEncoder",
    "bert": "bert:BertEncoder",
    "wiki2vec": "wiki2vec:Wiki2VecEncoder",
}


def encoder_class(kind: str) -> type[Encoder]:
    spec = ENCODERS.get(kind)
    if spec is None:
        raise SegError(f"--encoder {kind!r}: unknown encoder; use one of {', '.join(ENCODERS)}")
    mod, cls = spec.split(":")
    return getattr(import_module(f".{mod}", __name__), cls)


def make_encoder(cfg, memo=None) -> Encoder:
    return encoder_class(cfg.encoder)(cfg, memo)


__all__ = ["ENCODERS", "Encoder", "encoder_class", "make_encoder"]
