"""The `seg` command line: each command parses its options and calls one plain function.

    seg prep     novels -> labelled sentences           pipeline/prep.py
    seg embed    sentences -> cached vectors             pipeline/embed.py
    seg train    cached vectors -> integrator runs       trainer/train.py
    seg report   runs -> tables and plots (HTML/MD)      trainer/report.py
    seg segment  new text + a run -> paragraphs          trainer/segment.py

Errors from the library (SegError) become one red line and exit code 1, here and only here.
"""

from __future__ import annotations

import os
import sys
from functools import wraps
from pathlib import Path
from typing import List, Optional

import typer

from pipeline.errors import SegError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment.",
)


@app.callback()
def _root() -> None:
    """Supervised paragraph segmentation of Japanese novels: prep -> embed -> train -> report -> segment."""


def cache_root() -> Path:
    """Default home of generated data: $SEG_CACHE, else ./cache."""
    return Path(os.environ.get("SEG_CACHE", "cache"))


def clean_errors(fn):
    """Turn SegError (and Ctrl-C) into a one-line message and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SegError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.secho("interrupted; finished work is kept, re-run the command to resume", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130)

    return wrapper


@app.command()
@clean_errors
def prep(
    inputs: Optional[List[Path]] = typer.Argument(None, help="Novel files or directories (*.txt). Default: the bundled demo corpus."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Dataset directory to write. Default: cache/datasets/<corpus name> (demo for the bundled corpus)."),
    split: str = typer.Option("8:1:1", help="train:dev:test proportions, by whole document (or author)."),
    split_by: str = typer.Option("document", help="Unit kept whole within one split: document or author."),
    seed: int = typer.Option(0, help="Seed of the split shuffle; the same seed gives the same split."),
    format: str = typer.Option("auto", "--format", help="Input format: auto (detect), aozora, lines (one paragraph per line) or blank (blank line between paragraphs)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output directory."),
):
    """Turn raw novels into cleaned sentences labelled with paragraph starts, split train/dev/test."""
    from pipeline.prep import PrepConfig, prep as run_prep

    cfg = PrepConfig(inputs=[str(p) for p in inputs or []], output=str(output) if output else None, split=split,
                     split_by=split_by, seed=seed, format=format, force=force)
    run_prep(cfg, cache_root())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
