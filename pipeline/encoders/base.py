"""The encoder interface: texts in, float32 (n, dim) vectors out.

An encoder is built from an EmbedConfig without loading anything; `identity()` says
everything that changes its vectors (hashed into the cache fingerprint) and must stay
cheap (file hashes are memoised), because a fully cached run never calls `load()`.
`encode()` loads the model on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SegError


class Encoder:
    kind: str = "?"
    #: EmbedConfig fields that do not apply to this encoder (an explicit value is an error)
    unsupported: tuple[str, ...] = ()

    def __init__(self, cfg: Any, memo=None):
        self.cfg = cfg
        self.memo = memo
        #: the model as stored in the manifest's config (resolved: an absolute path for a local model)
        self.model_spec: str | None = cfg.model
        for opt in self.unsupported:
            if getattr(cfg, opt, None) is not None:
                flag = "--" + opt.replace("_", "-")
                raise SegError(f"{flag} does not apply to --encoder {self.kind}; leave it out")

    # identity ----------------------------------------------------------------------
    def identity(self) -> dict:
        """Everything that changes a vector (without the sentence)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Short model label for messages and cache metadata."""
        return self.kind

    # dataset-dependent state (wiki2vec's SIF) ------------------------------------------
    def prepare(self, texts: list[str], counts: list[int] | None = None) -> None:
        """See the whole dataset before fingerprinting (no-op for most encoders)."""

    def fit_state(self, cache, texts: list[str]) -> None:
        """Compute/load state that depends on the dataset, once the model is loaded."""

    def load_state(self, cache) -> None:
        """Restore dataset-dependent state from the cache (for encoding new text)."""

    # encoding ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        raise NotImplementedError

    def load(self) -> None:
        """Load the model (idempotent)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim) vectors of one batch."""
        raise NotImplementedError

    def cost(self, text: str) -> int:
        """Approximate tokens of a text (for token-budget batching)."""
        return len(text) + 2

    #: default cap of a batch's padded size (sentences x longest sentence)
    token_budget: int = 8192
    #: default max sentences per batch
    batch_size: int = 64
