"""Any transformers encoder (BERT-like) with its own tokenizer and [CLS] or masked-mean pooling.

BertJapaneseTokenizer models with MeCab word splitting get `mecab_kwargs` with ipadic
when the dictionary they name (tohoku v3: unidic_lite) is not installed. On a GPU the
forward runs under bf16/fp16 autocast.
"""

from __future__ import annotations

import numpy as np

from ..errors import SegError
from ..fingerprint import ENCODING_VERSION, hash_folder
from .base import (Encoder, TorchBatching, autocast, library_versions, load_error, load_tokenizer, quiet_transformers,
                   resolve_model, count_tokens, torch_device)

DEFAULT_MODEL = "tohoku-nlp/bert-base-japanese-v3"


def max_tokens(tok, config, max_length: int | None) -> int:
    """Tokens per text: --max-length, capped by the tokenizer's and the model's limits."""
    limit = getattr(config, "max_position_embeddings", 512) or 512
    tok_limit = tok.model_max_length if tok.model_max_length and tok.model_max_length < 100_000 else limit
    return min(max_length or tok_limit, tok_limit, limit)


class BertEncoder(TorchBatching, Encoder):
    kind = "bert"
    unsupported = ("vectors", "backend")
    torch_forward = True

    def costs(self, texts: list[str]) -> list[int]:
        """The tokenizer's counts, truncated where encode() truncates. Where the model is not
        loaded here (the Ray driver) the tokenizer and the config are loaded alone, so both
        engines batch alike."""
        if self._tok is None:
            from transformers import AutoConfig

            self._tok = load_tokenizer(self.folder, self.describe())
            try:
                config = AutoConfig.from_pretrained(str(self.folder), local_files_only=True)
            except Exception as e:
                raise load_error(self.describe(), "transformers", e) from None
            self._max_length = max_tokens(self._tok, config, self.cfg.max_length)
        return count_tokens(self._tok, texts, "", self._max_length)

    def __init__(self, cfg, memo=None):
        super().__init__(cfg, memo)
        self.pooling = cfg.pooling or "mean"
        self.folder, self.hub_name = resolve_model(cfg.model or DEFAULT_MODEL)
        if not (self.folder / "config.json").is_file():
            raise SegError(f"--model {cfg.model}: {self.folder} holds no transformers model (no config.json)")
        self.model_spec = self.hub_name or str(self.folder)
        self._model = self._tok = None

    def identity(self) -> dict:
        return {"kind": "bert", "model": self.hub_name, "files": hash_folder(self.folder, self.memo),
                "pooling": self.pooling, "max_length": self.cfg.max_length, "normalize": False, "prefix": None,
                "layer": "last", "encoding_version": ENCODING_VERSION, "precision": self.forward_precision(),
                "libraries": library_versions("torch", "transformers")}

    def describe(self) -> str:
        return f"{self.hub_name or self.folder} ({self.pooling} pooling)"

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel

        quiet_transformers()

        self._device = torch_device(self.cfg.device)
        self._tok = load_tokenizer(self.folder, self.describe())
        try:
            self._model = AutoModel.from_pretrained(str(self.folder), local_files_only=True).to(self._device).eval()
        except Exception as e:
            raise load_error(self.describe(), "transformers", e) from None
        self._max_length = max_tokens(self._tok, self._model.config, self.cfg.max_length)
        self._torch = torch

    def loaded_dim(self) -> int:
        return self._model.config.hidden_size

    def tokenize(self, texts: list[str]):
        return self._tok(texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt")

    def encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        torch = self._torch
        batch = self.tokenize(texts)
        batch = {k: v.to(self._device) for k, v in batch.items()}
        with torch.inference_mode(), autocast(self._device, self.forward_precision()):
            h = self._model(**batch).last_hidden_state
            if self.pooling == "cls":
                v = h[:, 0]
            else:
                m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return v.float().cpu().numpy()

    def encode_tokens(self, texts: list[str]):
        """Last-layer (or --layer K) states and character spans of each text's tokens (seg embed --tokens)."""
        from .tokens import token_states

        self.load()
        return token_states(self._tok, self._model, texts, "", self._max_length, self._device, self.forward_precision(),
                            getattr(self.cfg, "layer", None))

    def transformer_folder(self):
        """The folder whose layers `seg train --finetune-layers` rebuilds: the model itself."""
        return self.folder

    def token_prompt(self) -> str:
        return ""
