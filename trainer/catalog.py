"""What seg knows about each model, in one place: one `register(ModelInfo(...))` line per model.

A new integrator is one new file under trainer/models/ (its nn.Module) plus one line here; the
options `seg train` accepts for it, its default width and batch, the pooling choices, whether the
report draws its attention, the option columns the report shows and the `--help` text all derive
from that line (docs/development.md). The catalog imports no torch, which is why it sits beside
models/ rather than in it: cli.py builds its help from it and `seg --help` stays fast; the class
is imported when a model is built.

    ModelInfo(name, target="module:Class", family, hidden, batch, poolings, options, when,
              attention, summary)
    register(info)        add (or replace) a model
    info(name)            its ModelInfo (a one-line SegError naming the choices for an unknown one)
    names(family=None)    registered names, in registration order
    reads(name, option, settings)   whether a run of that model reads a model-specific option
    applies(settings, option)       whether a run with these settings reads an option (model, loss or
                                    another setting), and which runs do: train's check and the report's columns
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .registry import Registry, load_target

#: each family's split set (the interface in windowdata.py): a new family is a *data.py and a line here
FAMILIES = {"window": "trainer.windowdata:GapSet", "seq": "trainer.seqdata:ChunkSet", "crossseg": "trainer.crossdata:CrossSet"}
#: the options some models read and others ignore (train refuses one set on a model that ignores it;
#: the report shows it only for the models that read it)
MODEL_OPTIONS = ("window", "pooling", "heads", "memory_size", "arch", "chunk", "encoder_model", "max_length",
                 "encoder_lr", "warmup", "accumulate")


@dataclass(frozen=True)
class ModelInfo:
    name: str                      # --model NAME; the spec's "kind"
    target: str                    # "package.module:Class", imported when built
    family: str = "window"         # window: L:R sentences around each gap (windows.py, windowed GapSet);
    #                                seq: whole documents in chunks (seqdata.py); crossseg: raw text pairs (crossdata.py)
    hidden: int = 128              # --hidden 0 means this
    batch: int = 256               # --batch-size 0 means this (gaps per step)
    poolings: tuple[str, ...] = () # --pooling choices, the first is what auto means; () = the model has no --pooling
    options: frozenset = field(default_factory=frozenset)   # MODEL_OPTIONS it reads
    when: Mapping = field(default_factory=dict)             # option -> (setting, value): read only then
    attention: bool = False        # forward(..., return_attention=True) returns weights the report draws
    summary: str = ""              # one line for --help

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: family {self.family!r} is not one of {tuple(FAMILIES)}")
        unknown = (set(self.options) | set(self.when)) - set(MODEL_OPTIONS)
        if unknown:
            raise ValueError(f"{self.name}: unknown options {sorted(unknown)}; the model options are {MODEL_OPTIONS}")
        object.__setattr__(self, "options", frozenset(self.options) | frozenset(self.when))

    def load(self) -> type:
        return load_target(self.target)

    def reads(self, option: str, settings: Mapping | None = None) -> bool:
        if option not in self.options:
            return False
        if option in self.when:
            key, value = self.when[option]
            return (settings or {}).get(key) == value
        return True


_CATALOG = Registry("--model")


def register(model: ModelInfo) -> ModelInfo:
    return _CATALOG.add(model)


def info(name: str) -> ModelInfo:
    return _CATALOG.entry(name)


def set_class(kind: str) -> type:
    """The split set class of a model spec's kind (acrossgap, not a --model, reads windows)."""
    family = _CATALOG[kind].family if kind in _CATALOG else "window"
    return load_target(FAMILIES[family])


def names(family: str | None = None) -> tuple[str, ...]:
    return tuple(n for n, m in _CATALOG.items() if family is None or m.family == family)


def reads(name: str, option: str, settings: Mapping | None = None) -> bool:
    """Whether a run of model `name` (with these train settings) reads `option`; False for a model
    no longer registered."""
    m = _CATALOG.get(name)
    return m is not None and m.reads(option, settings)


def readers(option: str) -> str:
    """'--model a or b' for the models that read an option (for messages)."""
    parts = []
    for m in _CATALOG.values():
        if option in m.when:
            key, value = m.when[option]
            parts.append(f"--model {m.name} --{key.replace('_', '-')} {value}")
        elif option in m.options:
            parts.append(m.name)
    plain = [p for p in parts if not p.startswith("--")]
    cond = [p for p in parts if p.startswith("--")]
    return ", ".join(([f"--model {' or '.join(plain)}"] if plain else []) + cond)


