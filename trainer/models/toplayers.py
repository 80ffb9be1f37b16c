"""Trainable top layers: layers K+1 .. K+N of the transformer whose layer-K token states are cached.

`seg embed --tokens --layer K` stores, per sentence, the hidden states after layer K of every
token the model saw ([CLS]/<s>, the prompt such as e5's "passage: ", the sentence's tokens,
[SEP]/</s>). `seg train --finetune-layers N` rebuilds layers K+1 .. K+N of that model (its own
architecture: the transformers model class of its config.json, cut to N layers, whose
embeddings stand aside because the states are past them) and initialises them from the
model's own weights (`load_pretrained`: layer K+i of the model folder the embedding manifest
names, refused when the folder's content hash is no longer the one the states were made
with). They run over each sentence's cached states with its attention mask (no padding is
attended to); what comes out is pooled (mean, or word attention) and read by the integrator.

    TopLayers(config=..., layer=K, n_layers=N, base_model=PATH, base_hash=H)
    top.load_pretrained()           the base model's layers K+1 .. K+N
    top(x, seg, n) -> x'            packed token states of U sentences (models/wordatt.py), packed again
    top.padded(h, mask) -> h'       the same on padded states (B, T, H) with a (B, T) mask

The architecture is rebuilt from the config stored in the run's spec, so a finished run loads
without the model folder (its trained layers are in repeat-<k>.pt); only training (the
pretrained weights) and encoding new text (the layer-K states) read the folder. If K + N is
less than the model's depth the layers above K + N are not used: a truncated top.

Position embeddings were added once, at the input of layer 1, when the states were computed:
every sentence's tokens carry their positions within that sentence's own input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.errors import SegError

GROUP = 32   # sentences per forward pass of the layers on the CPU (of similar length: little padding)
CUDA_GROUP = 256   # on a GPU a pass costs its kernel launches more than its padding: fewer, larger groups


def group_size(device: torch.device) -> int:
    """Sentences (or across-gap sequences) per forward pass of the layers on this device. Only
    padding differs between group sizes (masked: never attended to), not what a row computes."""
    return CUDA_GROUP if device.type == "cuda" else GROUP


class _Given(nn.Module):
    """Stands for the model's embeddings: the cached states are already past them (and past layer K)."""

    def forward(self, input_ids=None, position_ids=None, token_type_ids=None, inputs_embeds=None, **kwargs):
        return inputs_embeds


def base_config(folder: Path) -> dict:
    """The base model's config.json as a dict (what the run's spec keeps to rebuild the layers)."""
    import json

    try:
        return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SegError(f"{folder}: no readable config.json; the model folder the token states were made with "
                       f"is needed to initialise --finetune-layers (restore it or re-embed)") from None


def check_base(base_model: str, base_hash: str, layer: int) -> Path:
    """The model folder the layer-K states were made with, unchanged since (its content hash):
    else the layers it would give are not those the states came from."""
    from pipeline.fingerprint import hash_folder

    folder = Path(base_model)
    if not (folder / "config.json").is_file():
        raise SegError(f"{folder}: the model folder the token states were made with is missing; --finetune-layers "
                       f"initialises layers {layer + 1}.. from it: restore it or re-embed with `seg embed --tokens --layer K`")
    now = hash_folder(folder)
    if now != base_hash:
        raise SegError(f"{folder} changed since its token states were cached (content hash {now} != {base_hash}): "
                       f"the states come from another model than the one whose layers would be trained; re-run "
                       f"`seg embed --tokens --layer {layer} --force` with this model, or restore it")
    return folder


class TopLayers(nn.Module):
    def __init__(self, *, config: dict, layer: int, n_layers: int, base_model: str, base_hash: str):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        from pipeline.encoders.base import quiet_transformers

        quiet_transformers()
        depth = int(config.get("num_hidden_layers") or 0)
        if n_layers < 1 or layer < 1 or layer + n_layers > depth:
            raise SegError(f"--finetune-layers {n_layers}: the states are those after layer {layer} of {base_model}, "
                           f"which has {depth} layers; give 1 .. {max(depth - layer, 0)} (K + N <= the depth)")
        c = AutoConfig.for_model(config["model_type"], **{k: v for k, v in config.items() if k != "model_type"})
        c.num_hidden_layers = n_layers
        self.body = AutoModel.from_config(c)
        if not hasattr(self.body, "embeddings") or not hasattr(getattr(self.body, "encoder", None), "layer"):
            raise SegError(f"{base_model}: a {config['model_type']} model has no embeddings + encoder.layer stack; "
                           f"--finetune-layers rebuilds BERT-like encoders only")
        self.body.embeddings = _Given()
        if getattr(self.body, "pooler", None) is not None:
            self.body.pooler = None
        self.layer, self.n_layers = int(layer), int(n_layers)
        self.base_model, self.base_hash = str(base_model), str(base_hash)
        self.hidden = int(c.hidden_size)

    def load_pretrained(self) -> None:
        """Layers K+1 .. K+N from the base model folder, which must be the one the states came from."""
        from transformers import AutoModel

        folder = check_base(self.base_model, self.base_hash, self.layer)
        pre = AutoModel.from_pretrained(str(folder), local_files_only=True)
        for i, mod in enumerate(self.body.encoder.layer):
            mod.load_state_dict(pre.encoder.layer[self.layer + i].state_dict())
        del pre

    def padded(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Padded states (B, T, H) and their mask (B, T) bool (every row with a token) -> (B, T, H)."""
        with torch.autocast(device_type=h.device.type, dtype=torch.bfloat16, enabled=h.device.type == "cuda"):
            return self.body(inputs_embeds=h, attention_mask=mask.long()).last_hidden_state.float()

    def forward(self, x: torch.Tensor, seg: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """Packed states x (total, H) of U sentences (seg: the sentence of each row, n: (U,)
        lengths) -> the same rows after the layers. Sentences without tokens are left out; the
        others go through in groups of group_size() of similar length (sorted by it), each padded to its
        own longest, so that little is spent on padding."""
        if not len(x):
            return x
        pos = torch.arange(len(x), device=x.device) - (torch.cumsum(n, 0) - n)[seg]
        has = torch.nonzero(n > 0).squeeze(1)
        order = has[torch.argsort(n[has], stable=True)]
        rank = torch.empty_like(n)
        rank[order] = torch.arange(len(order), device=n.device)
        size = group_size(x.device)
        group, within = rank[seg] // size, rank[seg] % size       # of each row
        pieces, rows = [], []
        for g in range(0, -(-len(order) // size)):
            sents = order[g * size:(g + 1) * size]
            r = torch.nonzero(group == g).squeeze(1)
            T = int(n[sents].max())
            h = x.new_zeros(len(sents), T, x.shape[1])
            h[within[r], pos[r]] = x[r]
            mask = torch.arange(T, device=x.device)[None, :] < n[sents][:, None]
            pieces.append(self.padded(h, mask)[within[r], pos[r]])
            rows.append(r)
        return x.new_zeros(x.shape).index_copy(0, torch.cat(rows), torch.cat(pieces).to(x.dtype))
