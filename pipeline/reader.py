"""Bytes on disk -> text: encoding detection that never guesses silently wrong.

Aozora Bunko ships Shift_JIS (cp932); re-distributions are UTF-8. We try strict UTF-8
(with or without BOM) and strict cp932, in that order, and accept a decoding only when
it yields text with no control characters. A file that decodes neither way, or that
holds NUL bytes, is rejected with an error naming the file: never mojibake.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import SegError

ENCODINGS = ("utf-8", "cp932")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UnreadableFile(SegError):
    """A file that is binary or in no encoding we can decode with certainty."""


def decode(data: bytes, name: str = "<bytes>") -> tuple[str, str]:
    """Return (text, encoding). Raise UnreadableFile when no encoding fits."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _normalise(data.decode("utf-16")), "utf-16"
        except UnicodeDecodeError:
            raise UnreadableFile(f"{name}: starts with a UTF-16 byte-order mark but is not valid UTF-16; re-save it as UTF-8") from None
    if b"\x00" in data:
        raise UnreadableFile(f"{name}: binary file (contains NUL bytes); pass only text files")
    control = None
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        m = _CONTROL.search(text)
        if m:
            control = control or (enc, m, text)
            continue
        return _normalise(text), enc
    if control:   # decodes, but holds a control character no novel has: say which and where
        enc, m, text = control
        line = text.count("\n", 0, m.start()) + 1
        raise UnreadableFile(f"{name}: control character U+{ord(m.group()):04X} on line {line} (read as {enc}); "
                             f"remove it, or re-save the file as plain UTF-8 text")
    raise UnreadableFile(f"{name}: neither UTF-8 nor Shift_JIS/cp932; re-save it as UTF-8")


_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")


def _normalise(text: str) -> str:
    """Every line break as \\n: CRLF, a lone CR, and Unicode's line and paragraph separators and
    NEL (U+2028, U+2029, U+0085), which editors show as line breaks too."""
    return _LINE_BREAKS.sub("\n", text)


def read_text(path: Path) -> tuple[str, str]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableFile(f"{path}: cannot be read ({e.strerror})") from None
    return decode(data, str(path))