#: loss options: read by one --loss only
LOSS_OPTIONS = {"gamma": "focal", "alpha": "focal", "beta": "balanced"}
# settings other than the model that read a model option too: option -> (test on the settings, flag)
_ALSO = {
    "heads": (lambda s: s.get("sentence_pooling") == "attention", "--sentence-pooling attention"),
    **{k: (lambda s: (s.get("finetune_layers") or 0) > 0, "--finetune-layers")
       for k in ("encoder_lr", "warmup", "accumulate")},
    "max_length": (lambda s: bool(s.get("across_gap")), "--across-gap"),
}


def applies(settings: Mapping, option: str) -> tuple[bool, str]:
    """(does a run with these train settings read `option`?, which runs do). `settings` is a
    TrainConfig's vars() or a run's train.json; train refuses an option set on a run that does not
    read it, and the report shows it only for the runs that do, both from here. An option that is
    neither a loss nor a model option is read by every run."""
    if option in LOSS_OPTIONS:
        return settings.get("loss") == LOSS_OPTIONS[option], f"--loss {LOSS_OPTIONS[option]}"
    if option not in MODEL_OPTIONS:
        return True, "every run"
    also, flag = _ALSO.get(option, (lambda s: False, ""))
    where = ", or ".join(w for w in (readers(option), flag) if w)
    return reads(settings.get("model", ""), option, settings) or also(settings), where


def help_list(attr: str) -> str:
    """'pool 64, bilstm 128, ...' of a ModelInfo field, for option help."""
    return ", ".join(f"{m.name} {getattr(m, attr)}" for m in _CATALOG.values())


def _or(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def model_help() -> str:
    """The --model help of seg train: every model with its one-line summary, by family."""
    window = [f"{m.name} ({m.summary})" for m in _CATALOG.values() if m.family == "window"]
    rest = [f"{m.name} {m.summary}" for m in _CATALOG.values() if m.family != "window"]
    return "; ".join([f"Sentence integrator: {_or(window)} read a window of sentences around each gap (--window)",
                      *rest]) + "."


def pooling_help() -> str:
    """The --pooling help: each model's read-out choices, the first being auto."""
    having = [m for m in _CATALOG.values() if m.poolings]
    return ("Read-out of the models that have one: "
            + "; ".join(f"{m.name} {_or(m.poolings)}" for m in having)
            + ". auto = the first: " + ", ".join(f"{m.poolings[0]} for {m.name}" for m in having)
            + ". cls/sep: the state of that token (sep: the one at the gap); mean/max: over the window's positions "
              "(crossseg: the masked mean of its tokens).")


WINDOW = frozenset({"window"})
# the transformer spends ~8 hidden^2 multiply-adds per token and trains as well at 64 as at 128
# (aozora30k, e5: test F1 0.675 vs 0.675-0.677) in half the time; pool's cost is mostly the
# D -> hidden projection, and at 64 it scores as at 128 (test F1 0.681 vs 0.679, Pk 0.318 vs
# 0.317, 5 repeats) in 35% less time per epoch
register(ModelInfo("pool", "trainer.models.pool:PoolIntegrator", hidden=64, poolings=("mean", "max"),
                   options=WINDOW | {"pooling"}, summary="left/right pooling + MLP"))
register(ModelInfo("bilstm", "trainer.models.bilstm:BiLSTMIntegrator", options=WINDOW,
                   summary="a BiLSTM over the window"))
register(ModelInfo("transformer", "trainer.models.transformer:TransformerIntegrator", hidden=64,
                   poolings=("cls", "sep", "mean"), options=WINDOW | {"pooling", "heads"}, attention=True,
                   summary="a Transformer with sinusoidal positions over the window"))
register(ModelInfo("attmem", "trainer.models.attmem:AttentionMemoryIntegrator",
                   options=WINDOW | {"heads", "memory_size"}, attention=True,
                   summary="SECTOR-style attention over the window + memory slots"))
# seq batches whole chunks, and an LSTM over a 64-sentence chunk runs 64 sequential steps whatever
# the batch, so larger batches cost little more per step (synthetic 100k gaps, 2 cores: 13.9 s/epoch
# at 256 gaps, 7.7 s at 1024)
register(ModelInfo("seq", "trainer.models.seq:SeqModel", family="seq", batch=1024, options={"arch", "chunk"},
                   when={"heads": ("arch", "transformer")},
                   summary="reads whole documents in overlapping chunks and labels every gap jointly (--arch, --chunk)"))
# crossseg: token pairs of up to --max-length tokens through a whole transformer
register(ModelInfo("crossseg", "trainer.models.crossseg:CrossSegModel", family="crossseg", batch=16,
                   poolings=("cls", "mean"),
                   options=WINDOW | {"pooling", "encoder_model", "max_length", "encoder_lr", "warmup", "accumulate"},
                   summary="is the control group: it fine-tunes --encoder-model on the raw text of the window, "
                           "[CLS] left [SEP] right [SEP], no cached vectors; full-scale crossseg runs need a GPU "
                           "(on a CPU use --max-train-gaps for a demonstration)"))
