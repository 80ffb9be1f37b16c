"""The data side of `--model crossseg`: raw sentence texts -> one token pair per candidate gap.

Gaps and windows are those of every other model (trainer.windows.gap_windows: the L sentences
before the gap and the R from it on, never crossing a document). Each sentence is tokenized
once, without special tokens; a gap's pair is

    template.prefix + left tokens + template.mid + right tokens + template.suffix

where the template is the tokenizer's own pair encoding (`[CLS] A [SEP] B [SEP]` for BERT,
`<s> A </s></s> B </s>` for the XLM-R tokenizer of the converted e5), read off the tokenizer
once (`PairTemplate`), with its token types where the tokenizer gives them.

Truncation (`fit_pair`) keeps the sentences next to the gap whole: sentences are added
outward from the gap, alternately left and right, while they fit whole in
`max_length - special tokens`; a side stops at its first sentence that does not fit (far
sentences are dropped first). Only when the two sentences next to the gap do not fit together
are they cut, at their far ends (the left one loses its beginning, the right one its end),
each side keeping at least half of the budget when it has that many tokens.

Batches: training draws a random order (seeded), sorts pools of 50 batches by length and
shuffles the batches (length buckets: little padding); scoring sorts all gaps by length.
On CUDA the forward runs under bf16 autocast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from pipeline.errors import SegError

from .data import SplitSet, gap_counts
from .windows import gap_windows

SCORE_BATCH = 32          # gaps per forward pass when scoring
BUCKET_POOL = 50          # training: batches whose gaps are sorted by length together
DEFAULT_MAX_LENGTH = 256

_TOKENIZERS: dict[str, object] = {}


# ----------------------------------------------------------------------------- the base model

def resolve_encoder_model(spec: str | None) -> tuple[Path, str | None]:
    """(local folder, hub name or None) of --encoder-model; one-line SegError when unusable."""
    from pipeline.encoders.base import resolve_model

    if not spec:
        raise SegError("--model crossseg needs --encoder-model PATH_OR_HUB_NAME: a transformers encoder folder "
                       "(e.g. `seg convert-e5` writes cache/models/multilingual-e5-small) or a hub name in the local cache")
    try:
        folder, hub = resolve_model(spec)
    except SegError as e:
        raise SegError(str(e).replace("--model ", "--encoder-model ", 1)) from None
    if not (folder / "config.json").is_file():
        raise SegError(f"--encoder-model {spec}: {folder} holds no transformers model (no config.json)")
    return folder, hub


def load_tokenizer(folder: str | Path):
    """The base model's tokenizer (MeCab models get ipadic when their dictionary is absent), loaded once."""
    key = str(folder)
    if key not in _TOKENIZERS:
        from pipeline.encoders import base

        base.quiet_transformers()
        _TOKENIZERS[key] = base.load_tokenizer(key, f"the tokenizer of {key}")
    return _TOKENIZERS[key]


def model_limits(folder: Path) -> tuple[int, int]:
    """(hidden size, max positions) from the base model's config.json."""
    from transformers import AutoConfig

    try:
        c = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise SegError(f"--encoder-model {folder}: config.json unreadable by transformers ({type(e).__name__}); "
                       f"give a transformers model folder") from None
    return int(c.hidden_size), int(getattr(c, "max_position_embeddings", 512) or 512)


def encoder_model_info(cfg) -> dict:
    """What the run records of its base model (config.json["encoder_model"])."""
    from pipeline.fingerprint import hash_folder

    folder, hub = resolve_encoder_model(cfg.encoder_model)
    tok = load_tokenizer(folder)
    return {"source": cfg.encoder_model, "path": str(folder), "hub_name": hub, "hash": hash_folder(folder),
            "tokenizer": type(tok).__name__, "template": PairTemplate.of(tok).to_dict()}


