"""Section titles that are not marked up: bare numerals, 第三章, （上）, separator lines.

A heading is not a sentence: prep drops it, and the next line starts a paragraph anyway.
The rules look at the cleaned text of a whole line (ruby and notes already removed) and at
how far the raw line was indented.
"""

from __future__ import annotations

import re

_NUM = r"[一二三四五六七八九十百千〇零壱弐参廿卅0-9０-９ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫIVXivx]+"
_SENTENCE_MARKS = re.compile(r"[。！？!?、「」『』]")
_RULES = [
    re.compile(rf"{_NUM}[\.．、]?"),                                 # 一 / ３ / 十二．
    re.compile(rf"(?:第|その|其の|其){_NUM}(?:[章節回話部篇編幕場夜日信]|の巻)?(?:[\s　]+.{{0,20}})?"),  # 第三章　旅
    re.compile(rf"{_NUM}[\s　]+[^\s　]{{1,20}}"),                       # 一　秘密
    re.compile(r"[（(][^（）()]{1,15}[）)]"),                           # （上） （大正四年九月）
    re.compile(r"[＊*※◇◆○●□■☆★×・\-―─－…\s　]+"),                    # ＊　＊　＊
    re.compile(r"(?:上|中|下|前編|後編|前篇|後篇|上篇|中篇|下篇|序|序章|序曲|終章|終曲|結び|プロローグ|エピローグ)"),
]


def is_heading(text: str, indent: int = 0) -> bool:
    """True if a line whose cleaned text is `text` reads as a section title.

    `indent` is the number of leading full-width spaces (or 字下げ) of the raw line: a short,
    unpunctuated line pushed far to the right (3 or more) is a title too.
    """
    t = text.strip(" \t\u3000")
    if not t:
        return False
    if any(r.fullmatch(t) for r in _RULES):
        return not _SENTENCE_MARKS.search(t.strip("（）()")) or t.startswith(("（", "("))
    return indent >= 3 and len(t) <= 15 and not _SENTENCE_MARKS.search(t)
