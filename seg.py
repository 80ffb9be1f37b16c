"""seg as a Python library: paragraph segmentation of Japanese novels from notebooks and pipelines.

    import seg

    sg = seg.load("runs/demo-bilstm")      # a run of `seg train` (path or name), or "rule" / "texttiling"
    sg.segment(text)                       -> list[str]: the paragraphs (the text otherwise unchanged)
    sg.predict(text)                       -> [(sentence, probability, decision)]
    sg.evaluate(text_with_breaks)          -> the metrics of `seg segment --evaluate`

    seg.prep(inputs, **options)            -> Path of the dataset        (seg prep)
    seg.embed(dataset, **options)          -> dict, the embedding manifest (seg embed)
    seg.train(dataset, **options)          -> Run (.path, .metrics)     (seg train)
    seg.report(runs, **options)            -> Path of the report        (seg report)
    seg.segment(inputs, **options)         -> SegmentResults            (seg segment, writing its outputs)

The keyword options of prep/embed/train/report/segment are those of the commands, with the
same names (dashes as underscores) and defaults; help(seg.train) lists them. Every function
also takes progress=True; progress=False (or `with seg.quiet():`) silences progress bars and
messages. A Segmenter loads its model(s), encoder and vector cache once and reuses them for
every call. Generated data goes under $SEG_CACHE (default ./cache), as with the commands.

Errors in the input or the options raise seg.SegError with a one-line message that names the
file or option at fault and the fix (the command line prints the same line).
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import os
import textwrap
import types
import typing
from functools import wraps
from inspect import Parameter, Signature
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

from pipeline import options as config_options
from pipeline.errors import SegError
from pipeline.progress import quiet
from pipeline.settings import EmbedConfig, PrepConfig
from trainer.config import TrainConfig
from trainer.run import Run
from trainer.settings import ReportConfig, SegmentConfig

if TYPE_CHECKING:
    from trainer.segment import SegmentResults, Segmenter

# what help(seg) documents; SegError, Run and SegmentResults (return types) are importable too
__all__ = ["load", "Segmenter", "prep", "embed", "train", "report", "segment", "quiet", "cache_root"]

_S = SegmentConfig()
# imported on first use: trainer.segment pulls in the metrics (nltk, scikit-learn), seconds to import
_LAZY = {"Segmenter": "trainer.segment", "SegmentResults": "trainer.segment"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def cache_root() -> Path:
    """Home of generated data (datasets, vector cache): $SEG_CACHE, else ./cache."""
    return Path(os.environ.get("SEG_CACHE", "cache"))


# ----------------------------------------------------------------------------- the segmenter

def load(run: str | Path, *, runs_dir: str | Path = _S.runs_dir, cache: str | Path | None = _S.cache,
         threshold: float | None = _S.threshold, ensemble: bool = _S.ensemble, progress: bool = True,
         input_format: str = _S.input_format, window: int = _S.window, depth_cutoff: float = _S.depth_cutoff,
         encoder: str = _S.encoder, dataset: str | Path | None = _S.dataset) -> Segmenter:
    """Load a segmenter once, to segment any number of texts.

    run           a run directory written by `seg train`, or its name under `runs_dir`; or the
                  baselines "rule" (bracket rule) and "texttiling" (unsupervised)
    runs_dir      where run names are looked up
    cache         vector cache directory (default: the run's embedding cache)
    threshold     break where the probability >= this, in (0, 1), instead of the run's
                  dev-selected threshold (texttiling: a depth score); a run trained with
                  --decode viterbi decodes with its length prior unless this or ensemble is set
    ensemble      average all repeats of the run (threshold tuned on their mean dev probability)
    progress      False: no progress bars and no messages, for library use
    input_format  how text is read: auto, aozora, lines (one paragraph per line) or blank
    window, depth_cutoff, encoder, dataset
                  texttiling only, as `seg segment --window/--depth-cutoff/--encoder/--dataset`

    The model(s), the encoder and the vector cache load once and are reused by every call of
    .segment(text), .predict(text) and .evaluate(text). Raises SegError for an unknown or
    damaged run or a bad option.
    """
    cfg = SegmentConfig(run=str(run), runs_dir=_str(runs_dir), cache=_str(cache), threshold=threshold,
                        ensemble=ensemble, input_format=input_format, window=window, depth_cutoff=depth_cutoff,
                        encoder=encoder, dataset=_str(dataset))
    from trainer.segment import Segmenter

    return Segmenter(cfg, cache_root(), progress=progress)


def _str(p: str | Path | None) -> str | None:
    return None if p is None else os.fspath(p)


# ----------------------------------------------------------------------------- the commands
# Each command's keyword options are the fields of its config dataclass (one source of truth
# for the command line and the library), less the internal ones listed here.

_PROGRESS_DOC = "False: no progress bars and no messages, for library use."


def _check_value(command: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as the config field of type `hint` holds it (paths as str, a path as a one-item
    list); SegError when it has another type."""
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    if value is None and (type(None) in kinds or typing.get_origin(hint) is list):
        return None if type(None) in kinds else []
    for k in kinds:
        if typing.get_origin(k) is list:
            if isinstance(value, (str, os.PathLike)):
                return [os.fspath(value)]
            if isinstance(value, (list, tuple)) and all(isinstance(v, (str, os.PathLike)) for v in value):
                return [os.fspath(v) for v in value]
        elif k is bool and isinstance(value, bool):
            return value
        elif k is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        elif k is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        elif k is str and isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    want = " or ".join("None" if k is type(None) else "a list of paths" if typing.get_origin(k) is list
                       else k.__name__ for k in kinds)
    raise SegError(f"seg.{command}: {name}={value!r} is not {want}")


def _config(command: str, config: type, first: str, args: tuple, options: dict) -> tuple[Any, bool]:
    """(the config dataclass built from the call's arguments, progress)."""
    progress = options.pop("progress", True)
    if not isinstance(progress, bool):
        raise SegError(f"seg.{command}: progress={progress!r} is not a bool")
    if len(args) > 1:
        raise SegError(f"seg.{command}: takes one positional argument ({first}); give the other options by keyword")
    if args:
        if first in options:
            raise SegError(f"seg.{command}: {first} given twice")
        options[first] = args[0]
    names = {f.name for f in config_options.options(config)}
    for k in options:
        if k not in names:
            close = difflib.get_close_matches(k, sorted(names), n=1)
            raise SegError(f"seg.{command}: unknown option {k!r}"
                           + (f" (did you mean {close[0]!r}?)" if close else "")
                           + f"; options: {', '.join(f.name for f in config_options.options(config))}")
    hints = typing.get_type_hints(config)
    values = {k: _check_value(command, k, v, hints[k]) for k, v in options.items()}
    return config(**values), progress


def _signature(command: str, config: type, first: str, returns: Any) -> Signature:
    hints = typing.get_type_hints(config)
    params = []
    for f in config_options.options(config):
        kind = Parameter.POSITIONAL_OR_KEYWORD if f.name == first else Parameter.KEYWORD_ONLY
        params.append(Parameter(f.name, kind, default=config_options.default(f), annotation=hints[f.name]))
    params.sort(key=lambda p: p.kind)          # the positional one first
    params.append(Parameter("progress", Parameter.KEYWORD_ONLY, default=True, annotation=bool))
    return Signature(params, return_annotation=returns)


def _command(command: str, config: type, first: str) -> Callable[[Callable], Callable]:
    """Give the function the options of `seg <command>` as its signature and documentation."""

    def wrap(fn: Callable) -> Callable:
        try:
            returns = typing.get_type_hints(fn).get("return", Signature.empty)
        except NameError:                     # a lazily imported type: shown by name
            returns = fn.__annotations__.get("return", Signature.empty)
        sig = _signature(command, config, first, returns)
        helps = config_options.help_texts(config)
        lines = []
        for p in sig.parameters.values():
            lines.append(f"  {p.name}: {p.annotation if isinstance(p.annotation, str) else _type_name(p.annotation)}"
                         f" = {p.default!r}")
            text = _PROGRESS_DOC if p.name == "progress" else helps.get(p.name, "")
            lines += textwrap.wrap(text, 88, initial_indent="      ", subsequent_indent="      ")

        @wraps(fn)
        def call(*args: Any, **options: Any) -> Any:
            cfg, progress = _config(command, config, first, args, options)
            with quiet(not progress):
                return fn(cfg)

        call.__signature__ = sig
        call.__doc__ = (f"{inspect.cleandoc(fn.__doc__ or '')}\n\n"
                        f"Options (those of `seg {command}`, same names and defaults):\n" + "\n".join(lines))
        return call

    return wrap


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) if isinstance(t, type) else str(t).replace("typing.", "")


