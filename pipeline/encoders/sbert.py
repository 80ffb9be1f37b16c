"""Any sentence-transformers model, by hub name or local folder, encoded with its own `encode`.

The model defines its pooling and normalisation (modules.json); --max-length overrides
its max_seq_length. On a GPU the forward runs under bf16/fp16 autocast.
"""

from __future__ import annotations

import numpy as np

from ..errors import SegError
from ..fingerprint import ENCODING_VERSION, hash_folder
from .base import (Encoder, autocast, library_versions, load_error, precision, quiet_transformers, resolve_model,
                   count_tokens, tokenizer_kwargs, torch_batch_size, torch_device, torch_devices, torch_token_budget)

DEFAULT_MODEL = "sonoisa/sentence-bert-base-ja-mean-tokens-v2"


class SBertEncoder(Encoder):
    kind = "sbert"
    unsupported = ("pooling", "vectors")
    token_budget = 16384

    def default_batch_size(self) -> int:
        return torch_batch_size(self.cfg.device)

    def batch_token_budget(self) -> int:
        return torch_token_budget(self.cfg.device)

    def costs(self, texts: list[str]) -> list[int]:
        """The tokenizer's counts (with the model's default prompt) once the model is loaded."""
        tok = getattr(self._model[0], "tokenizer", None) if self._model is not None else None
        if tok is None:
            return super().costs(texts)
        name = getattr(self._model, "default_prompt_name", None)
        prefix = (getattr(self._model, "prompts", None) or {}).get(name, "") if name else ""
        return count_tokens(tok, texts, prefix, int(self._model.max_seq_length or 512))

    def __init__(self, cfg, memo=None):
        super().__init__(cfg, memo)
        self.folder, self.hub_name = resolve_model(cfg.model or DEFAULT_MODEL)
        if not (self.folder / "modules.json").is_file() and not (self.folder / "config.json").is_file():
            raise SegError(f"--model {cfg.model}: {self.folder} holds no sentence-transformers model (no modules.json or config.json)")
        self.model_spec = self.hub_name or str(self.folder)
        self._model = None
        self._device = None

    def identity(self) -> dict:
        return {"kind": "sbert", "model": self.hub_name, "files": hash_folder(self.folder, self.memo),
                "max_length": self.cfg.max_length, "pooling": "model", "normalize": "model", "prefix": None,
                "encoding_version": ENCODING_VERSION, "precision": precision(torch_device(self.cfg.device)),
                "libraries": library_versions("torch", "transformers", "sentence-transformers")}

    def describe(self) -> str:
        return self.hub_name or str(self.folder)

    def load(self) -> None:
        if self._model is not None:
            return
        quiet_transformers()

        self._devices = torch_devices(self.cfg.device)
        self._device = self._devices[0]
        if len(self._devices) > 1:  # loaded on the CPU; the pool places a copy on each device
            from .st_pool import AutocastSentenceTransformer as SentenceTransformer

            self._device = "cpu"
        else:
            from sentence_transformers import SentenceTransformer
        try:
            self._model = SentenceTransformer(str(self.folder), device=self._device, local_files_only=True,
                                              processor_kwargs=tokenizer_kwargs(self.folder) or None)
        except SegError:
            raise
        except Exception as e:
            raise load_error(self.describe(), "sentence-transformers", e) from None
        self._model.eval()
        if self.cfg.max_length:
            self._model.max_seq_length = self.cfg.max_length

    @property
    def dim(self) -> int:
        self.load()
        get = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        d = get()
        if d is None:
            d = int(self.encode(["。"]).shape[1])
        return int(d)

    def encode_batches(self, batches):
        """With several devices (--device cuda:0,cuda:1): sentence-transformers' multi-process
        pool, one process per device, started here and stopped at the end. Each of seg's batches
        is one chunk of the pool, encoded as one batch, so its vectors are those the batch gives
        on one device. Runs of equal-sized batches (2 per device at a time) go out together."""
        self.load()
        if len(self._devices) < 2:
            yield from super().encode_batches(batches)
            return
        pool = self._model.start_multi_process_pool(self._devices)
        try:
            group: list[list[str]] = []
            for b in batches:
                if group and (len(b) != len(group[0]) or len(group) >= 2 * len(self._devices)):
                    yield from self._pool_encode(pool, group)
                    group = []
                group.append(b)
            if group:
                yield from self._pool_encode(pool, group)
        finally:
            self._model.stop_multi_process_pool(pool)

    def _pool_encode(self, pool, group: list[list[str]]):
        n = len(group[0])
        v = self._model.encode([t for b in group for t in b], pool=pool, batch_size=n, chunk_size=n,
                               show_progress_bar=False, convert_to_numpy=True)
        v = np.asarray(v, dtype=np.float32)
        for k, b in enumerate(group):
            yield b, v[k * n:(k + 1) * n]

    def encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        with autocast(self._device):
            v = self._model.encode(texts, batch_size=len(texts), show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(v, dtype=np.float32)

    def encode_tokens(self, texts: list[str]):
        """Last-layer states and character spans of each text's tokens (seg embed --tokens), from the
        model's first module (its transformers model and tokenizer), with its default prompt."""
        from .tokens import token_states

        self.load()
        first = self._model[0]
        model, tok = getattr(first, "auto_model", None), getattr(first, "tokenizer", None)
        if model is None or tok is None:
            raise SegError(f"--tokens: the first module of {self.describe()} is not a transformers model; "
                           f"use --encoder bert with its transformer folder")
        name = getattr(self._model, "default_prompt_name", None)
        prefix = (getattr(self._model, "prompts", None) or {}).get(name, "") if name else ""
        limit = self._model.max_seq_length or getattr(tok, "model_max_length", 512)
        return token_states(tok, model, texts, prefix, int(limit), self._device)
