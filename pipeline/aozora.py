"""Aozora Bunko plain text -> title, author, paragraphs.

An Aozora file is a header (title, author, the dashed 【テキスト中に現れる記号について】
block), a body with one paragraph per line, and a footer from 底本： on. In the body:
ruby 《よみ》 and its start mark ｜, editor notes ［＃…］, 外字 notes ※［＃「…」、第3水準1-85-25］,
and headings marked ［＃「…」は中見出し］ or left bare (see headings.py).

Markup is removed only when it is well formed, so a typo in the source never deletes text:
a 《…》 is a ruby reading only when it holds kana (with ー・ and the くの字点 ／＼ ／″＼), at
most RUBY_MAX characters (the 96,984 readings of the 175-work shared corpus are all of this
form, the longest 64 characters; 、 may stand between two runs of kana, as in
五味台《クルエツト、スタンド》); any other 《 or 》 stays in the text and is counted. An
editor note opened by ［＃ and never closed on its line runs to the end of that line: it is
dropped and counted (notes never span lines in Aozora files).
"""

from __future__ import annotations

import re
from collections import Counter

from .headings import is_heading

_DASHES = re.compile(r"-{10,}")
RUBY_MAX = 80
# a reading: hiragana, katakana (with ー and ・), half-width katakana, iteration marks and the
# くの字点 written as ／＼ or ／″＼, and the odd space between words of a foreign title; runs of
# such kana may be separated by 、 (a reading of a foreign compound: 五味台《クルエツト、スタンド》)
_KANA = r"[\u3041-\u309f\u30a0-\u30ff\uff65-\uff9f／＼″〃 \u3000]"
_RUBY = re.compile(rf"《(?=[^《》]{{1,{RUBY_MAX}}}》){_KANA}+(?:、{_KANA}+)*》")
_UNCLOSED_NOTE = re.compile(r"［＃.*$")
# an editor note, allowing one level of ［…］ inside its description
_NOTE = re.compile(r"［＃(?:[^［］]|［[^］]*］)*］")
_GAIJI = re.compile(r"※［＃((?:[^［］]|［[^］]*］)*)］")
_UNICODE = re.compile(r"U\+([0-9A-Fa-f]{4,6})")
_MENKUTEN = re.compile(r"(?<![0-9])([12])-(\d{1,2})-(\d{1,2})(?![0-9])")
_HEADING_NOTE = re.compile(r"［＃[^］]*見出し(?:終わり)?］")
_HEADING_BLOCK_START = re.compile(r"［＃ここから[^］]*見出し］")
_HEADING_BLOCK_END = re.compile(r"［＃ここで[^］]*見出し終わり］")
_INDENT_NOTE = re.compile(r"^［＃(?:天から)?([0-9０-９]+)字下げ］")
_WS = " \t\u3000"


def looks_like_aozora(text: str) -> bool:
    head = text[:4000]
    if "【テキスト中に現れる記号について】" in head:
        return True
    if re.search(r"^底本：", text, re.M):
        return True
    # no header, no footer: markup alone (ruby and editor notes) still says Aozora
    return len(_NOTE.findall(text[:200_000])) + len(_RUBY.findall(text[:200_000])) >= 3


def gaiji_char(description: str) -> str:
    """The character a 外字 note describes, or '' when Unicode has none we can name. A note may
    name only a printable character: one naming a surrogate (U+D800), a control (U+0000, U+000A)
    or an unassigned code point gives '' (it would put a NUL or a line break into the text, or
    make it unwritable as UTF-8)."""
    m = _UNICODE.search(description)
    if m:
        try:
            c = chr(int(m.group(1), 16))
        except (ValueError, OverflowError):
            return ""
        return c if c.isprintable() else ""
    m = _MENKUTEN.search(description)
    if m:
        plane, row, cell = (int(g) for g in m.groups())
        if 1 <= row <= 94 and 1 <= cell <= 94:
            raw = bytes([0xA0 + row, 0xA0 + cell])
            if plane == 2:
                raw = b"\x8f" + raw
            try:
                return raw.decode("euc_jis_2004")
            except UnicodeDecodeError:
                return ""
    return ""


