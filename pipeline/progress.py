"""One rich progress bar style for every long step: count, rate and ETA; and the one switch
that silences seg's console output for library use.

    console            the stderr console every step prints its messages on
    progress()         a progress bar (a disabled one while quiet)
    quiet()            context manager: no progress bars, no console output (seg.load(progress=False))
    is_quiet()         whether output is silenced now
    stdout_console()   a console on standard output (seg report's tables) that honours quiet()
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True)
_QUIET = [0]     # depth of nested quiet() blocks


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Within the block (when `on`), progress() draws nothing and `console` prints nothing.
    Nests; the previous state comes back on exit, also after an error."""
    if not on:
        yield
        return
    before = console.quiet
    _QUIET[0] += 1
    console.quiet = True
    try:
        yield
    finally:
        _QUIET[0] -= 1
        console.quiet = before


def is_quiet() -> bool:
    return _QUIET[0] > 0


def stdout_console(**kwargs) -> Console:
    """A console on standard output that prints nothing inside quiet()."""
    return Console(quiet=is_quiet(), **kwargs)


class RateColumn(ProgressColumn):
    """Items per second, with the unit given as the task field `unit`."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "it")
        if speed is None:
            return Text(f"? {unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.1f} {unit}/s", style="progress.data.speed")


class CountColumn(ProgressColumn):
    """done/total, as integers for counts and with one decimal for sizes (MB)."""

    def render(self, task) -> Text:
        total = task.total
        fmt = (lambda v: f"{v:,.0f}") if total is None or float(total).is_integer() else (lambda v: f"{v:,.1f}")
        return Text(f"{fmt(task.completed)}/{fmt(total) if total is not None else '?'} {task.fields.get('unit', '')}",
                    style="progress.download")


def progress(transient: bool = False) -> Progress:
    """The progress bar of every long step (disabled inside quiet())."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        CountColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=is_quiet(),
    )
