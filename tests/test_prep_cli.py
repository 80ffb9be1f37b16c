"""`seg prep` end to end: formats, encodings, splits, bad input, atomic output, the full corpus."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from cli import app
from pipeline.aozora import parse_aozora
from pipeline.documents import load_document, parse_text
from pipeline.prep import DEMO_CORPUS
from tests.fixtures_prep import SHARED_CORPUS

runner = CliRunner()
RASHOMON = DEMO_CORPUS / "000879_127_ruby_150.txt"


def run(*args: str):
    return runner.invoke(app, ["prep", *args])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def rashomon_paragraphs() -> list[str]:
    return parse_aozora(RASHOMON.read_text(encoding="utf-8").replace("\r\n", "\n"))[2]


def test_three_formats_give_the_same_sentences_and_labels(tmp_path, rashomon_paragraphs):
    ref = parse_text("\n".join(rashomon_paragraphs), "lines")
    lines = tmp_path / "lines.txt"
    lines.write_text("".join("\u3000" + p + "\n" for p in rashomon_paragraphs), encoding="utf-8")
    blank = tmp_path / "blank.txt"   # hard-wrapped at 30 characters, blank line between paragraphs
    blank.write_text("\n\n".join("\n".join(p[k:k + 30] for k in range(0, len(p), 30)) for p in rashomon_paragraphs), encoding="utf-8")
    aozora = load_document(RASHOMON)
    for path, fmt in ((lines, "lines"), (blank, "blank")):
        doc = load_document(path)
        assert doc.format == fmt
        assert (doc.sentences, doc.labels) == (ref.sentences, ref.labels)
    assert aozora.format == "aozora"
    assert (aozora.sentences, aozora.labels) == (ref.sentences, ref.labels)
    assert sum(ref.labels) == len(rashomon_paragraphs)


def test_shift_jis_and_utf8_bom_read_the_same(tmp_path):
    text = RASHOMON.read_bytes().decode("utf-8")
    (tmp_path / "sjis.txt").write_bytes(text.encode("cp932"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    ref = load_document(RASHOMON)
    for name, enc in (("sjis.txt", "cp932"), ("bom.txt", "utf-8")):
        doc = load_document(tmp_path / name)
        assert doc.encoding == enc
        assert doc.sentences == ref.sentences and doc.title == "羅生門"


def test_prep_writes_greppable_dataset_and_table(tmp_path):
    out = tmp_path / "ds"
    res = run(str(DEMO_CORPUS), "--output", str(out))
    assert res.exit_code == 0, res.output
    assert re.search(r"Train\(\d+:\d+\)", res.output) and "Test(" in res.output
    stats = json.loads((out / "stats.json").read_text())
    docs = read_jsonl(out / "documents.jsonl")
    assert len(docs) == 15 and {d["split"] for d in docs} == {"train", "dev", "test"}
    assert any(d["title"] == "羅生門" and d["author"] == "芥川龍之介" for d in docs)
    for split in ("train", "dev", "test"):
        rows = read_jsonl(out / f"{split}.jsonl")
        assert set(rows[0]) == {"doc", "i", "text", "label"}
        assert stats["splits"][split]["sentences"] == len(rows)
        assert stats["splits"][split]["paragraphs"] == sum(r["label"] for r in rows)
        # every document starts with a paragraph; indices run 0..n-1 per document
        by_doc: dict[str, list[int]] = {}
        for r in rows:
            by_doc.setdefault(r["doc"], []).append(r["i"])
        for ids in by_doc.values():
            assert ids == list(range(len(ids)))
        assert all(r["label"] == 1 for r in rows if r["i"] == 0)
    assert not list(tmp_path.glob(".*tmp*"))


def test_splits_are_by_document_deterministic_and_disjoint(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    assert run(str(DEMO_CORPUS), "-o", str(a), "--seed", "3").exit_code == 0
    assert run(str(DEMO_CORPUS), "-o", str(b), "--seed", "3").exit_code == 0
    assert run(str(DEMO_CORPUS), "-o", str(c), "--seed", "4").exit_code == 0
    split_of = lambda d: {r["doc"]: r["split"] for r in read_jsonl(d / "documents.jsonl")}
    assert split_of(a) == split_of(b) != split_of(c)
    # the fingerprint says which split each sentence is in: runs on two splits of the same works are
    # different datasets to resume and to the report's baselines and bootstrap
    fp = lambda d: json.loads((d / "stats.json").read_text(encoding="utf-8"))["fingerprint"]
    assert fp(a) == fp(b) != fp(c)
    docs_per_split = [{r["doc"] for r in read_jsonl(a / f"{s}.jsonl")} for s in ("train", "dev", "test")]
    assert not (docs_per_split[0] & docs_per_split[1] or docs_per_split[0] & docs_per_split[2] or docs_per_split[1] & docs_per_split[2])


def test_split_by_author_keeps_each_author_in_one_split(tmp_path):
    out = tmp_path / "by_author"
    assert run(str(DEMO_CORPUS), "-o", str(out), "--split-by", "author").exit_code == 0
    splits_of_author: dict[str, set] = {}
    for r in read_jsonl(out / "documents.jsonl"):
        splits_of_author.setdefault(r["author"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits_of_author.values())
    assert any(len([r for r in read_jsonl(out / "documents.jsonl") if r["author"] == a]) > 1 for a in splits_of_author)


def one_line_error(res, *needles: str) -> None:
    assert res.exit_code == 1, res.output
    lines = [l for l in res.output.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0]


def test_missing_path(tmp_path):
    one_line_error(run(str(tmp_path / "nope")), "nope", "no such file")


def test_directory_without_text(tmp_path):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty_dir" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    one_line_error(run(str(tmp_path / "empty_dir")), "empty_dir", ".txt")


def test_bad_split_and_format_options(tmp_path):
    one_line_error(run(str(RASHOMON), "--split", "8:1", "-o", str(tmp_path / "x")), "--split")
    one_line_error(run(str(RASHOMON), "--format", "docx", "-o", str(tmp_path / "x")), "--format")
    one_line_error(run(str(RASHOMON), "--split-by", "year", "-o", str(tmp_path / "x")), "--split-by")


@pytest.mark.parametrize("spec, empty", [("1:0:0", "dev and test"), ("8:0:1", "dev"), ("8:1:0", "test")])
def test_split_with_an_empty_dev_or_test_part_is_refused(tmp_path, spec, empty):
    """seg train refuses such a dataset, so prep says so before reading anything."""
    res = run(str(DEMO_CORPUS), "--split", spec, "-o", str(tmp_path / "x"))
    one_line_error(res, f"--split '{spec}'", f"the {empty} part is empty", "e.g. 8:1:1")
    assert not (tmp_path / "x").exists()


def test_too_few_documents_or_authors_for_three_splits_are_warned_about(tmp_path):
    src = tmp_path / "two"
    src.mkdir()
    for name in ("000879_127_ruby_150.txt", "000074_424_ruby_19825.txt"):
        shutil.copy(DEMO_CORPUS / name, src / name)
    res = run(str(src), "-o", str(tmp_path / "ds"))
    assert res.exit_code == 0, res.output
    assert "only 2 documents: too few for three non-empty splits" in " ".join(res.output.split())
    res = run(str(DEMO_CORPUS), "-o", str(tmp_path / "ds2"))
    assert "too few" not in res.output
    # 15 works, but by author: the demo corpus has enough authors, a single author's works do not
    akutagawa = tmp_path / "akutagawa"
    akutagawa.mkdir()
    for f in DEMO_CORPUS.glob("000879_*.txt"):
        shutil.copy(f, akutagawa / f.name)
    shutil.copy(DEMO_CORPUS / "MANIFEST.tsv", akutagawa / "MANIFEST.tsv")
    res = run(str(akutagawa), "-o", str(tmp_path / "ds3"), "--split-by", "author")
    assert res.exit_code == 0 and "only 1 author: too few" in " ".join(res.output.split()), res.output


@pytest.mark.parametrize("fault", ["read-only", "disk full"])
def test_unwritable_output_is_one_line_naming_path_and_errno_with_no_temp_left(tmp_path, monkeypatch, fault):
    """Tests run as root, where chmod does not stop writes: the fault is injected into pathlib."""
    import errno
    import pathlib

    out = tmp_path / "parent" / "ds"
    if fault == "read-only":
        real_mkdir = pathlib.Path.mkdir

        def mkdir(self, *a, **k):
            if str(self).startswith(str(tmp_path / "parent")):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_mkdir(self, *a, **k)

        monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
        needles = ["Permission denied", "EACCES", str(tmp_path / "parent")]
    else:
        real_open = pathlib.Path.open

        class Full:
            def __init__(self, fh):
                self.fh, self.n = fh, 0

            def write(self, text):
                self.n += len(text)
                if self.n > 100_000:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return self.fh.write(text)

            def close(self):
                self.fh.close()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.close()

        monkeypatch.setattr(pathlib.Path, "open", lambda self, *a, **k: Full(real_open(self, *a, **k))
                            if "w" in (a[0] if a else k.get("mode", "r")) else real_open(self, *a, **k))
        needles = ["No space left on device", "ENOSPC", str(out)]
    res = run(str(DEMO_CORPUS), "-o", str(out))
    one_line_error(res, *needles)
    assert not out.exists()
    assert not [p for p in tmp_path.rglob("*") if "tmp" in p.name]


def test_binary_undecodable_empty_and_headings_only_files_are_skipped_with_warnings(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(RASHOMON, src)
    (src / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (src / "latin.txt").write_bytes(b"\xfd\xfe\xa0 caf\xe9 " * 50)
    (src / "empty.txt").write_bytes(b"")
    (src / "headings.txt").write_text("\u3000\u3000\u3000一\n\n\u3000\u3000\u3000二\n", encoding="utf-8")
    out = tmp_path / "out"
    res = run(str(src), "-o", str(out))
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "image.txt: binary file" in text and "latin.txt: neither UTF-8 nor Shift_JIS" in text
    assert "2 file(s) skipped" in text
    assert "empty.txt: empty file" in text and "headings.txt: yields no sentences" in text
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"] == 1 and len(stats["skipped_files"]) == 2 and len(stats["empty_files"]) == 2


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    one_line_error(run(str(tmp_path / "empty.txt"), "-o", str(tmp_path / "o")), "no sentences")


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "ds"
    assert run(str(RASHOMON), "-o", str(out)).exit_code == 0
    (out / "marker").write_text("keep")
    one_line_error(run(str(RASHOMON), "-o", str(out)), str(out), "--force")
    assert (out / "marker").exists()
    assert run(str(RASHOMON), "-o", str(out), "--force").exit_code == 0
    assert not (out / "marker").exists() and (out / "stats.json").exists()


def test_interrupted_prep_leaves_nothing_half_written(tmp_path, monkeypatch):
    import pipeline.prep as prep_mod

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep_mod, "asdict", boom)  # config.json is the last file written before the rename
    out = tmp_path / "ds"
    res = run(str(RASHOMON), "-o", str(out))
    assert res.exit_code != 0
    assert not out.exists() and not list(tmp_path.iterdir())


def test_default_input_is_the_bundled_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("SEG_CACHE", str(tmp_path / "cache"))
    res = run()
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cache" / "datasets" / "demo" / "train.jsonl").exists()


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason="shared Aozora corpus not beside the checkout")
def test_full_shared_corpus_is_clean(tmp_path):
    """All 175 works: no markup, ruby reading, header, footer or heading survives; no paragraph lost."""
    out = tmp_path / "aozora"
    res = run(str(SHARED_CORPUS), "-o", str(out))
    assert res.exit_code == 0, res.output
    docs = {d["doc"]: d for d in read_jsonl(out / "documents.jsonl")}
    assert len(docs) == len(list(SHARED_CORPUS.glob("*.txt"))) == 175
    sentences: dict[str, list[dict]] = {}
    for split in ("train", "dev", "test"):
        for r in read_jsonl(out / f"{split}.jsonl"):
            sentences.setdefault(r["doc"], []).append(r)
    forbidden = re.compile(r"［＃|《|》|｜|^底本：|^入力：|^校正：|青空文庫作成ファイル|テキスト中に現れる記号|^-{5,}")
    for path in sorted(SHARED_CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        rows = sentences[path.stem]
        for r in rows:
            assert not forbidden.search(r["text"]), (path.name, r["text"])
            assert r["text"] == r["text"].strip(" \u3000") and "\n" not in r["text"]
        texts = {r["text"] for r in rows}
        # every marked heading is gone
        for heading in re.findall(r"［＃「([^」]*)」は[大中小]?見出し］", text):
            assert re.sub(r"《[^》]*》|｜", "", heading) not in texts, (path.name, heading)
        # ruby readings are gone: the reading of 下人《げにん》 must not follow its base text
        for base, reading in re.findall(r"([一-龥]{2,})《([ぁ-ん]{2,})》", text)[:50]:
            assert not any(base + reading in t for t in texts), (path.name, base, reading)
        # paragraphs are counted independently: body lines between header and footer that hold text,
        # less heading lines; each one gives exactly one paragraph start
        _, _, paragraphs, headings = parse_aozora(text)
        assert docs[path.stem]["paragraphs"] == sum(r["label"] for r in rows) == len(paragraphs)
        starts = [k for k, r in enumerate(rows) if r["label"] == 1] + [len(rows)]
        rebuilt = ["".join(r["text"] for r in rows[a:b]) for a, b in zip(starts, starts[1:])]
        assert [re.sub(r"[\s\u3000]", "", p) for p in paragraphs] == [re.sub(r"[\s\u3000]", "", p) for p in rebuilt]
        body = text.split("\n")
        lines_with_text = [l for l in body if re.sub(r"［＃(?:[^［］]|［[^］]*］)*］|[\s\u3000]", "", l)]
        assert len(paragraphs) + len(headings) <= len(lines_with_text)


@pytest.mark.parametrize("command", ["prep", "embed", "train", "report", "segment"])
def test_help_gives_every_option_a_text_and_its_default(command):
    """--help explains each option and names its default (typer's [default: …], a 'Default:' in the
    text, or [required])."""
    click_cmd = typer.main.get_command(app).commands[command]
    help_text = runner.invoke(app, [command, "--help"], terminal_width=200).output
    for p in click_cmd.params:
        if p.name == "help":
            continue
        assert p.help, f"seg {command} {p.opts[0]}: no help text"
        shown = getattr(p, "show_default", False) and p.default is not None and not getattr(p, "is_flag", False)
        assert shown or p.required or "default" in p.help.lower(), f"seg {command} {p.opts[0]}: default not stated"
        assert p.opts[0] in help_text or p.name in help_text


def test_train_extra_joins_train_and_leaves_the_split_of_inputs_as_it_was(tmp_path):
    """--train-extra: dev and test are exactly those of INPUTS alone; new works join train; another
    edition of a dev/test work is left out, and so (by author) is a new work by a dev/test author."""
    for by, kept in (("author", {"new_author"}), ("document", {"new_author", "same_author"})):
        plain, more = tmp_path / f"plain-{by}", tmp_path / f"more-{by}"
        assert run(str(DEMO_CORPUS), "-o", str(plain), "--split-by", by).exit_code == 0
        held = next(d for d in read_jsonl(plain / "documents.jsonl") if d["split"] == "test")
        text = (DEMO_CORPUS / f"{held['doc']}.txt").read_bytes().decode("utf-8")
        extra = tmp_path / f"extra-{by}"
        extra.mkdir()
        (extra / "other_edition.txt").write_text(text, encoding="utf-8")                           # same title, same author
        (extra / "same_author.txt").write_text(text.replace(held["title"], "別の題", 1), encoding="utf-8")
        new_author = text.replace(held["title"], "新しい題", 1).replace(held["author"], "架空の作者", 1)
        (extra / "new_author.txt").write_text(new_author, encoding="utf-8")
        res = run(str(DEMO_CORPUS), "-o", str(more), "--split-by", by, "--train-extra", str(extra))
        assert res.exit_code == 0, res.output
        for s in ("dev", "test"):
            assert (plain / f"{s}.jsonl").read_bytes() == (more / f"{s}.jsonl").read_bytes()
        split_of = {r["doc"]: r["split"] for r in read_jsonl(more / "documents.jsonl")}
        assert {d for d in split_of if d in ("other_edition", "same_author", "new_author")} == kept
        assert all(split_of[d] == "train" for d in kept)
        assert "left out" in " ".join(res.output.split())
