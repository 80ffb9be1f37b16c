"""Sentence splitting for Japanese fiction: the one place the splitter is chosen.

Why not a library: ja-sentence-segmenter protects only 「」 and ASCII () and splits a run
like ！？ in two; bunkai/fast-bunkai need a model download for their best mode. Novels need
『』 and （） protected too, runs of terminators kept whole, and a dialogue sentence
ended by its closing bracket. The rules, in one compiled regular expression:

* a sentence ends after a run of 。！？!? (plus any closing brackets right after it);
* terminators inside a balanced 「…」, 『…』, （…） or (...) never split;
* a bracketed quote ends a sentence when the next character opens another quote, or when
  the quote itself ended with a terminator and the text goes on with something other than
  a quoting particle (「行こう。」彼は言った -> two sentences; 「行こう。」と言った -> one);
* an unbalanced bracket (a speech running over several paragraphs) is plain text, so the
  paragraph still splits at its terminators.
"""

from __future__ import annotations

import re

_TERM = "。！？!?"
_OPEN = "「『（("
# a balanced bracket group (one level of nesting of the other kind is allowed inside)
_GROUP = r"「[^「」]*」|『[^『』]*』|（[^（）]*）|\([^()]*\)"
_PIECE = re.compile(rf"(?:{_GROUP})|[^{_TERM}{_OPEN}]+|[{_OPEN}]|[{_TERM}]+[」』）)]*")
_QUOTE_END = re.compile(rf"[{_TERM}…―ー]」$|[{_TERM}…―ー]』$")
# particles that continue a sentence after a quote: 「…」と言った, 「…」って, 「…」の
_PARTICLES = set("とってのにをがはもやへでかな、，。・…―")


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph (no line breaks) into sentences, whitespace-trimmed."""
    out: list[str] = []
    cur: list[str] = []
    pieces = _PIECE.findall(paragraph)
    n = len(pieces)
    for k, piece in enumerate(pieces):
        cur.append(piece)
        first = piece[0]
        if first in _TERM:
            _flush(cur, out)
        elif first in "「『" and len(piece) > 1 and piece[-1] in "」』":
            nxt = pieces[k + 1][0] if k + 1 < n else ""
            if nxt and nxt.isspace():
                nxt = (pieces[k + 1].lstrip() or " ")[0]
            if nxt in "「『" or (nxt and _QUOTE_END.search(piece) and nxt not in _PARTICLES):
                _flush(cur, out)
    _flush(cur, out)
    return out


def _flush(cur: list[str], out: list[str]) -> None:
    s = "".join(cur).strip(" \t\u3000")
    cur.clear()
    if s:
        out.append(s)