def check_base_model(config: dict, run_dir: Path) -> None:
    """The run's base model folder is there and unchanged since training (its tokenizer and
    config shape the inputs; the weights themselves come from the run)."""
    from pipeline.fingerprint import hash_folder

    info = config.get("encoder_model") or {}
    path = Path(str(info.get("path", "")))
    if not info.get("path") or not (path / "config.json").is_file():
        raise SegError(f"{run_dir}: its crossseg base model {info.get('path')} is missing; restore that folder "
                       f"(its config and tokenizer rebuild the model) or retrain")
    now = hash_folder(path)
    if info.get("hash") and now != info["hash"]:
        raise SegError(f"{run_dir}: its base model {path} changed since training (content hash {now} != {info['hash']}); "
                       f"restore it or retrain the run")


# ----------------------------------------------------------------------------- token pairs

@dataclass
class PairTemplate:
    """The special tokens and token types of the tokenizer's pair encoding."""

    prefix: list[int]
    mid: list[int]
    suffix: list[int]
    types: tuple[int, int] | None      # token type of prefix+A+mid and of B+suffix; None = no token types

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.mid) + len(self.suffix)

    @classmethod
    def of(cls, tok) -> "PairTemplate":
        a = tok("あ", add_special_tokens=False)["input_ids"]
        b = tok("い", add_special_tokens=False)["input_ids"]
        enc = tok("あ", "い")
        ids, tt = list(enc["input_ids"]), enc.get("token_type_ids")
        n = len(ids) - len(a) - len(b)
        for p in range(n + 1):
            for m in range(n - p + 1):
                q = p + len(a) + m
                if ids[p:p + len(a)] == a and ids[q:q + len(b)] == b:
                    types = (int(tt[p]), int(tt[q])) if tt is not None and len(tt) == len(ids) else None
                    return cls(ids[:p], ids[p + len(a):q], ids[q + len(b):], types)
        raise SegError(f"the tokenizer {type(tok).__name__} does not encode a pair of texts as "
                       f"special tokens around each text; crossseg needs a pair-capable tokenizer")

    def to_dict(self) -> dict:
        return {"prefix": self.prefix, "mid": self.mid, "suffix": self.suffix, "types": self.types}

    def build(self, left: list[int], right: list[int]) -> tuple[list[int], list[int] | None]:
        ids = self.prefix + left + self.mid + right + self.suffix
        if self.types is None:
            return ids, None
        na = len(self.prefix) + len(left) + len(self.mid)
        return ids, [self.types[0]] * na + [self.types[1]] * (len(ids) - na)


def fit_pair(left: list[list[int]], right: list[list[int]], budget: int) -> tuple[list[int], list[int]]:
    """Token ids of the two sides within `budget` tokens (see the module docstring).

    left: the sentences before the gap in text order (the last is next to the gap);
    right: the sentences from the gap on in text order (the first is next to the gap).
    """
    near = list(reversed(left))
    if not near or not right:
        raise ValueError("a gap has a sentence on each side")
    a, b = len(near[0]), len(right[0])
    if a + b > budget:
        half = budget // 2
        keep_a = min(a, max(half, budget - b))
        keep_b = min(b, budget - keep_a)
        return (near[0][a - keep_a:] if keep_a else []), right[0][:keep_b]
    kept = [[near[0]], [right[0]]]
    used, open_ = a + b, [True, True]
    for k in range(1, max(len(near), len(right))):
        for side, sents in enumerate((near, right)):
            if open_[side] and k < len(sents):
                if used + len(sents[k]) <= budget:
                    kept[side].append(sents[k])
                    used += len(sents[k])
                else:
                    open_[side] = False
    return [t for s in reversed(kept[0]) for t in s], [t for s in kept[1] for t in s]


