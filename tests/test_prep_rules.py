"""Aozora clean-up, heading and sentence rules, checked on real lines of the bundled corpus."""

from __future__ import annotations

import pytest

from pipeline.aozora import clean_inline, gaiji_char, looks_like_aozora, parse_aozora
from pipeline.documents import parse_text
from pipeline.headings import is_heading
from pipeline.prep import DEMO_CORPUS
from pipeline.sentences import split_sentences

KUMO = "000879_127_ruby_150.txt"        # 羅生門 (dashed header, ruby, footer)
ONSHU = "000083_496_ruby_19865.txt"     # 恩讐の彼方に (外字, bare numeral headings)
GINGA = "000081_456_ruby_145.txt"       # 銀河鉄道の夜 (中見出し, 〔〕)


def raw(name: str) -> str:
    return (DEMO_CORPUS / name).read_bytes().decode("utf-8").replace("\r\n", "\n")


def test_ruby_both_forms_keep_base_text_only():
    # 走れメロス line: ruby with and without the ｜ start mark
    assert clean_inline("一人の下人《げにん》が、羅生門《らしょうもん》の下で") == "一人の下人が、羅生門の下で"
    assert clean_inline("所々｜丹塗《にぬり》の剥げた") == "所々丹塗の剥げた"


def test_editor_notes_dropped_and_gaiji_resolved_from_real_line():
    line = next(l for l in raw(ONSHU).split("\n") if l.startswith("「お前さん！　まさか"))
    cleaned = clean_inline(line)
    assert "［＃" not in cleaned and "※" not in cleaned
    # ※［＃「王＋（「毒」のあしが「母」）」、第3水準1-88-16］瑁 is 瑇瑁 (tortoiseshell)
    assert "瑇瑁" in cleaned


@pytest.mark.parametrize("note, char", [
    ("「てへん＋丑」、第4水準2-12-93", "扭"),   # JIS X 0213 plane 2
    ("二の字点、1-2-22", "〻"),
    ("「口＋世」、U+546D、ページ-行", "呭"),
    ("小書き片仮名ヰ、1-上-N", ""),            # no code point named: dropped
])
def test_gaiji_notes(note, char):
    assert gaiji_char(note) == char


def test_brackets_kept_as_text():
    doc = parse_text(raw(GINGA), "aozora")
    assert any(s.startswith("〔二十分停車〕") for s in doc.sentences)
    assert any(s.startswith("「") and s.endswith("」") for s in doc.sentences)


def test_header_and_footer_dropped():
    text = raw(KUMO)
    title, author, paragraphs, _ = parse_aozora(text)
    assert (title, author) == ("羅生門", "芥川龍之介")
    body = "\n".join(paragraphs)
    for header_or_footer in ("テキスト中に現れる記号について", "-----", "底本", "入力：", "青空文庫作成ファイル", "（例）"):
        assert header_or_footer not in body
    assert paragraphs[0].startswith("ある日の暮方の事である。")
    assert paragraphs[-1] == "下人の行方は、誰も知らない。"   # the date line （大正四年九月） is not a paragraph


def test_marked_headings_stripped_and_next_sentence_starts_paragraph():
    doc = parse_text(raw(GINGA), "aozora")
    # ［＃３字下げ］一、午后《ごご》の授業［＃「一、午后の授業」は中見出し］
    assert "一、午后の授業" in doc.headings
    assert not any("午后の授業" == s or s.startswith("一、午后") for s in doc.sentences)
    first = doc.sentences[0]
    assert first.startswith("「ではみなさんは") and doc.labels[0] == 1


def test_bare_numeral_headings_stripped():
    doc = parse_text(raw(ONSHU), "aozora")
    # lines like "　　　　　　　　　　一" and "二" separate the chapters
    assert doc.headings[:3] == ["一", "二", "三"]
    assert not any(s in ("一", "二", "三") for s in doc.sentences)


@pytest.mark.parametrize("line, indent, heading", [
    ("一", 10, True), ("二", 7, True), ("第三章", 0, True), ("（上）", 0, True), ("十二．", 0, True),
    ("＊　　＊　　＊", 4, True), ("第一章　旅立ち", 0, True),
    ("一人の下人が、羅生門の下で雨やみを待っていた。", 1, False),
    ("「一」", 0, False), ("一つ。", 0, False), ("ある日", 0, False),
])
def test_unmarked_heading_rules(line, indent, heading):
    assert is_heading(line, indent) is heading


def test_no_label_leak_no_indent_no_linebreak():
    doc = parse_text(raw(KUMO), "aozora")
    assert doc.sentences and all(not s[0].isspace() and "\n" not in s and not s.endswith("\u3000") for s in doc.sentences)
    # 羅生門's narrative paragraphs are indented with 　 in the source; none of it survives
    assert doc.sentences[0] == "ある日の暮方の事である。"


@pytest.mark.parametrize("text, expected", [
    ("あれは何だ！？　誰かが叫んだ。", ["あれは何だ！？", "誰かが叫んだ。"]),
    ("「行こう。」彼は言った。", ["「行こう。」", "彼は言った。"]),
    ("「行こう。」と彼は言った。", ["「行こう。」と彼は言った。"]),
    ("彼は『そうか。わかった。』と思った。次だ。", ["彼は『そうか。わかった。』と思った。", "次だ。"]),
    ("「おはよう」「こんにちは」", ["「おはよう」", "「こんにちは」"]),
    ("（注。これは注である。）本文。", ["（注。これは注である。）本文。"]),
    ("「長い話が続く。次の段落へ。", ["「長い話が続く。", "次の段落へ。"]),   # unbalanced: plain text
    ("終わりのない文", ["終わりのない文"]),
])
def test_sentence_splitting(text, expected):
    assert split_sentences(text) == expected


def test_real_dialogue_paragraph_splits_inside_only_outside_brackets():
    # 走れメロス: 「…。」と猛然一撃、…。
    line = next(l for l in raw("000035_1567_ruby_4948.txt").split("\n") if l.startswith("「気の毒だが正義のためだ！」"))
    sents = split_sentences(clean_inline(line))
    assert sents[0].startswith("「気の毒だが正義のためだ！」と猛然一撃")
    assert all(s.count("「") == s.count("」") for s in sents)


def test_aozora_detection():
    assert looks_like_aozora(raw(KUMO))
    assert not looks_like_aozora("　吾輩は猫である。\n　名前はまだ無い。\n")
