"""No character of the body text is lost or invented between a novel file and `seg segment`'s output.

The property: for every work of the shared corpus, the text `seg segment` writes, with its line
breaks (and the indents `--indent` adds) removed, equals the cleaned body text `seg prep` reads
from the file (header, footer, headings, ruby readings and editor notes removed, each
paragraph stripped of its indent), joined without separator, character for character. The
cleaned body is computed here by `parse_aozora`, independently of sentence splitting.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.aozora import clean_inline, parse_aozora
from pipeline.documents import load_document, parse_text
from pipeline.prep import DEMO_CORPUS
from pipeline.reader import read_text
from pipeline.sentences import MAX_SENTENCE, split_paragraph
from tests.fixtures_prep import SHARED_CORPUS
from trainer.segment import INDENT, DocResult, SegmentConfig, read_inputs, segment

runner = CliRunner()
GON = DEMO_CORPUS / "000121_628_ruby_649.txt"        # ごん狐


def one_line(output: str) -> str:
    """Undo any wrapping: the output as one string of single-spaced words."""
    return " ".join(output.split())


def cleaned_body(path: Path) -> str:
    text, _ = read_text(path)
    return "".join(parse_aozora(text)[2])


def segment_texts(inputs: list[str], tmp: Path, indent: bool = False) -> dict[str, str]:
    """Run `seg segment --run rule` (the library function behind it) writing one file per input."""
    out = tmp / ("indent" if indent else "plain")
    res = segment(SegmentConfig(inputs=inputs, run="rule", output=str(out) + "/", indent=indent))
    return {Path(p).stem: Path(p).read_text(encoding="utf-8") for p in res.outputs}


def unbreak(text: str, indent: bool) -> str:
    lines = text.split("\n")
    if indent:
        lines = [l[1:] if l.startswith(INDENT) else l for l in lines]
    return "".join(lines)


# ----------------------------------------------------------------------------- item 3: the property

def test_space_between_sentences_survives_segmentation():
    text = "本当か？\u3000嘘だろう。 そうだ。\n「はい」\n"
    doc = parse_text(text, "lines")
    assert doc.sentences == ["本当か？", "嘘だろう。", "そうだ。", "「はい」"]
    body = "本当か？\u3000嘘だろう。 そうだ。「はい」"
    for decisions in ([1, 0, 0, 1], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]):
        paragraphs = DocResult(doc, None, decisions).paragraphs()
        assert "".join(paragraphs) == body, decisions
        assert len(paragraphs) == sum(decisions)
    # a break placed at a space keeps the space at the end of the line before it
    assert DocResult(doc, None, [1, 1, 1, 1]).paragraphs() == ["本当か？\u3000", "嘘だろう。 ", "そうだ。", "「はい」"]


def test_segment_cli_output_is_the_input_with_only_breaks_changed():
    res = runner.invoke(app, ["segment", "-", "--run", "rule", "--input-format", "lines"],
                        input="本当か？\u3000嘘だろう。「はい。」 そうか。\n".encode("utf-8"))
    assert res.exit_code == 0, res.output
    assert res.stdout == "本当か？\u3000嘘だろう。\n「はい。」 \nそうか。\n"


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason="shared Aozora corpus not beside the checkout")
def test_segment_reproduces_the_cleaned_text_of_every_corpus_work(tmp_path):
    files = sorted(SHARED_CORPUS.glob("*.txt"))
    assert len(files) == 175
    plain = segment_texts([str(SHARED_CORPUS)], tmp_path)
    indented = segment_texts([str(SHARED_CORPUS)], tmp_path, indent=True)
    assert len(plain) == len(indented) == 175
    spaced = moved = 0
    for f in files:
        body = cleaned_body(f)
        for text, indent in ((plain[f.stem], False), (indented[f.stem], True)):
            got = unbreak(text, indent)
            if got != body:
                k = next((i for i, (a, b) in enumerate(zip(got, body)) if a != b), min(len(got), len(body)))
                pytest.fail(f"{f.name} (indent={indent}): differs at {k}: {got[k - 20:k + 20]!r} vs {body[k - 20:k + 20]!r}")
        spaced += bool(re.search(r"[。！？][\u3000 ]", body))
        moved += len(plain[f.stem].splitlines()) != len(parse_aozora(read_text(f)[0])[2])
    # the property has teeth: many works hold spaces between sentences, and the rule moves breaks
    assert spaced > 50 and moved > 150


# ----------------------------------------------------------------------------- item 1: layout detection

THREE = "\u3000吾輩は猫である。名前はまだ無い。\n\u3000どこで生れたかとんと見当がつかぬ。\n\u3000何でも薄暗い所で泣いていた。\n"


def test_final_newline_does_not_make_a_three_line_file_blank_separated(tmp_path):
    doc = parse_text(THREE)
    assert doc.format == "lines" and sum(doc.labels) == 3
    assert len(doc.warnings) == 1 and "--format lines" in doc.warnings[0] and "--format blank" in doc.warnings[0]
    (tmp_path / "a.txt").write_text(THREE, encoding="utf-8")
    res = runner.invoke(app, ["prep", str(tmp_path / "a.txt"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    warn = [l for l in res.output.splitlines() if "a.txt" in l and "layout" in l]
    assert len(warn) == 1 and "--format lines" in warn[0], res.output
    assert (tmp_path / "ds" / "train.jsonl").read_text(encoding="utf-8").count('"label": 1') == 3
    seg = runner.invoke(app, ["segment", str(tmp_path / "a.txt"), "--run", "rule", "--evaluate"])
    assert seg.exit_code == 0, seg.output
    assert "--input-format lines" in one_line(seg.stderr)
    [d] = read_inputs([str(tmp_path / "a.txt")])
    assert sum(d.labels) == 3


def test_blank_separated_and_long_files_are_read_without_doubt():
    blank = THREE.replace("\n", "\n\n")
    assert parse_text(blank).format == "blank" and sum(parse_text(blank).labels) == 3
    # a plain novel of many lines, with or without the final newline: no warning
    paragraphs = parse_aozora(read_text(GON)[0])[2]
    for text in ("\n".join(paragraphs), "\n".join(paragraphs) + "\n", "\n\n".join(paragraphs) + "\n\n"):
        doc = parse_text(text)
        assert doc.warnings == [] and sum(doc.labels) == len(paragraphs)


def test_a_file_with_some_blank_lines_gets_its_assumed_layout_named():
    paragraphs = parse_aozora(read_text(GON)[0])[2][:12]
    # a blank line after every third paragraph: sections, or paragraphs? say which reading was taken
    text = "".join(p + ("\n\n" if k % 3 == 2 else "\n") for k, p in enumerate(paragraphs))
    doc = parse_text(text, doc_id="sections")
    assert doc.format == "lines" and sum(doc.labels) == 12     # 3 of the 11 gaps hold a blank line
    assert len(doc.warnings) == 1 and "blank lines follow 27% of its lines" in doc.warnings[0]
    assert "(--format lines); pass --format blank if that is wrong" in doc.warnings[0]


# ----------------------------------------------------------------------------- item 2: stray 《

def test_an_unclosed_ruby_bracket_keeps_the_text_and_is_counted(tmp_path):
    line = next(l for l in read_text(GON)[0].split("\n") if "ごんは、ほっとして" in l and "百舌鳥《もず》" in l)
    broken = line.replace("ごんは、", "ごん《かんじは、")
    text = read_text(GON)[0].replace(line, broken)
    (tmp_path / "gon.txt").write_text(text, encoding="utf-8")
    # nothing between the stray 《 and the next 》 is lost
    doc = load_document(tmp_path / "gon.txt")
    assert "雨があがると、ごん《かんじは、ほっとして穴からはい出ました。" in doc.sentences
    assert "空はからっと晴れていて、百舌鳥の声がきんきん、ひびいていました。" in doc.sentences
    assert len("".join(doc.sentences)) == len("".join(load_document(GON).sentences)) + len("《かんじ")
    assert "".join(doc.paragraphs()) == cleaned_body(tmp_path / "gon.txt")
    issues = Counter()
    assert clean_inline(broken, issues) == "\u3000雨があがると、ごん《かんじは、ほっとして穴からはい出ました。" \
                                           "空はからっと晴れていて、百舌鳥の声がきんきん、ひびいていました。"
    assert issues["stray ruby bracket"] == 1
    # and prep says so, once
    res = runner.invoke(app, ["prep", str(tmp_path / "gon.txt"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert "1 《 or 》 that open(s) no ruby reading kept as text (in " in one_line(res.output)


def test_no_real_ruby_reading_is_taken_for_text():
    """Every 《…》 of the bundled works and the shared corpus (96,984 readings) is removed as ruby."""
    files = sorted(DEMO_CORPUS.glob("*.txt")) + (sorted(SHARED_CORPUS.glob("*.txt")) if SHARED_CORPUS.is_dir() else [])
    readings = 0
    for f in files:
        issues = Counter()
        text = read_text(f)[0]
        readings += len(re.findall(r"《[^《》\n]*》", text))
        paragraphs = parse_aozora(text, issues)[2]
        assert issues["stray ruby bracket"] == 0, f.name
        assert not any(re.search("[《》]", p) for p in paragraphs), f.name
    assert readings > (90_000 if SHARED_CORPUS.is_dir() else 1_000)


# ----------------------------------------------------------------------------- item 4: long sentences

def test_a_ten_megabyte_line_is_cut_into_capped_sentences(tmp_path):
    line = "吾輩は猫であるが名前はまだ無いので" * 196_079 + "。"       # 10 MB, one sentence
    assert len(line.encode("utf-8")) > 10_000_000
    (tmp_path / "long.txt").write_text(f"\u3000{line}\n\u3000次の段落。\n", encoding="utf-8")
    res = runner.invoke(app, ["prep", str(tmp_path / "long.txt"), "-o", str(tmp_path / "ds"), "--format", "lines"])
    assert res.exit_code == 0, res.output
    assert f"1 sentence(s) longer than {MAX_SENTENCE} characters cut" in one_line(res.output)
    doc = load_document(tmp_path / "long.txt", "lines")
    assert max(map(len, doc.sentences)) == MAX_SENTENCE and doc.issues["long sentence"] == 1
    assert "".join(doc.paragraphs()) == line + "次の段落。" and sum(doc.labels) == 2


def test_long_sentences_are_cut_after_a_comma_and_keep_their_spaces():
    clause = "その男は長い長い道を歩き続けて" * 3 + "、"
    para = "短い文。\u3000" + clause * 20 + "終わり。 次。"
    pairs, capped = split_paragraph(para)
    assert capped == 1
    assert "".join(sep + s for sep, s in pairs) == para
    long = [s for _, s in pairs if s.startswith(("その", "終"))]
    assert all(len(s) <= MAX_SENTENCE for s in long) and all(s.endswith("、") for s in long[:-1])
    assert pairs[1][0] == "\u3000" and pairs[-1] == (" ", "次。")


# ----------------------------------------------------------------------------- item 5: unclosed ［＃

def test_an_unclosed_editor_note_is_dropped_and_counted(tmp_path):
    text = read_text(GON)[0]
    lines = text.split("\n")
    k = next(i for i, l in enumerate(lines) if l.startswith("\u3000") and "。" in l and i > 30)
    lines.insert(k, "［＃ここから２字下げ")
    (tmp_path / "gon.txt").write_text("\n".join(lines), encoding="utf-8")
    doc = load_document(tmp_path / "gon.txt")
    assert not any("［＃" in s for s in doc.sentences)
    assert doc.sentences == load_document(GON).sentences and doc.issues["unclosed note"] == 1
    res = runner.invoke(app, ["prep", str(tmp_path / "gon.txt"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 0 and "1 editor note(s) ［＃ never closed" in one_line(res.output), res.output
    assert "［＃" not in (tmp_path / "ds" / "train.jsonl").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- item 7: not Japanese

def test_english_input_is_warned_about(tmp_path):
    (tmp_path / "moby.txt").write_text("Call me Ishmael. Some years ago, never mind how long precisely, "
                                       "having little or no money in my purse, I thought I would sail about.\n"
                                       "It is a way I have of driving off the spleen.\n" * 3, encoding="utf-8")
    res = runner.invoke(app, ["prep", str(tmp_path / "moby.txt"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert "moby.txt: hardly Japanese (only 0% of its letters are kana or kanji)" in one_line(res.output)
    seg = runner.invoke(app, ["segment", str(tmp_path / "moby.txt"), "--run", "rule"])
    assert "moby.txt: hardly Japanese" in one_line(seg.stderr)
    # Japanese novels, even with Latin words in them, are not
    assert not any("hardly Japanese" in w for f in DEMO_CORPUS.glob("*.txt") for w in load_document(f).warnings)
