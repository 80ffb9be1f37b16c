"""What each option of a `seg` command is, in one place: the field of its config dataclass.

A field declared with `option(...)` is an option of the command that config belongs to; its
metadata holds the --help text and the flags, and its default is the option's default. cli.py
builds every command's options from these fields (`seg prep --help` reads PrepConfig), and
seg.py documents its functions with the same texts; fields declared without it (a format
version, a bootstrap seed) are not options.

    split: str = option("8:1:1", "train:dev:test proportions, by whole document (or author).")
    output: str | None = option(None, "Dataset directory to write. ...", "--output", "-o", path=True)

- help: the --help text, or a function returning it (for a text made from a registry, such as
  the list of models, read when the help is shown);
- flags: the option's names (default: --<field-name>, underscores as dashes);
- path: the command line takes a path (the field holds it as a str);
- argument: the command's positional argument (at most one per config);
- required: the command line asks for it (the dataclass field then has no default);
- factory: a default made per instance (a list).
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass

__all__ = ["MISSING", "Option", "default", "flags", "help_texts", "info", "option", "options"]
from typing import Any, Callable

KEY = "seg_option"


@dataclass(frozen=True)
class Option:
    help: str | Callable[[], str]
    flags: tuple[str, ...] = ()
    path: bool = False
    argument: bool = False
    required: bool = False

    def text(self) -> str:
        return self.help() if callable(self.help) else self.help


def option(default: Any = MISSING, help: str | Callable[[], str] = "", *flags: str, factory: Callable[[], Any] | None = None,
           path: bool = False, argument: bool = False, required: bool = False) -> Any:
    """A config dataclass field that is an option of its command (see the module docstring)."""
    meta = {KEY: Option(help, tuple(flags), path, argument, required)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def options(config: type) -> list[dataclasses.Field]:
    """The fields of a config dataclass that are options, in declaration order."""
    return [f for f in dataclasses.fields(config) if KEY in f.metadata]


def info(f: dataclasses.Field) -> Option:
    return f.metadata[KEY]


def default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def flags(f: dataclasses.Field) -> tuple[str, ...]:
    return info(f).flags or ("--" + f.name.replace("_", "-"),)


def help_texts(config: type) -> dict[str, str]:
    """{field name: its --help text on one line} of every option of a config."""
    return {f.name: " ".join(info(f).text().split()) for f in options(config)}