@dataclass
class CrossSet(SplitSet):
    """One split's candidate gaps as token pairs (the crossseg counterpart of train.GapSet)."""

    split: object                     # data.SplitData (or any object with labels and spans)
    sentence: np.ndarray              # (G,) sentence after each gap, gap order
    ids: list[np.ndarray]             # per gap: token ids of the pair
    types: list[np.ndarray] | None    # per gap: token types (None: the tokenizer gives none)
    targets: torch.Tensor             # (G,) float on the device
    doc_gap_counts: list[int]
    pad_id: int
    device: torch.device


    # the set interface of every family (data.SplitSet); the optimizer of `epoch` is a CrossTrainer
    @classmethod
    def build(cls, split, spec: dict, device: torch.device, rows: np.ndarray | None = None) -> "CrossSet":
        return make_crossset(split, spec, device, rows)

    def logits(self, model) -> torch.Tensor:
        return cross_logits(model, self)

    def probs(self, model, logits: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(logits).double().cpu().numpy()

    def steps(self, batch: int) -> int:
        return max(math.ceil(len(self) / batch), 1)

    def epoch(self, model, opt: "CrossTrainer", loss_fn, gen: torch.Generator, batch: int, shuffle_block: int) -> float:
        return opt.epoch(model, self, loss_fn, gen)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))

    def subset(self, rows: np.ndarray) -> "CrossSet":
        """The gaps `rows` only (a --max-train-gaps sample; train sets only)."""
        rows = np.asarray(rows)
        return CrossSet(self.split, self.sentence[rows], [self.ids[r] for r in rows],
                        None if self.types is None else [self.types[r] for r in rows],
                        self.targets[torch.as_tensor(rows, device=self.targets.device)], self.doc_gap_counts,
                        self.pad_id, self.device)

    def batch(self, rows) -> dict[str, torch.Tensor]:
        """Padded input tensors of the gaps `rows` on the device."""
        rows = [int(r) for r in rows]
        T = max(len(self.ids[r]) for r in rows)
        ids = np.full((len(rows), T), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), T), dtype=np.int64)
        types = np.zeros((len(rows), T), dtype=np.int64) if self.types is not None else None
        for j, r in enumerate(rows):
            n = len(self.ids[r])
            ids[j, :n], mask[j, :n] = self.ids[r], 1
            if types is not None:
                types[j, :n] = self.types[r]
        out = {"input_ids": torch.from_numpy(ids).to(self.device), "attention_mask": torch.from_numpy(mask).to(self.device)}
        if types is not None:
            out["token_type_ids"] = torch.from_numpy(types).to(self.device)
        return out


def make_crossset(split, spec: dict, device: torch.device, rows: np.ndarray | None = None) -> CrossSet:
    """Token pairs of the candidate gaps of `split` (texts, labels, spans) for the run's spec;
    with `rows`, of those gaps only (in gap order)."""
    tok = load_tokenizer(spec["encoder_model"])
    template = PairTemplate.of(tok)
    budget = int(spec["max_length"]) - template.n_special
    gaps = gap_windows(split.spans, int(spec["left"]), int(spec["right"]))
    index, sentence = gaps.index, gaps.sentence
    if rows is not None:
        index, sentence = index[rows], sentence[rows]
    needed = np.unique(index[index >= 0])
    texts = [split.texts[i] for i in needed]
    toks = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
    by_sentence = dict(zip(needed.tolist(), toks))
    left = int(spec["left"])
    ids, types = [], []
    for row in index:
        l_side = [by_sentence[i] for i in row[:left] if i >= 0]
        r_side = [by_sentence[i] for i in row[left:] if i >= 0]
        a, b = fit_pair(l_side, r_side, budget)
        x, t = template.build(a, b)
        ids.append(np.asarray(x, dtype=np.int64))
        types.append(None if t is None else np.asarray(t, dtype=np.int64))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    labels = np.asarray(split.labels)
    return CrossSet(split=split, sentence=sentence, ids=ids, types=None if template.types is None else types,
                    targets=torch.from_numpy(labels[sentence].astype(np.float32)).to(device),
                    doc_gap_counts=gap_counts(split.spans), pad_id=int(pad), device=device)


# ----------------------------------------------------------------------------- training and scoring

def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op on the CPU (fp32, deterministic)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def length_batches(lengths: np.ndarray, batch: int, gen: torch.Generator) -> list[np.ndarray]:
    """Random batches of similar lengths: a seeded permutation, pools of BUCKET_POOL batches
    sorted by length, cut into batches, the batches shuffled."""
    perm = torch.randperm(len(lengths), generator=gen).numpy()
    out = []
    pool = batch * BUCKET_POOL
    for p in range(0, len(perm), pool):
        chunk = perm[p:p + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[b:b + batch] for b in range(0, len(chunk), batch)]
    order = torch.randperm(len(out), generator=gen).numpy()
    return [out[k] for k in order]


