"""Token states of a transformers encoder: the last layer's state of each of a sentence's tokens.

    token_states(tokenizer, model, texts, prefix, max_length, device)
        -> [(states (n, dim) float16, spans (n, 2) int32)] per text

The forward pass sees exactly what the sentence encoder sees (the prompt such as e5's
"passage: " and the special tokens included); what is kept is the sentence's own tokens, each
with the characters of the sentence it covers. A fast tokenizer gives the spans through its
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
                 prec: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch

    fast = bool(getattr(tok, "is_fast", False))
    enc = tok([prefix + t for t in texts], padding=True, truncation=True, max_length=max_length, return_tensors="pt",
              return_offsets_mapping=fast, return_special_tokens_mask=True)
    offsets = enc.pop("offset_mapping", None)
    special = enc.pop("special_tokens_mask").bool()
    real = enc["attention_mask"].bool() & ~special
    batch = {k: v.to(device) for k, v in enc.items()}
    with torch.inference_mode(), autocast(device, prec):
        h = model(**batch).last_hidden_state
    h = h.to(torch.float16).cpu().numpy()
    out = []
    n_prefix = len(prefix)
    for b, text in enumerate(texts):
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
        return {**self.inner.identity(), "output": "token states", "token_dtype": "float16", "token_version": "1"}