def clean_inline(line: str, issues: Counter | None = None) -> str:
    """Remove ruby, notes and 外字 markup from one line, keeping the base text.

    `issues` (when given) counts the repairs: "unclosed note" for a ［＃ with no ］ (dropped
    to the end of the line) and "stray ruby bracket" for a 《 or 》 that is no ruby (kept).
    """
    if "［＃" in line:
        line = _GAIJI.sub(lambda m: gaiji_char(m.group(1)), line)
        line = _NOTE.sub("", line)
        if "［＃" in line:
            line = _UNCLOSED_NOTE.sub("", line)
            if issues is not None:
                issues["unclosed note"] += 1
    if "《" in line or "》" in line:
        line = _RUBY.sub("", line)
        if issues is not None:
            issues["stray ruby bracket"] += line.count("《") + line.count("》")
    return line.replace("｜", "")


def split_header(lines: list[str]) -> tuple[list[str], int]:
    """Return (header lines, index where the body starts)."""
    top = lines[:80]
    dashes = [i for i, l in enumerate(top) if _DASHES.fullmatch(l.strip())]
    if len(dashes) >= 2:
        return [l for l in lines[: dashes[0]] if l.strip()], dashes[1] + 1
    # no dashed block: title/author are the short, unindented lines before the first
    # indented or quoted line
    header: list[str] = []
    i = 0
    while i < len(lines) and len(header) < 4:
        l = lines[i]
        if not l.strip():
            i += 1
            continue
        if l[0] in "\u3000 「『（［" or len(l) > 40 or is_heading(clean_inline(l)):
            break
        header.append(l.strip())
        i += 1
    return header, i


_FOOTER_FALLBACK = re.compile(r"(?:入力者注|入力：|テキスト入力者：|校正：|校正者：|初出：|底本の親本：)")


def footer_start(lines: list[str]) -> int:
    """Index of the first footer line: 底本：, or for files without one, the first
    入力者注/入力：/校正： credit among the last 60 lines."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("底本："):
            return i
    for i in range(max(0, len(lines) - 60), len(lines)):
        if _FOOTER_FALLBACK.match(lines[i]):
            return i
    return len(lines)


def parse_aozora(text: str, issues: Counter | None = None) -> tuple[str, str, list[str], list[str]]:
    """Return (title, author, paragraphs, stripped headings); `issues` counts markup repairs
    in the body (see clean_inline)."""
    lines = text.split("\n")
    header, start = split_header(lines)
    end = footer_start(lines)
    title = clean_inline(header[0]).strip(_WS) if header else ""
    author = clean_inline(header[-1]).strip(_WS) if len(header) >= 2 else ""
    paragraphs: list[str] = []
    headings: list[str] = []
    in_heading_block = False
    for raw in lines[start:end]:
        if _HEADING_BLOCK_START.search(raw):
            in_heading_block = True
        if in_heading_block:
            if _HEADING_BLOCK_END.search(raw):
                in_heading_block = False
            t = clean_inline(raw, issues).strip(_WS)
            if t:
                headings.append(t)
            continue
        if _HEADING_NOTE.search(raw):
            t = clean_inline(raw, issues).strip(_WS)
            if t:
                headings.append(t)
            continue
        cleaned = clean_inline(raw, issues)
        t = cleaned.strip(_WS)
        if not t:
            continue
        if is_heading(t, _indent(raw)):
            headings.append(t)
            continue
        paragraphs.append(t)
    return title, author, paragraphs, headings


def _indent(raw: str) -> int:
    m = _INDENT_NOTE.match(raw)
    if m:
        return int(m.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    return len(raw) - len(raw.lstrip("\u3000"))