@_command("prep", PrepConfig, "inputs")
def prep(cfg: PrepConfig) -> Path:
    """Turn raw novels (files or folders; none: the bundled demo corpus) into a dataset of
    cleaned sentences labelled with paragraph starts, split train/dev/test. Returns the
    dataset directory."""
    from pipeline.prep import prep as run

    return run(cfg, cache_root())


@_command("embed", EmbedConfig, "dataset")
def embed(cfg: EmbedConfig) -> dict:
    """Encode every distinct sentence of a dataset into the vector cache (resumable). Returns
    the embedding manifest (also written to <dataset>/embeddings/<name>.json)."""
    from pipeline.embed import embed as run

    return run(cfg, cache_root())


@_command("train", TrainConfig, "dataset")
def train(cfg: TrainConfig) -> Run:
    """Train a sentence integrator on cached vectors (epoch and threshold chosen on dev, test
    scored once). Returns the run: .path (runs/<name>), .metrics (metrics.json), .config."""
    from trainer.run import load_run
    from trainer.train import train as run

    return load_run(run(cfg, cache_root()))


@_command("report", ReportConfig, "runs")
def report(cfg: ReportConfig) -> Path:
    """Compare runs (names under runs_dir or directories; none: every run there) in an HTML or
    Markdown report. Returns the report directory."""
    from trainer.report import report as run

    return run(cfg)


@_command("segment", SegmentConfig, "inputs")
def segment(cfg: SegmentConfig) -> SegmentResults:
    """Restore paragraph breaks in files, as `seg segment` does: writes standard output or
    `output`. Returns the results (.docs with each input's decisions, .metrics with evaluate).
    For text in memory, load(run).segment(text) instead."""
    from trainer.segment import segment as run

    return run(cfg, cache_root())
