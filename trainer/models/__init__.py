"""Sentence integrators: one small nn.Module per file, built by name through the catalog
(trainer/catalog.py: its class, default width, read-outs and options).

Every model takes the window tensor of a batch of candidate gaps and returns one logit per
gap (a paragraph starts after the gap when sigmoid(logit) >= the run's threshold):

    forward(x: (B, L+R, D) float, mask: (B, L+R) bool, return_attention=False)
        -> logits (B,)                           when return_attention is False
        -> (logits (B,), attention or None)      when True

attention: transformer (B, heads, L+R+2, L+R+2) of its last layer; attmem (B, heads, L+R+M)
of its last hop; None for pool and bilstm. `model.attention_labels()` names the positions.

    build_model(cfg, dim)  a fresh model for a TrainConfig and an encoder dimension
    model_spec(cfg, dim)   the JSON-able architecture (saved as config.json["model"])
    from_spec(spec)        rebuild the architecture from that spec (load_run uses it)
"""

from __future__ import annotations

import inspect

from torch import nn

from pipeline.errors import SegError

from .. import catalog, decode
from ..config import ARCHS, ATTENTION_HIDDEN, SENTENCE_POOLINGS
from ..tokendata import MAX_TOKENS
from ..windows import parse_window
from .wordatt import TokenPooled

#: spec kinds that are not a --model: AcrossGapModel (--finetune-layers --across-gap replaces the
#: integrator); constructors as strict as the models'
EXTRA_SPECS = {"acrossgap": "trainer.models.acrossgap:AcrossGapModel"}


def spec_class(kind: str) -> type:
    """The nn.Module class that builds a spec of this kind (imported on first use)."""
    if kind in EXTRA_SPECS:
        return catalog.ModelInfo(kind, EXTRA_SPECS[kind]).load()
    if kind not in catalog.names():
        raise SegError(f"unknown model kind {kind!r} in the run's config.json; use one of {', '.join(catalog.names())}")
    return catalog.info(kind).load()


def model_spec(cfg, dim: int, token_dim: int | None = None, token_model: dict | None = None) -> dict:
    """Validate the architecture options of a TrainConfig; return the spec from_spec takes.
    `token_dim`: the width of the token states (--sentence-pooling attention, --finetune-layers);
    `dim` is then the number of --features columns. `token_model`: what the embedding manifest
    records of the model whose layer-K states they are (its "transformer"), which
    --finetune-layers rebuilds layers K+1 .. K+N of (None when only the options are checked)."""
    pooled = getattr(cfg, "sentence_pooling", "mean")
    finetune = int(getattr(cfg, "finetune_layers", 0) or 0)
    if pooled not in SENTENCE_POOLINGS:
        raise SegError(f"--sentence-pooling {pooled!r}: use one of {', '.join(SENTENCE_POOLINGS)}")
    if finetune < 0:
        raise SegError(f"--finetune-layers {finetune}: give 0 (none) or the number of top layers to train")
    if getattr(cfg, "across_gap", False):
        return _across_spec(cfg, dim, finetune, token_model)
    if pooled == "attention" or finetune:
        what = "--sentence-pooling attention" if pooled == "attention" else f"--finetune-layers {finetune}"
        if catalog.info(cfg.model).family not in ("window", "seq"):
            raise SegError(f"{what} applies to the window models ({', '.join(catalog.names('window'))}) "
                           f"and seq, not --model {cfg.model}")
        if cfg.heads < 1:
            raise SegError(f"--heads {cfg.heads}: give at least 1")
        td = token_dim or 1
        heads = cfg.heads if pooled == "attention" else 1
        inner = model_spec(_with(cfg, sentence_pooling="mean", finetune_layers=0), heads * td + dim)
        att = {"token_dim": td, "heads": heads, "hidden": ATTENTION_HIDDEN, "features": int(dim), "max_tokens": MAX_TOKENS}
        if finetune:
            att.update(pool=pooled, top=_top_spec(finetune, token_model))
        return {**inner, "sentence_pooling": att}
    model = catalog.info(cfg.model)
    hidden = cfg.hidden or model.hidden
    if cfg.encoder_model and not model.reads("encoder_model"):
        raise SegError(f"--encoder-model applies to {catalog.readers('encoder_model')} only "
                       f"(--model {cfg.model} reads cached vectors); leave it out")
    if model.family == "seq":
        return _seq_spec(cfg, dim, hidden)
    left, right = parse_window(cfg.window)
    if hidden < 2:
        raise SegError(f"--hidden {cfg.hidden}: give at least 2 (or 0 for the model's default)")
    if cfg.layers < 1:
        raise SegError(f"--layers {cfg.layers}: give at least 1")
    if not 0.0 <= cfg.dropout < 1.0:
        raise SegError(f"--dropout {cfg.dropout}: give a probability in [0, 1)")
    if cfg.memory_size < 0:
        raise SegError(f"--memory-size {cfg.memory_size}: give 0 (no memory) or more slots")
    if model.reads("heads") and (cfg.heads < 1 or hidden % cfg.heads):
        raise SegError(f"--heads {cfg.heads}: must be >= 1 and divide --hidden {hidden}")
    pooling = cfg.pooling
    choices = model.poolings
    if choices:
        if pooling == "auto":
            pooling = choices[0]
        if pooling not in choices:
            raise SegError(f"--pooling {cfg.pooling!r} does not apply to --model {cfg.model}; use one of {', '.join(choices)}")
    else:
        pooling = None
    if model.family == "crossseg":
        return _cross_spec(cfg, left, right, hidden, pooling)
    return {"kind": cfg.model, "dim": int(dim), "left": left, "right": right, "window": f"{left}:{right}",
            "hidden": hidden, "layers": cfg.layers, "heads": cfg.heads, "memory_size": cfg.memory_size,
            "pooling": pooling, "dropout": cfg.dropout}


