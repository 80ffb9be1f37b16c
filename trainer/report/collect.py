"""Find the run directories a report compares; each is read by trainer.run.read_run, which
turns anything missing or in an older layout into a note on the run (shown in the report),
never an exception: one bad run must not hide the others.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import SegError

from ..metrics import LOWER_IS_BETTER, METRICS
from ..run import Predictions, Run, read_run

# the metrics and their direction have one home (trainer/metrics.py), the run reader another
# (trainer/run.py); both are re-exported here for the report modules
__all__ = ["LOWER_IS_BETTER", "METRICS", "Predictions", "Run", "find_runs", "is_run_dir", "read_run"]


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").is_file() or (path / "metrics.json").is_file())


def find_runs(run_args: list[str], runs_root: Path) -> list[Run]:
    """RUN arguments (directories, or names under `runs_root`); none = every run under it."""
    runs_root = Path(runs_root)
    dirs: list[Path] = []
    if run_args:
        for a in run_args:
            p = Path(a)
            if not p.exists() and (runs_root / a).exists():
                p = runs_root / a
            if not p.is_dir():
                raise SegError(f"{a}: no such run directory (looked in . and {runs_root}); list runs with `ls {runs_root}` or train one with `seg train`")
            if is_run_dir(p):
                dirs.append(p)
            else:
                sub = sorted(q for q in p.iterdir() if is_run_dir(q))
                if not sub:
                    raise SegError(f"{p}: not a run directory (no config.json or metrics.json) and holds none; train one with `seg train`")
                dirs.extend(sub)
    else:
        if runs_root.is_dir():
            dirs = sorted(q for q in runs_root.iterdir() if is_run_dir(q) and not q.name.startswith("."))
        if not dirs:
            raise SegError(f"no runs found under {runs_root}; train one with `seg train` or pass --runs DIR / RUN paths")
    seen: set[Path] = set()
    runs = []
    for d in dirs:
        r = d.resolve()
        if r not in seen:
            seen.add(r)
            runs.append(read_run(d))
    return runs
