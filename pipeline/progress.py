"""One rich progress bar style for every long step: count, rate and ETA."""

from __future__ import annotations

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
    )
