"""`seg corpus aozora` on a small fake mirror in the layout of aozorahack/aozorabunko_text
(Shift_JIS files under cards/<person>/files/<folder>/): the selection rules, the reserved-author
exclusion (with a throwaway list), determinism, resume, git snapshots, the catalogue, and bad
paths and files as one-line errors. Its output feeds `seg prep` unchanged."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
RESERVED_PERSON = "009999"     # a made-up person ID, reserved by the throwaway list below


def aozora(title: str, author: str, body: list[str], footer: str = "", translator: str = "") -> str:
    head = [title, author, *([translator] if translator else []), "", "-" * 55, "【テキスト中に現れる記号について】", "", "《》：ルビ", "-" * 55, ""]
    foot = ["", "", "底本：「架空の全集」架空書房", "　　　1950（昭和25）年1月1日発行", "入力：試験", "校正：試験",
            "青空文庫作成ファイル：", *([footer] if footer else [])]
    return "\r\n".join(head + body + foot) + "\r\n"


def prose(n: int, seed: str) -> list[str]:
    lines = []
    for i in range(n):
        lines.append(f"　{seed}の町に雨が降り出したのは、{i}日目の夕方のことであつた。私は窓《まど》を閉めて、机に向つた。")
        lines.append(f"「{seed}さん、もうお帰りですか。」")
        lines.append("　女はさう言つて、しばらく黙つてゐた。")
    return lines


VERSE = ["春の野に", "すみれ摘みにと", "来し我ぞ", "野をなつかしみ", "一夜寝にける"] * 50
PLAY = ["太郎　　それより、あたしたちのことで。", "花子　　どうして。", "太郎　　よくつて？", "花子　　ええ。"] * 15


def write(root: Path, person: str, folder: str, text: str | bytes) -> Path:
    p = root / "cards" / person / "files" / folder / f"{folder}.txt"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode("cp932"))
    return p


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    write(root, "000100", "10_ruby_20", aozora("雨の町", "山田太郎", prose(30, "雨")))
    write(root, "000100", "10_txt_15", aozora("雨の町", "山田太郎", prose(30, "雨")))          # the same work, plain edition
    write(root, "000100", "11_ruby_30", aozora("風の町", "山田太郎", prose(25, "風")))
    write(root, "000200", "20_ruby_40", aozora("川の宿", "鈴木花子", prose(28, "川")))
    write(root, "000200", "21_ruby_41", aozora("歌集", "鈴木花子", VERSE))
    write(root, "000200", "22_ruby_42", aozora("対話", "鈴木花子", PLAY))
    write(root, "000300", "30_ruby_50", aozora("異国の話", "ポオ", prose(30, "霧"), translator="佐藤次郎訳"))
    write(root, "000300", "31_ruby_51", aozora("新しい話", "高橋三郎", prose(30, "星"),
                                           "このファイルは、著作権者自らの意思により、青空文庫に収録されています。"))
    write(root, "000300", "32_ruby_52", aozora("短い話", "高橋三郎", prose(2, "月")))
    write(root, "000400", "40_ruby_60", b"\x00\x01binary\xff\xfe")
    write(root, "000400", "41_ruby_61", aozora("Roma-ji no hanashi", "Ro-maji", ["　Kono hon wa ro-maji de kakarete imasu. "
                                                                            "Watashi wa sore wo yomimashita."] * 40))
    write(root, "000400", "kantou_notes", aozora("覚書", "某", prose(30, "覚")))
    write(root, RESERVED_PERSON, "90_ruby_90", aozora("秘密の話", "某氏", prose(30, "秘")))
    return root


@pytest.fixture(scope="module")
def reserved(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("reserved") / "reserved.sha256"
    p.write_text(hashlib.sha256(RESERVED_PERSON.encode()).hexdigest() + "\n" + "0" * 64 + "\n")
    return p


def corpus(mirror, out, reserved, *opts):
    return runner.invoke(app, ["corpus", "aozora", str(mirror), "--output", str(out), "--reserved", str(reserved),
                               "--min-chars", "1000", *opts])


def manifest(out: Path) -> list[dict]:
    with (out / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def skipped(out: Path) -> dict[str, str]:
    with (out / "SKIPPED.tsv").open(encoding="utf-8", newline="") as f:
        return {r["source_path"].split("/")[3]: r["reason"] for r in csv.DictReader(f, delimiter="\t")}


def one_line_error(res, code: int = 1) -> str:
    assert res.exit_code == code, res.output
    lines = [l for l in res.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    return lines[0]


def test_selection_rules_and_reserved_authors(mirror, reserved, tmp_path):
    out = tmp_path / "c"
    res = corpus(mirror, out, reserved)
    assert res.exit_code == 0, res.output
    rows = manifest(out)
    assert [r["file"] for r in rows] == ["000100_10_ruby_20.txt", "000100_11_ruby_30.txt", "000200_20_ruby_40.txt"]
    why = skipped(out)
    assert why["10_txt_15"] == "another edition of the same work kept"
    assert why["21_ruby_41"].startswith("verse") and why["22_ruby_42"].startswith("play")
    assert why["30_ruby_50"] == "translation" and why["31_ruby_51"].startswith("in copyright")
    assert why["32_ruby_52"].startswith("short") and why["40_ruby_60"].startswith("unreadable")
    assert why["kantou_notes"].startswith("not a work's text") and why["41_ruby_61"].startswith("hardly Japanese")
    # the reserved author's work is nowhere: not in the corpus, not listed, only counted
    assert not any(RESERVED_PERSON in f.name for f in out.iterdir())
    for name in ("MANIFEST.tsv", "SKIPPED.tsv", "corpus.json"):
        assert RESERVED_PERSON not in (out / name).read_text(encoding="utf-8") and "秘密" not in (out / name).read_text(encoding="utf-8")
    summary = json.loads((out / "corpus.json").read_text())["summary"]
    assert summary["skipped"]["reserved author"] == 1 and summary["works"] == 3 and summary["authors"] == 2
    assert summary["files_in_mirror"] == 13
    # each file is the work as it was, in UTF-8 (header, footer and CRLF kept); the manifest describes it
    first = rows[0]
    text = (out / first["file"]).read_bytes().decode("utf-8")
    assert text == (mirror / first["source_path"]).read_bytes().decode("cp932") and "\r\n" in text
    assert (first["title"], first["author"], first["person_id"], first["work_id"]) == ("雨の町", "山田太郎", "000100", "10")
    assert int(first["bytes"]) == len(text.encode("utf-8")) and int(first["chars"]) > 1000
    # without the throwaway list the made-up author is an ordinary one: the list is what excludes it
    res = corpus(mirror, tmp_path / "open", "none")
    assert res.exit_code == 0, res.output
    assert any(r["person_id"] == RESERVED_PERSON for r in manifest(tmp_path / "open"))


def test_output_feeds_prep_unchanged(mirror, reserved, tmp_path):
    out = tmp_path / "c"
    assert corpus(mirror, out, reserved).exit_code == 0
    res = runner.invoke(app, ["prep", str(out), "--output", str(tmp_path / "ds"), "--split", "1:1:1", "--split-by", "document"])
    assert res.exit_code == 0, res.output
    docs = [json.loads(l) for l in (tmp_path / "ds" / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(d["title"] for d in docs) == ["川の宿", "雨の町", "風の町"]
    sentences = [json.loads(l)["text"] for s in ("train", "dev", "test")
                 for l in (tmp_path / "ds" / f"{s}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sentences and not any("底本" in t or "《" in t or "\u3000" in t for t in sentences)


def test_deterministic_resumable_and_max_works(mirror, reserved, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert corpus(mirror, a, reserved).exit_code == 0 and corpus(mirror, b, reserved).exit_code == 0
    for name in ["MANIFEST.tsv", "SKIPPED.tsv"] + [r["file"] for r in manifest(a)]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    # a re-run of a finished corpus writes nothing
    assert corpus(mirror, a, reserved).exit_code == 0
    assert json.loads((a / "corpus.json").read_text())["summary"]["written"] == 0
    # resume: what an interrupted run leaves (its marker, some files) is completed, the files kept as they are
    settings = json.loads((a / "corpus.json").read_text())["settings"]
    (a / "corpus.json").unlink()
    (a / ".corpus-partial.json").write_text(json.dumps({"settings": settings}))
    lost = a / manifest(a)[1]["file"]
    lost.unlink()
    res = corpus(mirror, a, reserved)
    assert res.exit_code == 0, res.output
    summary = json.loads((a / "corpus.json").read_text())["summary"]
    assert (summary["written"], summary["kept"]) == (1, 2) and lost.is_file()
    assert not (a / ".corpus-partial.json").exists()
    # other settings on the same folder: refused without --force, rebuilt with it
    assert "--force" in one_line_error(corpus(mirror, a, reserved, "--max-works", "2"))
    res = corpus(mirror, a, reserved, "--max-works", "2", "--force")
    assert res.exit_code == 0, res.output
    rows = manifest(a)
    assert len(rows) == 2 and {r["person_id"] for r in rows} == {"000100", "000200"}   # spread over the authors
    assert sorted(f.name for f in a.glob("*.txt")) == sorted(r["file"] for r in rows)


def test_a_git_snapshot_reads_like_the_folder(mirror, reserved, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(mirror, repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "snapshot"], check=True)
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert corpus(mirror, tmp_path / "dir", reserved).exit_code == 0
    res = corpus(bare, tmp_path / "git", reserved)
    assert res.exit_code == 0, res.output
    d, g = manifest(tmp_path / "dir"), manifest(tmp_path / "git")
    assert [r["commit"] for r in g] == [commit] * len(g)
    assert [{**r, "commit": ""} for r in g] == d
    assert skipped(tmp_path / "dir") == skipped(tmp_path / "git")


CATALOGUE = ["作品ID", "作品名", "作品著作権フラグ", "分類番号", "人物ID", "姓", "名", "役割フラグ", "生年月日", "没年月日", "人物著作権フラグ"]


def test_the_catalogue_decides_copyright_genre_and_death_year(mirror, reserved, tmp_path):
    rows = [["000010", "雨の町", "なし", "NDC 913", "000100", "山田", "太郎", "著者", "1880-01-01", "1931-05-02", "なし"],
            ["000011", "風の町", "なし", "NDC 914", "000100", "山田", "太郎", "著者", "1880-01-01", "1931-05-02", "なし"],
            ["000020", "川の宿", "あり", "NDC 913", "000200", "鈴木", "花子", "著者", "1900-01-01", "1980-01-01", "あり"],
            ["000021", "歌集", "なし", "NDC K913", "000200", "鈴木", "花子", "著者", "1900-01-01", "1950-01-01", "なし"],
            ["000022", "対話", "なし", "NDC 913", "000200", "鈴木", "花子", "著者", "", "1950-01-01", "なし"],
            ["000022", "対話", "なし", "NDC 913", "000500", "田中", "一", "翻訳者", "", "1960-01-01", "なし"],
            ["000031", "新しい話", "なし", "NDC 913", "000300", "高橋", "三郎", "著者", "", "1940-03-03", "なし"],
            ["000031", "新しい話", "なし", "NDC 913", RESERVED_PERSON, "某", "氏", "校訂者", "", "", "なし"]]
    buf = io.StringIO()
    csv.writer(buf).writerows([CATALOGUE, *rows])
    index = tmp_path / "list_person_all_extended_utf8.csv"
    index.write_text(buf.getvalue(), encoding="utf-8-sig")
    res = corpus(mirror, tmp_path / "c", reserved, "--index", str(index))
    assert res.exit_code == 0, res.output
    got = {r["work_id"]: r["author_death_year"] for r in manifest(tmp_path / "c")}
    # 21 is verse by its text, but the catalogue files it as fiction (K913, for children): the catalogue decides
    assert got == {"10": "1931", "21": "1950"}
    why = skipped(tmp_path / "c")
    assert why["11_ruby_30"] == "not fiction (NDC 914: essays)"
    assert why["20_ruby_40"] == "in copyright (作品著作権フラグ あり)" and why["22_ruby_42"] == "translation"
    assert why["32_ruby_52"] == "not in the --index catalogue"
    assert "31_ruby_51" not in why                      # a reserved person among its makers: counted, not listed
    summary = json.loads((tmp_path / "c" / "corpus.json").read_text())["summary"]
    assert summary["skipped"]["reserved author"] == 2
    # the zip Aozora ships works as the csv
    z = tmp_path / "list_person_all_extended_utf8.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(index, index.name)
    res = corpus(mirror, tmp_path / "z", reserved, "--index", str(z))
    assert res.exit_code == 0, res.output
    assert manifest(tmp_path / "z") == manifest(tmp_path / "c")


def test_exclude_leaves_out_a_manifest_s_works(mirror, reserved, tmp_path):
    assert corpus(mirror, tmp_path / "first", reserved, "--max-works", "1").exit_code == 0
    res = corpus(mirror, tmp_path / "rest", reserved, "--exclude", str(tmp_path / "first"))
    assert res.exit_code == 0, res.output
    first = {r["work_id"] for r in manifest(tmp_path / "first")}
    rest = {r["work_id"] for r in manifest(tmp_path / "rest")}
    assert len(first) == 1 and first.isdisjoint(rest) and len(rest) == 2
    # --max-works samples are nested: a larger N holds every work of a smaller one
    assert corpus(mirror, tmp_path / "two", reserved, "--max-works", "2").exit_code == 0
    assert first <= {r["work_id"] for r in manifest(tmp_path / "two")}


def test_bad_paths_and_files_are_one_line_errors(mirror, reserved, tmp_path):
    out = tmp_path / "out"
    assert "no such folder" in one_line_error(corpus(tmp_path / "nowhere", out, reserved))
    (tmp_path / "plain").mkdir()
    assert "neither a cards/ folder nor a git repository" in one_line_error(corpus(tmp_path / "plain", out, reserved))
    assert "no such file" in one_line_error(corpus(mirror, out, tmp_path / "no.sha256"))
    bad = tmp_path / "bad.sha256"
    bad.write_text("0" * 64 + "\nnot-a-hash\n")
    assert "line 2" in one_line_error(corpus(mirror, out, bad))
    idx = tmp_path / "idx.csv"
    idx.write_text("作品ID,作品名\n1,x\n", encoding="utf-8")
    assert "lacks the column" in one_line_error(corpus(mirror, out, reserved, "--index", str(idx)))
    idx.write_bytes(b"\xff\xfe\x00garbage")
    assert "--index" in one_line_error(corpus(mirror, out, reserved, "--index", str(idx)))
    assert "--exclude" in one_line_error(corpus(mirror, out, reserved, "--exclude", str(tmp_path / "plain")))
    assert "--min-chars" in one_line_error(corpus(mirror, out, reserved, "--min-chars", "-1"))
    assert "--max-works" in one_line_error(corpus(mirror, out, reserved, "--max-works", "-3"))
    # an existing folder that is not a corpus is never written into
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert "not a corpus" in one_line_error(corpus(mirror, busy, reserved))
    assert (busy / "notes.txt").read_text() == "mine" and len(list(busy.iterdir())) == 1
    assert "inside MIRROR" in one_line_error(corpus(mirror, mirror / "out", reserved))
    assert not out.exists()


def test_help_explains_every_option():
    res = runner.invoke(app, ["corpus", "aozora", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    for opt in ("--output", "--index", "--reserved", "--exclude", "--min-chars", "--max-works", "--force"):
        assert opt in text
    assert "Default" in text or "default" in text
