"""Any sentence-transformers model, by hub name or local folder, encoded with its own `encode`.

The model defines its pooling and normalisation (modules.json); --max-length overrides
its max_seq_length. On a GPU the forward runs under bf16/fp16 autocast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import SegError
from ..fingerprint import ENCODING_VERSION, hash_folder
from .base import (Encoder, TorchBatching, autocast, library_versions, load_error, load_tokenizer, quiet_transformers,
                   resolve_model, count_tokens, tokenizer_kwargs, torch_device, torch_devices)

DEFAULT_MODEL = "sonoisa/sentence-bert-base-ja-mean-tokens-v2"


def counting_setup(folder: Path, max_length: int | None) -> tuple[Path, str, int | None]:
    """(tokenizer folder, default prompt, max tokens or None: the tokenizer's own limit) of a
    sentence-transformers folder, read from its own files (modules.json,
    config_sentence_transformers.json, sentence_bert_config.json) rather than from a loaded
    model, so that `seg embed` sorts and batches by the same counts whether the model is loaded
    in this process or, with --engine ray, only on the workers (the same batches give the same
    vectors, bit for bit)."""

    def read(f: Path) -> dict:
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        first = folder / (modules[0].get("path") or "")
    except (OSError, ValueError, IndexError, KeyError, AttributeError, TypeError):
        first = folder
    st = read(folder / "config_sentence_transformers.json")
    name = st.get("default_prompt_name")
    prefix = (st.get("prompts") or {}).get(name, "") if name else ""
    limit = max_length or read(first / "sentence_bert_config.json").get("max_seq_length")
    return first, str(prefix or ""), int(limit) if limit else None


class SBertEncoder(TorchBatching, Encoder):
    kind = "sbert"
    unsupported = ("pooling", "vectors", "backend")
    torch_forward = True

    def costs(self, texts: list[str]) -> list[int]:
        """The tokenizer's counts with the model's default prompt (see counting_setup)."""
        if self._counting is None:
            first, prefix, limit = counting_setup(self.folder, self.cfg.max_length)
            tok = getattr(self._model[0], "tokenizer", None) if self._model is not None else None
            if tok is None:   # not loaded here (the Ray driver): the tokenizer alone
                tok = load_tokenizer(first, self.describe(), self.folder)
            if limit is None:   # sentence-transformers 5+: the tokenizer's model_max_length
                own = getattr(tok, "model_max_length", None)
                limit = own if own and own < 100_000 else 512
            self._counting = (tok, prefix, limit)
        tok, prefix, limit = self._counting
        return count_tokens(tok, texts, prefix, limit)

    def __init__(self, cfg, memo=None):
        super().__init__(cfg, memo)
        self.folder, self.hub_name = resolve_model(cfg.model or DEFAULT_MODEL)
        if not (self.folder / "modules.json").is_file() and not (self.folder / "config.json").is_file():
            raise SegError(f"--model {cfg.model}: {self.folder} holds no sentence-transformers model (no modules.json or config.json)")
        self.model_spec = self.hub_name or str(self.folder)
        self._model = None
        self._device = None
        self._counting = None

    def identity(self) -> dict:
        return {"kind": "sbert", "model": self.hub_name, "files": hash_folder(self.folder, self.memo),
                "max_length": self.cfg.max_length, "pooling": "model", "normalize": "model", "prefix": None,
                "encoding_version": ENCODING_VERSION, "precision": self.forward_precision(),
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

    def loaded_dim(self) -> int:
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
        with autocast(self._device, self.forward_precision()):
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
        return token_states(tok, model, texts, prefix, int(limit), self._device, self.forward_precision(),
                            getattr(self.cfg, "layer", None))

    def transformer_folder(self) -> Path:
        """The folder of the model's transformers model (its first module), whose layers
        `seg train --finetune-layers` rebuilds."""
        return counting_setup(self.folder, self.cfg.max_length)[0]

    def token_prompt(self) -> str:
        """The prompt the token states were computed with (the model's default prompt)."""
        return counting_setup(self.folder, self.cfg.max_length)[1]
