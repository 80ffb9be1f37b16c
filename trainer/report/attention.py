"""Attention of `transformer` and `attmem` runs on a few chosen gaps, as heatmaps.

The gaps are picked from the run's predictions with its best repeat (by dev F1) at that
repeat's threshold: the most confident break found, the most confidently missed break, and
the most confident false alarm. Their windows are rebuilt from the dataset's cached vectors
(`seg embed`) and run through the repeat's weights with return_attention=True.

Heatmap rows are heads; columns are window positions L-2, L-1 | R0, R1 (the gap lies
between L-1 and R0) and, for attmem, memory slots m0.. . For the transformer the row of
its read-out token is shown ([CLS], [SEP], or the mean over sentence rows for mean pooling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from pipeline.errors import SegError

from .collect import RunInfo
from .content import Block, Image, WindowBlock
from .plots import plot_attention

KINDS = (("found", "break found"), ("missed", "missed break"), ("false", "false alarm"))


def pick_gaps(labels: np.ndarray, probs: np.ndarray, threshold: float) -> list[tuple[str, int]]:
    """(kind, row) of the most confident found break, missed break and false alarm (those that exist)."""
    pred = probs >= threshold
    out = []
    cand = {"found": np.flatnonzero(pred & (labels == 1)), "missed": np.flatnonzero(~pred & (labels == 1)),
            "false": np.flatnonzero(pred & (labels == 0))}
    for kind, _ in KINDS:
        rows = cand[kind]
        if len(rows):
            out.append((kind, int(rows[np.argmin(probs[rows])] if kind == "missed" else rows[np.argmax(probs[rows])])))
    return out


def window_labels(left: int, right: int) -> list[str]:
    return [f"L-{left - k}" for k in range(left)] + [f"R{k}" for k in range(right)]


def load_model(run: RunInfo, repeat: int):
    import torch

    from trainer.models import from_spec

    spec = run.config.get("model")
    if not isinstance(spec, dict) or "kind" not in spec:
        raise SegError("config.json has no model spec (older run)")
    f = run.path / f"repeat-{repeat}.pt"
    if not f.is_file():
        raise SegError(f"no {f.name} in the run directory")
    model = from_spec(spec)
    try:
        state = torch.load(f, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # a damaged or foreign file: report it, keep the rest of the report
        raise SegError(f"{f.name} does not load into the run's model ({type(e).__name__})") from None
    return model.eval(), spec


def attention_blocks(run: RunInfo, split: str, path: Path) -> list[Block]:
    """One heatmap image (a panel per chosen gap) and the sentences of each window."""
    import torch

    from pipeline.dataset import load_split
    from pipeline.vectors import load_split_vectors

    preds = run.predictions(split)
    if preds is None:
        return []
    k = run.best_repeat("dev")
    rep = run.repeats[k]
    if not (run.path / f"repeat-{rep.get('repeat', k)}.pt").is_file():   # before importing torch
        raise SegError(f"no repeat-{rep.get('repeat', k)}.pt in the run directory")
    model, spec = load_model(run, int(rep.get("repeat", k)))
    left, right = int(spec["left"]), int(spec["right"])
    if run.dataset is None:
        raise SegError("the run names no dataset")
    picks = pick_gaps(preds.labels, preds.probs[:, k], float(rep.get("threshold", 0.5)))
    if not picks:
        return []
    s = load_split(run.dataset, split)
    vectors = np.asarray(load_split_vectors(run.dataset, str(run.train.get("encoder", run.encoder)), split), dtype=np.float32)
    if vectors.shape[1] != int(spec.get("dim", vectors.shape[1])):
        raise SegError(f"cached vectors have dim {vectors.shape[1]}, the model expects {spec.get('dim')}")
    start = {d: (a, b) for d, a, b in s.doc_ranges()}

    idx = np.full((len(picks), left + right), -1, dtype=np.int64)
    for n, (_, row) in enumerate(picks):
        a, b = start[preds.docs[row]]
        sent = a + int(preds.index[row])
        pos = np.arange(sent - left, sent + right)
        idx[n] = np.where((pos >= a) & (pos < b), pos, -1)
    x = torch.from_numpy(np.concatenate([vectors, np.zeros((1, vectors.shape[1]), np.float32)])[idx])
    mask = torch.from_numpy(idx >= 0)
    with torch.no_grad():
        logits, att = model(x, mask, return_attention=True)
    if att is None:
        return []
    att = att.float().numpy()
    wl = window_labels(left, right)
    if att.ndim == 4:                                  # transformer: (B, heads, T, T) -> read-out row
        labels = ["[CLS]", *wl[:left], "[SEP]", *wl[left:]]
        pooling = spec.get("pooling") or "cls"
        if pooling == "sep":
            att = att[:, :, left + 1, :]
        elif pooling == "mean":
            rows = [q for q in range(1, left + right + 2) if q != left + 1]
            valid = np.concatenate([np.ones((len(picks), 1), bool), idx[:, :left] >= 0, np.ones((len(picks), 1), bool),
                                    idx[:, left:] >= 0], axis=1)[:, rows]
            att = (att[:, :, rows, :] * valid[:, None, :, None]).sum(2) / np.maximum(valid.sum(1), 1)[:, None, None]
        else:
            att = att[:, :, 0, :]
        readout = {"sep": "[SEP]", "mean": "mean of sentence rows"}.get(pooling, "[CLS]")
    else:                                              # attmem: (B, heads, L+R+M)
        labels = wl + [f"m{j}" for j in range(att.shape[-1] - left - right)]
        readout = "query at the gap"
    names = dict(KINDS)
    prob_now = torch.sigmoid(logits).numpy()
    examples, windows = [], []
    for n, (kind, row) in enumerate(picks):
        doc, i = preds.docs[row], int(preds.index[row])
        examples.append({"attention": att[n], "title": f"{names[kind]}: {doc} #{i}\np={prob_now[n]:.2f}, "
                                                       f"true {'break' if preds.labels[row] else 'no break'}"})
        a, _ = start[doc]
        windows.append(WindowBlock(f"{names[kind]} ({doc}, sentence {i}, p={prob_now[n]:.2f}): the window's sentences",
                                   [(wl[j], s.texts[idx[n, j]], s.labels[idx[n, j]]) for j in range(left + right)
                                    if idx[n, j] >= 0]))
    img = plot_attention(examples, labels, f"{run.name}: attention per head ({readout}), repeat {rep.get('repeat', k)}", path)
    return [Image(img, f"Attention per head over the window (L = sentences before the gap, R = from the gap on"
                       f"{', m = memory slots' if att.ndim == 3 and len(labels) > len(wl) else ''}) for three gaps of "
                       f"the {split} split: the most confident break found, the most confident missed break and "
                       f"false alarm. Rows: heads; read-out: {readout}.")] + windows