class CrossTrainer:
    """Optimizer and schedule of one crossseg repeat: AdamW with the encoder at --encoder-lr
    (linear warm-up over --warmup of all steps, then linear decay to 0) and the head at --lr
    (constant: it starts from random weights); an optimizer step every --accumulate batches;
    gradients clipped to norm 1."""

    def __init__(self, model, cfg, n_gaps: int, batch: int):
        self.batch, self.accumulate = batch, cfg.accumulate
        steps_per_epoch = math.ceil(math.ceil(n_gaps / batch) / cfg.accumulate)
        total = max(steps_per_epoch * cfg.epochs, 1)
        warm = int(round(cfg.warmup * total))
        self.opt = torch.optim.AdamW([{"params": model.encoder_parameters(), "lr": cfg.encoder_lr},
                                      {"params": model.head_parameters(), "lr": cfg.lr}],
                                     weight_decay=cfg.weight_decay, fused=True)

        def encoder_rate(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            return max(0.0, (total - step) / max(total - warm, 1))

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.opt, [encoder_rate, lambda step: 1.0])

    def epoch(self, model, cs: CrossSet, loss_fn, gen: torch.Generator) -> float:
        """One pass over the train gaps; returns the mean train loss."""
        model.train()
        batches = length_batches(cs.lengths, self.batch, gen)
        total = torch.zeros((), device=cs.device)
        self.opt.zero_grad(set_to_none=True)
        for j, rows in enumerate(batches):
            with autocast(cs.device):
                z = model(**cs.batch(rows))
            loss = loss_fn(z.float(), cs.targets[torch.as_tensor(rows, device=cs.device)])
            (loss / self.accumulate).backward()
            if (j + 1) % self.accumulate == 0 or j == len(batches) - 1:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                self.opt.step()
                self.schedule.step()
                self.opt.zero_grad(set_to_none=True)
            total += loss.detach() * len(rows)
        return float(total) / max(len(cs), 1)


@torch.no_grad()
def cross_logits(model, cs: CrossSet, batch: int = SCORE_BATCH) -> torch.Tensor:
    """Logits (G,) in gap order, the model in eval mode; gaps scored in batches sorted by length
    (the same gaps give the same batches, so scoring a split again gives the same numbers)."""
    model.eval()
    out = torch.zeros(len(cs), device=cs.device)
    order = np.argsort(cs.lengths, kind="stable")
    for b in range(0, len(order), batch):
        rows = order[b:b + batch]
        with autocast(cs.device):
            z = model(**cs.batch(rows))
        out[torch.as_tensor(rows, device=cs.device)] = z.float()
    return out


def predict_cross(model, texts: list[str], spans: list[tuple[int, int]], spec: dict) -> np.ndarray:
    """P(break) per candidate gap (predict.gap_sentences order) of raw sentences (seg segment)."""
    device = next(model.parameters()).device
    split = SimpleNamespace(texts=texts, spans=spans, labels=np.zeros(len(texts), dtype=np.int64))
    cs = make_crossset(split, spec, device)
    return torch.sigmoid(cross_logits(model, cs)).double().cpu().numpy()


def sample_work_rows(doc_gap_counts: list[int], max_works: int, seed: int) -> np.ndarray | None:
    """--max-train-works: the gap rows of the first max_works works of a shuffle of the train
    works drawn with the run's --seed, in gap order; None = all. Samples of one seed are nested
    (N works hold every work of a smaller N), which is what a learning curve needs."""
    if not max_works or max_works >= len(doc_gap_counts):
        return None
    chosen = np.sort(np.random.default_rng(seed).permutation(len(doc_gap_counts))[:max_works])
    starts = np.concatenate([[0], np.cumsum(doc_gap_counts)])
    return np.concatenate([np.arange(starts[d], starts[d + 1]) for d in chosen]).astype(np.int64)


def sample_rows(n_gaps: int, max_gaps: int, seed: int) -> np.ndarray | None:
    """--max-train-gaps: the rows of a uniform sample of max_gaps of n_gaps train gaps, drawn
    with the run's --seed (the same for every repeat and every model), in gap order; None = all."""
    if not max_gaps or max_gaps >= n_gaps:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_gaps, size=max_gaps, replace=False))