def _across_spec(cfg, dim: int, finetune: int, token_model: dict | None) -> dict:
    """--finetune-layers N --across-gap: the top layers over [CLS] left [SEP] right [SEP], an MLP head."""
    from ..crossdata import DEFAULT_MAX_LENGTH

    if not finetune:
        raise SegError("--across-gap runs the transferred top layers over the window's sentences together; "
                       "add --finetune-layers N (on a `seg embed --tokens --layer K` embedding)")
    if cfg.model != "pool":
        raise SegError(f"--across-gap: the top layers read the window themselves and an MLP head decides, no integrator; "
                       f"leave --model {cfg.model} out")
    if cfg.sentence_pooling != "mean":
        raise SegError("--across-gap reads the [CLS] state or the mean of the whole sequence; leave --sentence-pooling out")
    left, right = parse_window(cfg.window)
    pooling = "cls" if cfg.pooling == "auto" else cfg.pooling
    if pooling not in ("cls", "mean"):
        raise SegError(f"--pooling {cfg.pooling!r} does not apply to --across-gap; use cls or mean")
    hidden = cfg.hidden or catalog.info("pool").hidden
    if hidden < 2 or cfg.layers < 1 or not 0.0 <= cfg.dropout < 1.0:
        raise SegError(f"--hidden {hidden} / --layers {cfg.layers} / --dropout {cfg.dropout}: give a width of at least 2, "
                       f"at least 1 layer and a dropout in [0, 1)")
    limit = 512 if token_model is None else int(base_limit(token_model))
    if cfg.max_length < 0 or (cfg.max_length and not 8 <= cfg.max_length <= limit):
        raise SegError(f"--max-length {cfg.max_length}: give 8 .. {limit} tokens, or 0 for {min(DEFAULT_MAX_LENGTH, limit)}")
    return {"kind": "acrossgap", "left": left, "right": right, "window": f"{left}:{right}", "pooling": pooling,
            "hidden": hidden, "layers": cfg.layers, "dropout": cfg.dropout, "features": int(dim),
            "max_length": cfg.max_length or min(DEFAULT_MAX_LENGTH, limit), "top": _top_spec(finetune, token_model),
            "dim": int(dim)}


def base_limit(token_model: dict) -> int:
    """The model's positions (its config.json's max_position_embeddings)."""
    from .toplayers import base_config

    return int(base_config(token_model["path"]).get("max_position_embeddings") or 512)


