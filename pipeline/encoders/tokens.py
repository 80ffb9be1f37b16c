"""Token states of a transformers encoder: the last layer's state of each of a sentence's tokens.

    token_states(tokenizer, model, texts, prefix, max_length, device, prec, layer=None)
        -> [(states (n, dim) float16, spans (n, 2) int32)] per text

The forward pass sees exactly what the sentence encoder sees (the prompt such as e5's
"passage: " and the special tokens included); what is kept is the sentence's own tokens, each
with the characters of the sentence it covers.

With `layer` K (`seg embed --tokens --layer K`) the states are the hidden states after layer K
(hidden_states[K]: 1 = after the first layer, the model's depth = the last layer) of *every*
token the model saw, in order: the special tokens ([CLS]/<s> first, [SEP]/</s> last), the
prompt's tokens (e5's "passage: ") and the sentence's own, so that layers K+1.. of the model
can be run over them later exactly as the model runs them (`seg train --finetune-layers`).
A token that is not the sentence's (special, prompt) gets the empty span (0, 0). A fast tokenizer gives the spans through its
offset mapping; a slow one (BertJapaneseTokenizer) gets them by finding each piece (less its
"##"/"▁" marker) in the sentence from where the previous one ended.

`TokenView(encoder)` makes a bert or sbert encoder look like a sentence encoder to
embed.fill_cache whose "vectors" are these (states, spans) pairs.
"""

from __future__ import annotations

import numpy as np

from .base import autocast

MARKERS = ("##", "▁")


def align_pieces(pieces: list[str], text: str) -> np.ndarray:
    """(n, 2) spans of word pieces in `text`, found left to right; an unfound piece ([UNK], a bare
    marker) gets the empty span at the current position."""
    spans = np.zeros((len(pieces), 2), dtype=np.int32)
    pos = 0
    for k, p in enumerate(pieces):
        for m in MARKERS:
            if p.startswith(m):
                p = p[len(m):]
        j = text.find(p, pos) if p else -1
        if j < 0 or (j > pos and text[pos:j].strip()):   # never skip over real characters
            spans[k] = (pos, pos)
            continue
        spans[k] = (j, j + len(p))
        pos = j + len(p)
    return spans


def token_states(tok, model, texts: list[str], prefix: str, max_length: int, device: str,
                 prec: str | None = None, layer: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch

    fast = bool(getattr(tok, "is_fast", False))
    enc = tok([prefix + t for t in texts], padding=True, truncation=True, max_length=max_length, return_tensors="pt",
              return_offsets_mapping=fast, return_special_tokens_mask=True)
    offsets = enc.pop("offset_mapping", None)
    special = enc.pop("special_tokens_mask").bool()
    real = enc["attention_mask"].bool() & ~special
    batch = {k: v.to(device) for k, v in enc.items()}
    with torch.inference_mode(), autocast(device, prec):
        if layer:
            h = model(**batch, output_hidden_states=True).hidden_states[layer]
        else:
            h = model(**batch).last_hidden_state
    h = h.to(torch.float16).cpu().numpy()
    out = []
    n_prefix = len(prefix)
    for b, text in enumerate(texts):
        if layer:
            out.append(_all_rows(tok, enc, offsets, real, h, b, text, prefix))
            continue
        rows = np.flatnonzero(real[b].numpy())
        if offsets is not None:
            off = offsets[b].numpy()[rows].astype(np.int64)
            keep = off[:, 1] > n_prefix                    # the prompt's own tokens are not the sentence's
            rows, off = rows[keep], off[keep]
            spans = np.clip(off - n_prefix, 0, len(text))
        else:
            pieces = tok.convert_ids_to_tokens(enc["input_ids"][b][rows].tolist())
            if prefix:
                skip = len(tok.tokenize(prefix))
                rows, pieces = rows[skip:], pieces[skip:]
            spans = align_pieces(pieces, text)
        if not len(rows):   # nothing of the sentence survived (cannot happen with text): keep one row
            rows, spans = np.flatnonzero(enc["attention_mask"][b].numpy())[:1], np.zeros((1, 2), dtype=np.int64)
        out.append((h[b, rows], spans.astype(np.int32)))
    return out


def _all_rows(tok, enc, offsets, real, h, b: int, text: str, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Every token of text b as the model saw it (special and prompt tokens included), the
    sentence's own tokens with their spans, the others with the empty span (0, 0)."""
    seen = np.flatnonzero(enc["attention_mask"][b].numpy())
    spans = np.zeros((len(seen), 2), dtype=np.int64)
    own = real[b].numpy()[seen]
    if offsets is not None:
        off = offsets[b].numpy()[seen].astype(np.int64)
        own &= off[:, 1] > len(prefix)
        spans[own] = np.clip(off[own] - len(prefix), 0, len(text))
    else:
        mine = np.flatnonzero(own)
        if prefix:
            mine = mine[len(tok.tokenize(prefix)):]
        own[:] = False
        own[mine] = True
        pieces = tok.convert_ids_to_tokens(enc["input_ids"][b][seen[mine]].tolist())
        spans[mine] = align_pieces(pieces, text)
    return h[b, seen], spans.astype(np.int32)


class TokenView:
    """An encoder whose `encode` gives token states (see token_states) instead of vectors."""

    def __init__(self, encoder):
        self.inner = encoder

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts: list[str]):
        return self.inner.encode_tokens(texts)

    def encode_batches(self, batches):
        for batch in batches:
            yield batch, self.encode(batch)

    def identity(self) -> dict:
        layer = getattr(self.inner.cfg, "layer", None)
        # without --layer: the fingerprint of every token cache made before --layer existed
        at = {"layer": int(layer), "token_rows": "all tokens the model saw"} if layer else {}
        return {**self.inner.identity(), "output": "token states", "token_dtype": "float16", "token_version": "1", **at}


def layer_info(encoder, layer: int) -> dict:
    """What `seg embed --tokens --layer K` records of the model whose layer-K states it stores
    (the manifest's "transformer"), and the check that K is one of its layers: the
    transformers folder (its path and content hash), its depth, width and prompt. `seg train
    --finetune-layers N` rebuilds layers K+1 .. K+N from that folder."""
    import json
    from pathlib import Path

    from ..errors import SegError
    from ..fingerprint import hash_folder

    folder = Path(encoder.transformer_folder()).resolve()
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SegError(f"--layer {layer}: {folder} holds no readable transformers config.json; "
                       f"give a transformers model folder with --model") from None
    depth = int(config.get("num_hidden_layers") or 0)
    if not 1 <= layer <= depth:
        raise SegError(f"--layer {layer}: {folder} has {depth} layers; give 1 .. {depth} (the hidden states after that "
                       f"layer; leave --layer out for the last layer's states of the sentence's own tokens)")
    return {"path": str(folder), "hash": hash_folder(folder, encoder.memo), "model_type": config.get("model_type"),
            "depth": depth, "hidden": int(config.get("hidden_size") or 0), "layer": int(layer),
            "prompt": encoder.token_prompt()}
