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
  paragraph still splits at its terminators;
* a sentence longer than MAX_SENTENCE characters (a run-on line with no terminator) is cut
  after its last 、/，/, within the limit, or at the limit when there is none, so that no
  sentence can stall the encoder.

Nothing is lost: `split_paragraph` returns each sentence with the whitespace that stood
before it, so the paragraph is exactly the concatenation of (whitespace + sentence).
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


MAX_SENTENCE = 500
_COMMA = re.compile(r"[、，,､]")
_WS = " \t\u3000"


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph (no line breaks) into sentences, whitespace-trimmed (no length cap)."""
    return [s.strip(_WS) for s in _raw_sentences(paragraph) if s.strip(_WS)]


def cap_sentence(sentence: str, limit: int = MAX_SENTENCE) -> list[str]:
    """Cut a sentence longer than `limit` into pieces of at most `limit` characters, each
    ending after the last comma (、，,､) in its window when there is one in its second half.
    The pieces concatenate to `sentence`."""
    if len(sentence) <= limit:
        return [sentence]
    out: list[str] = []
    pos, n = 0, len(sentence)
    while n - pos > limit:
        window = sentence[pos:pos + limit]
        cut = limit
        for m in _COMMA.finditer(window, limit // 2):
            cut = m.end()
        out.append(sentence[pos:pos + cut])
        pos += cut
    out.append(sentence[pos:])
    return out


def split_paragraph(paragraph: str, limit: int = MAX_SENTENCE) -> tuple[list[tuple[str, str]], int]:
    """Split one paragraph into (whitespace before, sentence) pairs whose concatenation is the
    paragraph less its leading and trailing whitespace; sentences longer than `limit` are cut
    (cap_sentence). Return the pairs and how many sentences were cut."""
    pairs: list[tuple[str, str]] = []
    pending = ""
    n_capped = 0
    for raw in _raw_sentences(paragraph):
        cut = cap_sentence(raw.strip(_WS), limit) if len(raw) > limit else [raw]
        if len(cut) > 1:   # keep the whitespace around the cut-up sentence
            n_capped += 1
            lead, trail = raw[:len(raw) - len(raw.lstrip(_WS))], raw[len(raw.rstrip(_WS)):]
            pieces = [lead + cut[0], *cut[1:-1], cut[-1] + trail]
        else:
            pieces = [raw]
        for piece in pieces:
            body = piece.strip(_WS)
            if body == piece:         # the common case: no whitespace around the sentence
                pairs.append((pending if pairs else "", body))
                pending = ""
                continue
            if not body:
                pending += piece
                continue
            lead = piece[:len(piece) - len(piece.lstrip(_WS))]
            pairs.append((pending + lead if pairs else "", body))
            pending = piece[len(piece.rstrip(_WS)):]
    return pairs, n_capped


def _raw_sentences(paragraph: str) -> list[str]:
    """The sentences with their surrounding whitespace: they concatenate to `paragraph`."""
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
    s = "".join(cur)
    cur.clear()
    if s:
        out.append(s)
