"""`crossseg`: the control group — a transformers encoder fine-tuned across the gap.

The system seg replaces: a pretrained encoder reads the raw text of the L sentences before
the gap and the R sentences from it on as one pair, `[CLS] left [SEP] right [SEP]` (the
tokenizer's own pair template, trainer/crossdata.py), and a head on its pooled output gives
one logit per gap:

    input_ids, attention_mask[, token_type_ids] (B, T)
      -> encoder (AutoModel of `encoder_model`, every weight trained)   (B, T, H)
      -> pooling cls (the first token) | mean (masked mean over the tokens)   (B, H)
      -> MLP head (`layers` hidden layers of `hidden`, dropout)  -> logit  (B,)

The architecture is rebuilt from the base model's config.json (`from_spec`: random weights,
no weight file read); training then loads the pretrained weights (`load_pretrained`), and a
saved run's state_dict covers the whole model, encoder included (torch.load(weights_only=True)).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.errors import SegError

from .common import masked_mean, mlp_head

POOLINGS = ("cls", "mean")


def _quiet_transformers():
    from pipeline.encoders.base import quiet_transformers

    quiet_transformers()


class CrossSegModel(nn.Module):
    def __init__(self, *, encoder_model: str, pooling: str, hidden: int, layers: int, dropout: float):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if not (Path(encoder_model) / "config.json").is_file():
            raise SegError(f"{encoder_model}: the crossseg base model folder (config.json) is missing; restore it "
                           f"or retrain with `seg train --model crossseg --encoder-model PATH`")
        if pooling not in POOLINGS:
            raise SegError(f"--pooling {pooling!r}: crossseg reads out cls or mean")
        _quiet_transformers()
        self.encoder_model, self.pooling = str(encoder_model), pooling
        config = AutoConfig.from_pretrained(encoder_model, local_files_only=True)
        self.encoder = AutoModel.from_config(config)
        self.head = mlp_head(config.hidden_size, hidden, layers, dropout)

    def load_pretrained(self) -> None:
        """Replace the encoder's random weights with the base model's pretrained ones."""
        from transformers import AutoModel

        _quiet_transformers()
        pre = AutoModel.from_pretrained(self.encoder_model, local_files_only=True)
        missing, unexpected = self.encoder.load_state_dict(pre.state_dict(), strict=False)
        if unexpected or [k for k in missing if "position_ids" not in k]:
            raise SegError(f"{self.encoder_model}: its weights do not fit its own config.json "
                           f"({len(missing)} missing, {len(unexpected)} unexpected tensors); use a complete model folder")

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) token ids, mask (1 = a real token)[, token types] -> logits (B,)."""
        kw = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
        pooled = h[:, 0] if self.pooling == "cls" else masked_mean(h, attention_mask.bool())
        return self.head(pooled.float()).squeeze(-1)
