"""Atomic writes: outputs appear under their final name only when complete.

A directory is built under a temporary sibling name and renamed into place; a file is
written to `<name>.tmp-<pid>` and `os.replace`d. An interrupted run therefore never
leaves a half-written output under the real name.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import SegError


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """Inside the block, an OSError that names no file (a failed write: ENOSPC, EIO ...) is
    re-raised naming `path`, so the CLI's one-line message can say where it happened."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(path)) from e
        raise


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def os_error(path, e: OSError, what: str = "write", fix: str | None = None) -> SegError:
    """The one-line error of a failed file operation: the path, the errno and what to do."""
    name = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
    if fix is None:
        fix = ("free some space and re-run" if e.errno in _NO_SPACE else
               "choose a writable location" if e.errno in _READ_ONLY else "check the location and re-run")
    return SegError(f"{path}: cannot {what} ({e.strerror or e}, errno {name}); {fix}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary sibling, then rename. On any failure the temporary file is removed;
    an OSError then names `path` (see `naming`), which the CLI reports in one line with its errno."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with naming(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def write_output(path: Path, text: str) -> None:
    """Write an output file the user named (`seg segment -o`): a new or regular file atomically
    (write_text_atomic); a symlink is followed, so the link stays and its target gets the text; a
    device node or FIFO (/dev/null, /dev/stdout) is written through, never replaced by a file."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        if target.is_dir():
            raise SegError(f"--output {path}: is a directory; give a file path, or a path ending in / for one file per input")
        with naming(path), open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    write_text_atomic(target, text)


@contextmanager
def atomic_file(path: Path, what: str) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; it is renamed to `path` when the block
    succeeds and removed when it fails. An OSError becomes the one-line error of `os_error`
    (`what`: "write the h5 export")."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise os_error(path, e, what) from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def read_json(path: Path, what: str = "file") -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SegError(f"{path}: {what} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SegError(f"{path}: {what} is not valid JSON ({e}); delete it and re-run the step that wrote it") from None


@contextmanager
def atomic_dir(final: Path, force: bool = False, option_hint: str = "--output") -> Iterator[Path]:
    """Yield a temporary directory that is renamed to `final` when the block succeeds.

    An existing `final` is an error unless `force`, in which case it is replaced only
    after the new one is complete.
    """
    final = Path(final)
    if final.exists() and not force:
        raise SegError(f"{final} already exists; pass --force to overwrite it or choose another {option_hint}")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
