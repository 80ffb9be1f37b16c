"""Fault injection for seg train, seg report and seg segment: a full disk and a read-only output
location end in one line naming the path and the errno, with no temporary file left behind;
and real bugs keep their traceback.

The tests run as root in CI, where chmod does not stop a write, so the faults are injected by
patching the write functions to fail the way the kernel makes them fail (a write that raises
OSError(ENOSPC) naming no file, a mkdir that raises OSError(EROFS) naming its path);
`> /dev/full` is real where the device exists.
"""

from __future__ import annotations

import errno
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import app, clean_errors
from pipeline.prep import DEMO_CORPUS
from tests.test_report import make_run, split_docs

runner = CliRunner()
MELOS = DEMO_CORPUS / "000035_1567_ruby_4948.txt"
REPO = Path(__file__).resolve().parents[1]


def one_error(res) -> str:
    assert res.exit_code == 1, res.output
    errors = [l for l in res.output.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".tmp-" in p.name or p.name.endswith(".tmp")]


def full_disk_on(monkeypatch, under: Path, method: str = "write_text") -> None:
    """Path.<method> under `under` writes part of its data, then fails as a full disk does."""
    real = getattr(pathlib.Path, method)

    def failing(self, data, *a, **k):
        if str(self).startswith(str(under)):
            real(self, data[: len(data) // 2], *a, **k)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data, *a, **k)

    monkeypatch.setattr(pathlib.Path, method, failing)


def read_only_on(monkeypatch, under: Path) -> None:
    """Path.mkdir under `under` fails as on a read-only file system (naming its path)."""
    real = pathlib.Path.mkdir

    def failing(self, *a, **k):
        if str(self).startswith(str(under)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "mkdir", failing)


# ----------------------------------------------------------------------------- seg report

@pytest.fixture
def report_runs(small_dataset, tmp_path) -> Path:
    splits = {s: split_docs(small_dataset, s) for s in ("dev", "test")}
    make_run(tmp_path / "runs", "a", splits, [2.0, 2.2], small_dataset, seed=1)
    make_run(tmp_path / "runs", "b", splits, [1.0], small_dataset, seed=2)
    return tmp_path / "runs"


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_report_on_a_full_disk(report_runs, tmp_path, monkeypatch, fmt):
    out = tmp_path / "out" / "rep"
    full_disk_on(monkeypatch, tmp_path / "out")
    msg = one_error(runner.invoke(app, ["report", "--runs", str(report_runs), "-o", str(out), "--format", fmt,
                                        "--resamples", "100"]))
    assert str(out) in msg and "No space left on device" in msg and "ENOSPC" in msg
    assert not out.exists() and leftovers(tmp_path / "out") == [] and list((tmp_path / "out").iterdir()) == []


def test_report_in_a_read_only_location(report_runs, tmp_path, monkeypatch):
    out = tmp_path / "ro" / "rep"
    read_only_on(monkeypatch, tmp_path / "ro")
    msg = one_error(runner.invoke(app, ["report", "--runs", str(report_runs), "-o", str(out), "--resamples", "100"]))
    assert str(tmp_path / "ro") in msg and "Read-only file system" in msg and "EROFS" in msg


# ----------------------------------------------------------------------------- seg segment

def test_segment_output_on_a_full_disk_leaves_no_tmp_file(tmp_path, monkeypatch):
    out = tmp_path / "seg" / "melos.txt"
    out.parent.mkdir()
    full_disk_on(monkeypatch, out.parent)
    msg = one_error(runner.invoke(app, ["segment", str(MELOS), "--run", "rule", "-o", str(out)]))
    assert str(out) in msg and "ENOSPC" in msg
    assert list(out.parent.iterdir()) == []            # neither the output nor a .melos.txt.tmp-PID


def test_segment_output_in_a_read_only_location(tmp_path, monkeypatch):
    out = tmp_path / "ro" / "sub" / "melos.txt"
    read_only_on(monkeypatch, tmp_path / "ro")
    msg = one_error(runner.invoke(app, ["segment", str(MELOS), "--run", "rule", "-o", str(out)]))
    assert "EROFS" in msg and str(tmp_path / "ro") in msg


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_segment_to_dev_full_is_one_line(fmt):
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "cli", "segment", str(MELOS), "--run", "rule", "--format", fmt],
                           cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
    assert p.returncode == 1, p.stderr
    assert len(errors) == 1 and "standard output" in errors[0] and "ENOSPC" in errors[0], p.stderr
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr


# ----------------------------------------------------------------------------- seg train

def test_train_on_a_full_disk_is_one_line_and_resumes_after(train_dataset, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    args = ["train", str(train_dataset), "--encoder", "tiny", "--epochs", "1", "--repeats", "2", "--hidden", "8",
            "--output", str(out), "--name", "full"]
    full_disk_on(monkeypatch, out, "write_bytes")            # the weights of the first repeat
    msg = one_error(runner.invoke(app, args))
    assert str(out / ".full.partial" / "repeat-0.pt") in msg and "ENOSPC" in msg
    assert leftovers(out) == [] and not (out / "full").exists()
    monkeypatch.undo()                                       # space freed: the same command finishes
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["full"] and leftovers(out) == []


def test_train_in_a_read_only_location(train_dataset, tmp_path, monkeypatch):
    out = tmp_path / "ro" / "runs"
    read_only_on(monkeypatch, tmp_path / "ro")
    msg = one_error(runner.invoke(app, ["train", str(train_dataset), "--encoder", "tiny", "--epochs", "1",
                                        "--hidden", "8", "--output", str(out)]))
    assert "EROFS" in msg and str(out) in msg


# ----------------------------------------------------------------------------- bugs stay visible

def test_only_environment_errors_become_one_line():
    @clean_errors
    def env():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/y")

    @clean_errors
    def bug():
        raise ValueError("a bug")

    @clean_errors
    def bare_oserror():
        raise OSError("no errno: a bug, not the environment")

    with pytest.raises(typer.Exit):
        env()
    with pytest.raises(ValueError):
        bug()
    with pytest.raises(OSError):
        bare_oserror()