def _top_spec(n_layers: int, token_model: dict | None) -> dict | None:
    """--finetune-layers N over the states after layer K of the manifest's model: layers K+1 ..
    K+N, rebuilt from its config (kept in the spec: a run loads without the model folder)."""
    if token_model is None:   # options checked before any data is read
        return None
    from .toplayers import base_config

    layer, depth = int(token_model["layer"]), int(token_model["depth"])
    if layer + n_layers > depth:
        raise SegError(f"--finetune-layers {n_layers}: the token states are those after layer {layer} of "
                       f"{token_model['path']}, which has {depth} layers, so at most {depth - layer} can be trained "
                       f"above them (K + N <= {depth}); "
                       + (f"give --finetune-layers 1 .. {depth - layer} or " if depth > layer else "")
                       + "re-embed with a lower --layer")
    return {"config": base_config(token_model["path"]), "layer": layer, "n_layers": int(n_layers),
            "base_model": token_model["path"], "base_hash": token_model["hash"]}


def _seq_spec(cfg, dim: int, hidden: int) -> dict:
    if cfg.arch not in ARCHS:
        raise SegError(f"--arch {cfg.arch!r}: use one of {', '.join(ARCHS)}")
    if hidden < 4 or hidden % 2:
        raise SegError(f"--hidden {cfg.hidden}: give an even width of at least 4 for --model seq (or 0 for 128)")
    if cfg.layers < 1:
        raise SegError(f"--layers {cfg.layers}: give at least 1")
    if not 0.0 <= cfg.dropout < 1.0:
        raise SegError(f"--dropout {cfg.dropout}: give a probability in [0, 1)")
    if not 4 <= cfg.chunk <= 4096:
        raise SegError(f"--chunk {cfg.chunk}: give 4 .. 4096 sentences per chunk, e.g. 64")
    if cfg.arch == "transformer" and (cfg.heads < 1 or hidden % cfg.heads):
        raise SegError(f"--heads {cfg.heads}: must be >= 1 and divide --hidden {hidden}")
    return {"kind": "seq", "dim": int(dim), "arch": cfg.arch, "hidden": hidden, "layers": cfg.layers,
            "heads": cfg.heads, "dropout": cfg.dropout, "chunk": cfg.chunk, "crf": decode.info(cfg.decode).crf}


def _cross_spec(cfg, left: int, right: int, hidden: int, pooling: str) -> dict:
    """crossseg: the base model (resolved folder), its width, and the token budget per pair."""
    from ..crossdata import DEFAULT_MAX_LENGTH, model_limits, resolve_encoder_model

    folder, _ = resolve_encoder_model(cfg.encoder_model)
    dim, limit = model_limits(folder)
    if cfg.max_length < 0 or (cfg.max_length and not 8 <= cfg.max_length <= limit):
        raise SegError(f"--max-length {cfg.max_length}: give 8 .. {limit} tokens ({folder} has {limit} positions), "
                       f"or 0 for min({DEFAULT_MAX_LENGTH}, {limit})")
    return {"kind": "crossseg", "dim": dim, "left": left, "right": right, "window": f"{left}:{right}",
            "encoder_model": str(folder), "max_length": cfg.max_length or min(DEFAULT_MAX_LENGTH, limit),
            "hidden": hidden, "layers": cfg.layers, "pooling": pooling, "dropout": cfg.dropout}


def from_spec(spec: dict) -> nn.Module:
    kind = spec["kind"]
    cls = spec_class(kind)
    # constructors are strict (keyword-only, no defaults): each takes exactly the spec fields
    # it declares, so a field a model does not use (heads for pool) is not passed to it and a
    # field it needs but the spec lacks is an error, never a silent default
    params = [p for p in inspect.signature(cls).parameters if p != "self"]
    missing = [p for p in params if p not in spec]
    if missing:
        raise SegError(f"the run's model spec (config.json \"model\") lacks {', '.join(missing)} for a {kind} model; "
                       f"it was written by another seg version: retrain with `seg train`")
    model = cls(**{p: spec[p] for p in params})
    att = spec.get("sentence_pooling")
    if att:
        model = TokenPooled(model, **att)
    return model


def word_attention(spec: dict) -> bool:
    """Whether a run's model pools token states with learned word attention (whose weights the run
    keeps, the report draws and segment's jsonl carries): --sentence-pooling attention, not the
    plain mean of --finetune-layers' output."""
    att = (spec or {}).get("sentence_pooling")
    return bool(att) and att.get("pool", "attention") == "attention"


def _with(cfg, **changes):
    """A copy of a TrainConfig (or any dataclass) with some fields changed."""
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def build_model(cfg, dim: int) -> nn.Module:
    return from_spec(model_spec(cfg, dim))
