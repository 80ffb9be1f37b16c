"""Gap probabilities of trained models on any sentence vectors (used by `seg segment` and the
report's attention heatmaps).

    predict_probs(models, vectors, ranges, window, return_attention=False)

`ranges` lists the documents as (start, end) or (doc, start, end) rows over `vectors`; the
gaps come in document order, gaps i = 1 .. n-1 within each document, exactly as
`gap_sentences(ranges)` (= trainer.windows.gap_windows(...).sentence) enumerates them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .tokendata import TokenBank, model_inputs
from .windows import gap_windows, parse_window

BATCH = 4096     # candidate gaps per forward pass when scoring (training's dev/test scoring too)


def _seq_predict(model, vectors, ranges, device) -> np.ndarray:
    from types import SimpleNamespace

    from .seqdata import make_chunkset, seq_probs

    spans = _spans(ranges)
    n = len(vectors)
    split = SimpleNamespace(spans=spans, labels=np.zeros(n, dtype=np.int64),
                            vectors=vectors if isinstance(vectors, TokenBank) else np.asarray(vectors, dtype=np.float32))
    return seq_probs(model, make_chunkset(split, model.chunk, device))


def gap_sentences(ranges) -> np.ndarray:
    """Index (into `vectors`) of the sentence after each candidate gap, in predict order."""
    return gap_windows(_spans(ranges), 1, 1).sentence


def _spans(ranges) -> list[tuple[int, int]]:
    return [(int(r[-2]), int(r[-1])) for r in ranges]


@torch.no_grad()
def indexed_logits(model: torch.nn.Module, vectors: torch.Tensor, index: torch.Tensor, *, batch_size: int = BATCH,
                   return_attention: bool = False):
    """The one gap scorer: logits (G,) of `model` (set to eval mode here) on window `index` (G, L+R)
    over padded `vectors` (N+1, D), in batches of `batch_size` gaps. With return_attention=True
    returns (logits, attention (G, ...) as a numpy array, or None for models without attention).
    Used by training (dev/test scoring each epoch) and by predict_probs (segment, report)."""
    model.eval()
    chunks, atts = [], []
    for b in range(0, len(index), batch_size):
        out = model.forward_indexed(vectors, index[b:b + batch_size], return_attention=return_attention)
        if return_attention:
            out, att = out
            atts.append(None if att is None else att.float().cpu().numpy())
        chunks.append(out)
    logits = torch.cat(chunks) if chunks else torch.zeros(0, device=vectors.device)
    if return_attention:
        return logits, (None if not atts or atts[0] is None else np.concatenate(atts))
    return logits


@torch.no_grad()
def predict_probs(models, vectors: np.ndarray, ranges, window, *, batch_size: int = BATCH,
                  return_attention: bool = False):
    """P(paragraph starts after the gap) for every candidate gap.

    models     one model (eval mode is set here) or a list of them (e.g. Run.build_models())
    vectors    (n_sentences, dim) float array of the sentences, documents contiguous (a TokenBank
               for a --sentence-pooling attention run: Run.inputs makes one)
    ranges     (start, end) or (doc, start, end) per document
    window     "L:R" or (L, R), the run's window (Run.window)

    Each model runs on the device its parameters are on (Run.build_models(device=...)).

    Returns probs (n_gaps,) for one model, (n_models, n_gaps) for a list. With
    return_attention=True returns (probs, attention): attention is one array per model
    (n_gaps, ...) of the model's attention weights (see trainer.models), or None for models
    without attention; for a single model the array itself.
    """
    single = not isinstance(models, (list, tuple))
    model_list: Sequence[torch.nn.Module] = [models] if single else list(models)
    if all(getattr(m, "chunk", None) for m in model_list):   # seq models: no window
        left = right = 1
    else:
        left, right = parse_window(window) if isinstance(window, str) else (int(window[0]), int(window[1]))
    gaps = gap_windows(_spans(ranges), left, right)
    probs = np.zeros((len(model_list), len(gaps)), dtype=np.float64)
    attention: list[np.ndarray | None] = []
    for k, model in enumerate(model_list):
        dev = next(model.parameters()).device
        if getattr(model, "chunk", None):          # --model seq reads whole documents, not windows
            probs[k] = _seq_predict(model, vectors, ranges, dev)
            if return_attention:
                attention.append(None)
            continue
        v = model_inputs(vectors, None, dev)    # vectors, or a TokenBank (Run.inputs) for word attention
        index = torch.from_numpy(gaps.index).to(dev)
        out = indexed_logits(model, v, index, batch_size=batch_size, return_attention=return_attention)
        if return_attention:
            out, att = out
            attention.append(att)
        probs[k] = torch.sigmoid(out).double().cpu().numpy()
    out_probs = probs[0] if single else probs
    if return_attention:
        return out_probs, (attention[0] if single else attention)
    return out_probs
