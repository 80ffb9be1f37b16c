"""Attention of `transformer` and `attmem` runs on a few chosen gaps, as heatmaps.

The gaps are picked from the run's predictions with its best repeat (by dev F1) at that
repeat's threshold: the most confident break found, the most confidently missed break, and
the most confident false alarm. Their windows are rebuilt from the dataset's cached vectors
(`seg embed`) and run through the repeat's weights with return_attention=True.

Heatmap rows are heads; columns are the model's own position labels
(trainer.models.common.window_labels: i-2, i-1 | i, i+1, the gap lying before sentence i) and, for attmem, memory slots m0.. . For the transformer the row of
its read-out token is shown ([CLS], [SEP], or the mean over sentence rows for mean pooling).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import SegError

from ..models.common import window_labels
from .collect import Run
from .content import Block, Image, Text, TokenHeatBlock, WindowBlock
from .plots import plot_attention, plot_token_attention

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


def attention_blocks(run: Run, split: str, path: Path) -> list[Block]:
    """One heatmap image (a panel per chosen gap) and the sentences of each window."""
    preds = run.predictions(split)
    if preds is None:
        return []
    k = run.best_repeat
    rep = run.repeats[k]
    if not (run.path / f"repeat-{rep.get('repeat', k)}.pt").is_file():   # before importing torch
        raise SegError(f"no repeat-{rep.get('repeat', k)}.pt in the run directory")
    if run.dataset is None:
        raise SegError("the run names no dataset")
    picks = pick_gaps(preds.labels, preds.probs[:, k], float(rep.get("threshold", 0.5)))
    if not picks:
        return []
    from pipeline.dataset import load_split
    from pipeline.vectors import load_split_vectors
    from trainer.predict import predict_probs
    from trainer.run import load_run

    trained = load_run(run.path)
    model = trained.build_model(k)
    left, right = trained.window or (2, 2)     # seq runs have no window: show 2 sentences each side
    s = load_split(run.dataset, split)
    if trained.spec.get("sentence_pooling"):
        return word_attention_blocks(run, trained, model, s, preds, picks, k, path)
    vectors = trained.inputs(load_split_vectors(run.dataset, str(run.train.get("encoder", run.encoder)), split), s.texts,
                             s.doc_ranges())
    ranges = {d: (a, b) for d, a, b in s.doc_ranges()}

    att_rows, probs, idx = [], [], np.full((len(picks), left + right), -1, dtype=np.int64)
    per_doc: dict[str, tuple] = {}
    for n, (_, row) in enumerate(picks):
        doc = preds.docs[row]
        a, b = ranges[doc]
        i = int(preds.index[row])
        if doc not in per_doc:
            per_doc[doc] = predict_probs(model, vectors, [(a, b)], (left, right), return_attention=True)
        p, att = per_doc[doc]
        if att is None:
            return []
        att_rows.append(att[i - 1])          # gaps of a document are i = 1 .. n-1, in order
        probs.append(float(p[i - 1]))
        pos = np.arange(a + i - left, a + i + right)
        idx[n] = np.where((pos >= a) & (pos < b), pos, -1)
    att = np.stack(att_rows)
    wl = window_labels(left, right)
    spec = trained.spec
    if att.ndim == 4:                                  # transformer: (B, heads, T, T) -> read-out row
        labels = model.attention_labels()
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
        labels = model.attention_labels()
        readout = "query at the gap"
    names = dict(KINDS)
    examples, windows = [], []
    for n, (kind, row) in enumerate(picks):
        doc, i = preds.docs[row], int(preds.index[row])
        examples.append({"attention": att[n], "title": f"{names[kind]}: {doc} #{i}\np={probs[n]:.2f}, "
                                                       f"true {'break' if preds.labels[row] else 'no break'}"})
        windows.append(WindowBlock(f"{names[kind]} ({doc}, sentence {i}, p={probs[n]:.2f}): the window's sentences",
                                   [(wl[j], s.texts[idx[n, j]], s.labels[idx[n, j]]) for j in range(left + right)
                                    if idx[n, j] >= 0]))
    img = plot_attention(examples, labels, f"{run.name}: attention per head ({readout}), repeat {rep.get('repeat', k)}", path)
    return [Image(img, f"Attention per head over the window (i = the sentence after the gap, i-1, i-2 ... before it, "
                       f"i+1 ... after it"
                       f"{', m = memory slots' if att.ndim == 3 and len(labels) > len(wl) else ''}) for three gaps of "
                       f"the {split} split: the most confident break found, the most confident missed break and "
                       f"false alarm. Rows: heads; read-out: {readout}.")] + windows


def word_attention_blocks(run: Run, trained, model, s, preds, picks, k: int, path: Path) -> list[Block]:
    """--sentence-pooling attention runs: the weight of every token of the window's sentences
    (mean over the word-attention heads) for the chosen gaps, as shaded text and a PNG."""
    left, right = trained.window or (2, 2)
    weights_of = stored_attention(run, s.name, run.repeats[k].get("repeat", k), len(s))
    if weights_of is None:      # not stored with the run (another split): computed from the token states
        from pipeline.vectors import load_split_tokens

        bank = trained.inputs(load_split_tokens(run.dataset, str(run.train.get("encoder", run.encoder)), s.name),
                              s.texts, s.doc_ranges())

        def weights_of(positions):
            return [(w, bank.states.spans(p)[:len(w)]) for p, w in zip(positions, model.token_weights(bank, positions))]
    ranges = {d: (a, b) for d, a, b in s.doc_ranges()}
    wl = window_labels(left, right)
    names = dict(KINDS)
    blocks: list[Block] = []
    examples = []
    for kind, row in picks:
        doc, i = preds.docs[row], int(preds.index[row])
        a, b = ranges[doc]
        pos = [(wl[j], a + i - left + j) for j in range(left + right) if a <= a + i - left + j < b]
        rows = []
        for (label, p), (w, spans) in zip(pos, weights_of([p for _, p in pos])):
            rel = w.mean(1) * len(w)     # relative to a uniform weight over the sentence's tokens (1 = uniform)
            rows.append((label, int(s.labels[p]), [(s.texts[p][x:y], float(v)) for (x, y), v in zip(spans, rel)]))
        title = (f"{names[kind]} ({doc}, sentence {i}, p={preds.probs[row, k]:.2f}, "
                 f"true {'break' if preds.labels[row] else 'no break'})")
        blocks.append(TokenHeatBlock(title, rows))
        examples.append({"title": title, "rows": rows, "gap_row": left})
    img = plot_token_attention(examples, f"{run.name}: word attention (mean over heads) x tokens in the sentence, repeat "
                                         f"{run.repeats[k].get('repeat', k)}", path)
    head = [Text(f"Word attention of the {s.name} split's most confident break found, most confidently missed "
                 f"break and most confident false alarm: every token of the window's sentences (i = the sentence "
                 f"after the gap) shaded by the weight the sentence's attention pooling gives it (averaged over heads, times the "
                 f"sentence's token count: 1 = a uniform weight, as mean pooling gives every token).")]
    if img is not None:
        head.append(Image(img, "Word attention over the window's sentences (the line marks the gap)."))
    return head + blocks


def stored_attention(run: Run, split: str, repeat: int, n: int):
    """The word-attention weights the run stored for `split` (attention-<split>.npz, written by
    seg train for the best repeat) as a function positions -> [(weights, spans)], or None when
    the run holds none for this split and repeat (or they do not fit the split's n sentences)."""
    f = run.path / f"attention-{split}.npz"
    if not f.is_file():
        return None
    try:
        with np.load(f, allow_pickle=False) as z:
            offsets, weights, spans, rep = z["offsets"], z["weights"], z["spans"], int(z["repeat"])
    except (OSError, ValueError, KeyError):
        run.note(f"{f.name} is unreadable; the attention is computed from the token states instead")
        return None
    if rep != repeat or len(offsets) != n + 1:
        return None
    return lambda positions: [(weights[offsets[p]:offsets[p + 1]].astype(np.float32), spans[offsets[p]:offsets[p + 1]])
                              for p in positions]

