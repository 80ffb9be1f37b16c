"""`seg corpus aozora`: a corpus folder of prose works from a local snapshot of the
aozorahack/aozorabunko_text mirror, in the layout of the shared corpus (one UTF-8 file per
work, `<person ID>_<file folder>.txt`, and a MANIFEST.tsv), which `seg prep` reads unchanged.

Nothing is downloaded: MIRROR is a clone's work tree, a folder holding its `cards/`, or a bare
git repository of it (as `fetch` brings it); git repositories are read with `git cat-file
--batch`, the whole mirror (17,436 files, 558 MB of Shift_JIS) in under a minute.

Each file passes the rules of RULES in order; the first it fails is its reason to be skipped
(SKIPPED.tsv, and the table printed at the end). Works of the reserved authors (the sha256 of
their Aozora person ID, the 6-digit folder under cards/, listed in --reserved) are skipped
first and never listed by path or person: only their number is reported.

The mirror holds no catalogue. With --index (Aozora Bunko's own list_person_all_extended_utf8.csv,
or the .zip it ships in) the catalogue decides copyright (作品著作権フラグ), translations
(役割フラグ 翻訳者), genre (分類番号: NDC 913, fiction, is kept; 911 verse, 912 plays, 914
essays, 915 diaries and letters and the rest are not) and the author's death year. Without
it, the text decides, by rules that say what they cannot see: a rights holder's licence in the
footer (著作権者 / クリエイティブ・コモンズ) is "in copyright"; a header line ending in 訳 is
a translation; verse is a body whose lines are mostly short and unpunctuated; a play is a body
whose lines mostly open with a speaker's name; essays, diaries and letters cannot be told from
fiction by their text and are kept (the README says so).

The output is resumable: each work is written atomically and a re-run keeps the files it
already wrote (same bytes) and writes the rest; MANIFEST.tsv, SKIPPED.tsv and corpus.json
(the settings and counts) are written last. The selection is deterministic: the same mirror
and settings give the same files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import zipfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .aozora import parse_aozora, split_header
from .documents import JAPANESE_SHARE, japanese_share
from .errors import SegError
from .fsutil import naming, write_json_atomic, write_text_atomic
from .progress import console, progress
from .reader import UnreadableFile, decode
from .settings import CorpusConfig

SOURCE_REPO = "aozorahack/aozorabunko_text"
# the project's list of reserved authors: beside the clone, as the shared corpus is
DEFAULT_RESERVED = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "reserved-authors.sha256"


@dataclass
class Entry:
    """One text file of the mirror."""
    path: str            # cards/<person>/files/<folder>/<folder>.txt
    person: str
    folder: str
    work: int | None     # Aozora's work ID (the folder's leading number)
    kind: str            # ruby | txt | other
    file_id: int
    blob: str | None     # git object id (git mirrors)


@dataclass
class Work:
    entry: Entry
    title: str
    author: str
    chars: int
    encoding: str
    death_year: str = ""


# ----------------------------------------------------------------------------- reading the mirror

# the mirror's layout: cards/<person id>/files/<work id>_<ruby|txt>[_<edition>]/
_FOLDER = re.compile(r"^(\d+)_(ruby|txt)(?:_(\d+))?$")


class Mirror:
    """The text files under cards/ of a mirror: from a folder or from git objects."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise SegError(f"MIRROR {self.path}: no such folder; give the path of a clone or snapshot of {SOURCE_REPO}")
        if not self.path.is_dir():
            raise SegError(f"MIRROR {self.path}: not a folder; give the path of a clone or snapshot of {SOURCE_REPO}")
        self.git_dir: Path | None = None
        if (self.path / "cards").is_dir():
            self.commit = self._git("rev-parse", "HEAD", git_dir=self.path / ".git", quiet=True) \
                if (self.path / ".git").exists() else ""
        else:
            git_dir = self.path / ".git" if (self.path / ".git").is_dir() else self.path
            if not ((git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir()):
                raise SegError(f"MIRROR {self.path}: neither a cards/ folder nor a git repository; give the path of "
                               f"a clone or snapshot of {SOURCE_REPO}")
            self.git_dir = git_dir
            self.commit = self._git("rev-parse", "HEAD")

    def _git(self, *args: str, git_dir: Path | None = None, quiet: bool = False) -> str:
        try:
            out = subprocess.run(["git", "--git-dir", str(git_dir or self.git_dir), *args], capture_output=True,
                                 text=True, check=True)
        except FileNotFoundError:
            raise SegError(f"MIRROR {self.path}: reading a git repository needs the git program; install git, "
                           f"or give a checked-out folder holding cards/") from None
        except subprocess.CalledProcessError as e:
            if quiet:
                return ""
            raise SegError(f"MIRROR {self.path}: git {args[0]} failed ({e.stderr.strip().splitlines()[-1:] or '?'}); "
                           f"give an intact clone or snapshot of {SOURCE_REPO}") from None
        return out.stdout.strip()

    def entries(self) -> list[Entry]:
        if self.git_dir is not None:
            listing = self._git("ls-tree", "-r", "HEAD", "cards")
            rows = []
            for line in listing.splitlines():
                meta, _, path = line.partition("\t")
                parts = meta.split()
                if len(parts) == 3 and parts[1] == "blob":
                    rows.append((path, parts[2]))
        else:
            rows = [(p.relative_to(self.path).as_posix(), None) for p in (self.path / "cards").glob("*/files/*/*")
                    if p.is_file()]
        out = []
        for path, blob in sorted(rows):
            parts = path.split("/")
            if len(parts) != 5 or parts[2] != "files" or not parts[4].lower().endswith(".txt"):
                continue
            person, folder = parts[1], parts[3]
            m = _FOLDER.match(folder)
            out.append(Entry(path, person, folder, int(m.group(1)) if m else None, m.group(2) if m else "other",
                             int(m.group(3) or 0) if m else 0, blob))
        if not out:
            raise SegError(f"MIRROR {self.path}: holds no cards/<person>/files/<work>/<work>.txt files; give a clone "
                           f"or snapshot of {SOURCE_REPO}")
        return out

    def read(self, entries: list[Entry]) -> Iterator[tuple[Entry, bytes]]:
        """The bytes of each entry, in order."""
        if self.git_dir is None:
            for e in entries:
                try:
                    yield e, (self.path / e.path).read_bytes()
                except OSError as err:
                    raise SegError(f"{self.path / e.path}: cannot read ({err.strerror}); check the mirror") from None
            return
        proc = subprocess.Popen(["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            # feed the ids from a thread-free pipe in chunks: write a chunk, read its answers
            for i in range(0, len(entries), 256):
                chunk = entries[i:i + 256]
                proc.stdin.write("".join(f"{e.blob}\n" for e in chunk).encode())
                proc.stdin.flush()
                for e in chunk:
                    header = proc.stdout.readline().split()
                    if len(header) != 3:
                        raise SegError(f"MIRROR {self.path}: object {e.blob} of {e.path} is missing; "
                                       f"give an intact clone or snapshot of {SOURCE_REPO}")
                    data = proc.stdout.read(int(header[2]))
                    proc.stdout.read(1)
                    yield e, data
        finally:
            proc.stdin.close()
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------- lists the rules read

# a line of the reserved-authors list
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def load_reserved(spec: str | None) -> set[str]:
    if spec == "none":
        return set()
    path = Path(spec) if spec else DEFAULT_RESERVED
    if not path.is_file():
        raise SegError(f"--reserved {path}: no such file; give the list of reserved authors' sha256 hashes "
                       f"(one per line), or --reserved none to reserve nobody")
    hashes = set()
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip().lower()
        if not line or line.startswith("#"):
            continue
        if not _SHA256.match(line):
            raise SegError(f"--reserved {path}: line {n} is not a sha256 hash (64 hex digits); fix or remove it")
        hashes.add(line)
    return hashes


def is_reserved(person: str, reserved: set[str]) -> bool:
    return hashlib.sha256(person.encode("ascii", "replace")).hexdigest() in reserved


def load_excluded(specs: list[str]) -> dict[int, str]:
    """Work ID -> the manifest that holds it (a work is left out in every edition)."""
    out: dict[int, str] = {}
    for spec in specs:
        path = Path(spec)
        path = path / "MANIFEST.tsv" if path.is_dir() else path
        if not path.is_file():
            raise SegError(f"--exclude {spec}: no MANIFEST.tsv there; give a corpus folder or its MANIFEST.tsv")
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows and "source_path" not in rows[0]:
            raise SegError(f"--exclude {path}: has no source_path column; give a MANIFEST.tsv of the shared corpus "
                           f"or of `seg corpus aozora`")
        for row in rows:
            folder = (row.get("source_path") or "").split("/")
            m = _FOLDER.match(folder[3]) if len(folder) == 5 else None
            if m:
                out[int(m.group(1))] = str(path)
    return out


@dataclass
class Catalogue:
    """Aozora Bunko's list_person_all_extended_utf8.csv: per work, its copyright flag, NDC
    classes and the people (role, person ID, death year) who made it."""
    works: dict[int, dict]

    COLUMNS = ("作品ID", "作品著作権フラグ", "分類番号", "人物ID", "役割フラグ", "没年月日")

    @classmethod
    def load(cls, spec: str) -> "Catalogue":
        path = Path(spec)
        if not path.is_file():
            raise SegError(f"--index {spec}: no such file; give Aozora Bunko's list_person_all_extended_utf8.csv "
                           f"(or the .zip it ships in)")
        try:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    names = [n for n in z.namelist() if n.lower().endswith(".csv")]
                    if not names:
                        raise SegError(f"--index {spec}: the zip holds no .csv file; give list_person_all_extended_utf8.zip")
                    raw = z.read(names[0])
            else:
                raw = path.read_bytes()
            text = raw.decode("utf-8-sig")
        except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as e:
            raise SegError(f"--index {spec}: cannot be read as a UTF-8 CSV ({e}); give list_person_all_extended_utf8.csv") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in cls.COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SegError(f"--index {spec}: lacks the column(s) {', '.join(missing)}; give Aozora Bunko's "
                           f"list_person_all_extended_utf8.csv")
        works: dict[int, dict] = {}
        for n, row in enumerate(reader, 2):
            try:
                wid = int(row["作品ID"])
            except (TypeError, ValueError):
                raise SegError(f"--index {spec}: line {n}: 作品ID {row.get('作品ID')!r} is not a number; "
                               f"give an unaltered list_person_all_extended_utf8.csv") from None
            w = works.setdefault(wid, {"copyright": (row["作品著作権フラグ"] or "").strip(),
                                       "ndc": (row["分類番号"] or "").strip(), "people": []})
            death = re.match(r"\s*(\d{4})", row["没年月日"] or "")
            w["people"].append(((row["人物ID"] or "").strip().zfill(6), (row["役割フラグ"] or "").strip(),
                                death.group(1) if death else ""))
        return cls(works)


# ----------------------------------------------------------------------------- the rules

# what does not count towards a work's body characters: notes, readings, ruby markers
_MARKUP = re.compile(r"［＃[^］]*］|《[^》]*》|｜")
# a play's line: a short speaker name, then a space or an opening bracket
_SPEAKER = re.compile(r"^[^\u3000 \t「」『』（）()。、，,.…―]{1,8}(?:[\u3000 ]+[^\u3000 ]|「)")


def _body_lines(text: str) -> list[str]:
    from .aozora import footer_start

    lines = text.split("\n")
    _, start = split_header(lines)
    end = footer_start(lines)
    return [l for l in lines[start:end] if l.strip(" \t\u3000")]


def text_genre(text: str, paragraphs: list[str]) -> str | None:
    """verse or play when the body says so (see the module docstring), else None (prose)."""
    if not paragraphs:
        return None
    short = sum(len(p) <= 30 and "。" not in p for p in paragraphs) / len(paragraphs)
    if short >= 0.6:
        return "verse (most lines short and unpunctuated)"
    body = [_MARKUP.sub("", l) for l in _body_lines(text)]
    speakers = sum(bool(_SPEAKER.match(l)) for l in body) / max(len(body), 1)
    if speakers >= 0.3:
        return "play (most lines open with a speaker's name)"
    return None


NDC_KEEP = "913"
NDC_NAMES = {"911": "verse", "912": "plays", "914": "essays", "915": "diaries and letters", "916": "reportage",
             "917": "aphorisms", "918": "collections", "919": "Chinese-style writing"}


def catalogue_reason(entry: Entry, cat: Catalogue, reserved: set[str]) -> tuple[str | None, str]:
    """(reason to skip or None, the author's death year) by the catalogue."""
    w = cat.works.get(entry.work) if entry.work is not None else None
    if w is None:
        return "not in the --index catalogue", ""
    if any(is_reserved(pid, reserved) for pid, _, _ in w["people"]):
        return "reserved author", ""
    if w["copyright"] != "なし":
        return f"in copyright (作品著作権フラグ {w['copyright'] or 'empty'})", ""
    if any(role == "翻訳者" for _, role, _ in w["people"]):
        return "translation", ""
    codes = re.findall(r"K?(\d{3})", w["ndc"])
    if NDC_KEEP not in codes:
        code = codes[0] if codes else ""
        return f"not fiction (NDC {code or 'none'}{': ' + NDC_NAMES[code] if code in NDC_NAMES else ''})", ""
    death = next((d for pid, role, d in w["people"] if pid == entry.person and d), "") or \
        next((d for _, role, d in w["people"] if role == "著者" and d), "")
    return None, death


# what marks a work as still under copyright or under a licence other than the public domain
_LICENCE = re.compile(r"著作権者|クリエイティブ・コモンズ|Creative Commons|creativecommons\.org")
# a name in the header followed by 訳 (translator): a translation, not a Japanese novel
_TRANSLATOR = re.compile(r"(?:訳|譯)(?:[）)])?$")


def analyse(entry: Entry, data: bytes, cfg: CorpusConfig, cat: Catalogue | None,
            reserved: set[str], excluded: dict[int, str]) -> tuple[str | None, Work | None]:
    """(reason to skip, None) or (None, the work) for one file."""
    if is_reserved(entry.person, reserved):
        return "reserved author", None
    if entry.work is None:
        return "not a work's text (folder name without a work ID)", None
    if entry.work in excluded:
        return "excluded (--exclude)", None
    death = ""
    if cat is not None:
        reason, death = catalogue_reason(entry, cat, reserved)
        if reason:
            return reason, None
    try:
        text, encoding = decode(data, entry.path)
    except UnreadableFile as e:
        return f"unreadable ({str(e).split(': ', 1)[-1].split(';')[0]})", None
    lines = text.split("\n")
    header, _ = split_header(lines)
    title, author, paragraphs, _ = parse_aozora(text)
    if cat is None:
        if _LICENCE.search("\n".join(lines[-60:])):
            return "in copyright (a rights holder's licence in the footer)", None
        if any(_TRANSLATOR.search(h.strip()) for h in header[1:]):
            return "translation", None
        genre = text_genre(text, paragraphs)
        if genre:
            return genre, None
    share, letters = japanese_share(paragraphs)
    if letters >= 20 and share < JAPANESE_SHARE:
        return f"hardly Japanese (under {JAPANESE_SHARE:.0%} of its letters kana or kanji)", None
    chars = sum(map(len, paragraphs))
    if chars < cfg.min_chars:
        return f"short (under --min-chars {cfg.min_chars:,})", None
    return None, Work(entry, title, author, chars, encoding, death)


def one_edition(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(kept, other editions): one file per work ID, the ruby edition before the plain one,
    then the newest file ID."""
    best: dict[int, Entry] = {}
    for e in entries:
        if e.work is None:
            continue
        key = (e.kind == "ruby", e.file_id, e.path)
        cur = best.get(e.work)
        if cur is None or key > (cur.kind == "ruby", cur.file_id, cur.path):
            best[e.work] = e
    keep = {id(e) for e in best.values()}
    return ([e for e in entries if e.work is None or id(e) in keep],
            [e for e in entries if e.work is not None and id(e) not in keep])


def _draw(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def round_robin(works: list[Work], n: int) -> list[Work]:
    """n works spread over as many authors as possible: authors in turns, each author's works
    in a fixed pseudo-random order (the sha256 of the path), so the sample is neither the
    longest nor the shortest works and the same on every run."""
    if not n or n >= len(works):
        return works
    by_author: dict[str, list[Work]] = defaultdict(list)
    for w in sorted(works, key=lambda w: _draw(w.entry.path)):
        by_author[w.entry.person].append(w)
    order = sorted(by_author, key=_draw)
    chosen: list[Work] = []
    depth = 0
    while len(chosen) < n:
        for p in order:
            if depth < len(by_author[p]) and len(chosen) < n:
                chosen.append(by_author[p][depth])
        depth += 1
    return sorted(chosen, key=lambda w: w.entry.path)


# ----------------------------------------------------------------------------- the command

MANIFEST_COLUMNS = ("file", "title", "author", "author_death_year", "bytes", "source_repo", "source_path", "commit",
                    "person_id", "work_id", "chars")


def file_name(e: Entry) -> str:
    return f"{e.person}_{e.folder}.txt"


def _settings(cfg: CorpusConfig, mirror: Mirror, reserved: set[str]) -> dict:
    s = asdict(cfg)
    s.pop("force")
    s.pop("output")
    s["mirror_commit"] = mirror.commit
    s["reserved"] = hashlib.sha256("\n".join(sorted(reserved)).encode()).hexdigest()[:16]
    return s


def _open_output(out: Path, settings: dict, force: bool) -> None:
    """Refuse an output folder that is not this corpus (or an interrupted run of it) unless --force."""
    marker = out / "corpus.json"
    partial = out / ".corpus-partial.json"
    if out.exists() and not out.is_dir():
        raise SegError(f"--output {out}: is a file; give a folder for the corpus")
    if out.is_dir() and any(out.iterdir()):
        known = None
        for f in (marker, partial):
            if f.is_file():
                try:
                    known = json.loads(f.read_text(encoding="utf-8")).get("settings")
                except (OSError, json.JSONDecodeError):
                    known = {}
                break
        if known is None and not force:
            raise SegError(f"--output {out}: exists and is not a corpus of `seg corpus aozora`; "
                           f"choose another --output or pass --force to replace its .txt files")
        if known is not None and known != settings and not force:
            raise SegError(f"--output {out}: was written with other settings; pass --force to rebuild it, "
                           f"or choose another --output")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(partial, {"settings": settings})


def build_corpus(cfg: CorpusConfig) -> dict:
    """Build the corpus folder; return its summary (counts by reason, works, characters)."""
    if cfg.min_chars < 0:
        raise SegError(f"--min-chars {cfg.min_chars}: give 0 or a positive number of characters")
    if cfg.max_works < 0:
        raise SegError(f"--max-works {cfg.max_works}: give 0 (every work that passes) or a positive number")
    mirror = Mirror(Path(cfg.mirror))
    reserved = load_reserved(cfg.reserved)
    excluded = load_excluded(cfg.exclude)
    cat = Catalogue.load(cfg.index) if cfg.index else None
    out = Path(cfg.output)
    if out.resolve() == mirror.path.resolve() or mirror.path.resolve() in out.resolve().parents:
        raise SegError(f"--output {out}: lies inside MIRROR; choose a folder outside the mirror")
    settings = _settings(cfg, mirror, reserved)
    _open_output(out, settings, cfg.force)

    entries = mirror.entries()
    # reserved authors first: their files are never read, decoded or listed
    n_reserved = sum(is_reserved(e.person, reserved) for e in entries)
    entries = [e for e in entries if not is_reserved(e.person, reserved)]
    entries, others = one_edition(entries)
    reasons: Counter = Counter({"reserved author": n_reserved} if n_reserved else {})
    skipped: list[tuple[str, str]] = [(e.path, "another edition of the same work kept") for e in others]
    reasons["another edition of the same work kept"] += len(others)
    works: list[Work] = []
    with progress() as bar:
        task = bar.add_task("select works", total=len(entries), unit="files")
        for e, data in mirror.read(entries):
            reason, work = analyse(e, data, cfg, cat, reserved, excluded)
            if reason:
                reasons[reason.split(" (")[0] if reason.startswith("unreadable") else reason] += 1
                if reason != "reserved author":
                    skipped.append((e.path, reason))
            else:
                works.append(work)
            bar.advance(task)
    chosen = round_robin(works, cfg.max_works)
    if len(chosen) < len(works):
        reasons[f"beyond --max-works {cfg.max_works:,}"] += len(works) - len(chosen)
        keep = {id(w) for w in chosen}
        skipped += [(w.entry.path, f"beyond --max-works {cfg.max_works:,}") for w in works if id(w) not in keep]
    if not chosen:
        raise SegError(f"MIRROR {mirror.path}: no work passed the rules (see the counts above); "
                       f"lower --min-chars or check --index and --exclude")

    by_path = {w.entry.path: w for w in chosen}
    names = {file_name(w.entry) for w in chosen}
    if cfg.force:   # a rebuild with other settings: works no longer chosen go
        for f in out.glob("*.txt"):
            if f.name not in names:
                f.unlink()
    rows, written = [], 0
    with progress() as bar:
        task = bar.add_task("write works", total=len(chosen), unit="works")
        for e, data in mirror.read([w.entry for w in chosen]):
            w = by_path[e.path]
            # the file as it is, in UTF-8: header, markup and footer kept (Aozora asks that the
            # 底本 and credits travel with the text), line endings as they were
            text = data.decode("utf-8-sig" if w.encoding == "utf-8" else w.encoding)
            body = text.encode("utf-8")
            target = out / file_name(e)
            if not (target.is_file() and target.stat().st_size == len(body) and target.read_bytes() == body):
                write_bytes_atomic(target, body)
                written += 1
            rows.append({"file": target.name, "title": w.title, "author": w.author,
                         "author_death_year": w.death_year, "bytes": len(body), "source_repo": SOURCE_REPO,
                         "source_path": e.path, "commit": mirror.commit, "person_id": e.person,
                         "work_id": e.work, "chars": w.chars})
            bar.advance(task)
    write_text_atomic(out / "MANIFEST.tsv", _tsv(MANIFEST_COLUMNS, rows))
    write_text_atomic(out / "SKIPPED.tsv", _tsv(("source_path", "reason"), [
        {"source_path": p, "reason": r} for p, r in sorted(skipped)]))
    summary = {"works": len(rows), "authors": len({r["person_id"] for r in rows}),
               "chars": sum(r["chars"] for r in rows), "written": written, "kept": len(rows) - written,
               "files_in_mirror": len(entries) + len(others) + n_reserved,
               "skipped": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))}
    write_json_atomic(out / "corpus.json", {"settings": settings, "summary": summary})
    (out / ".corpus-partial.json").unlink(missing_ok=True)
    return summary


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with naming(path):
            tmp.write_bytes(data)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _tsv(columns, rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), delimiter="\t", lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def print_summary(summary: dict, output: Path) -> None:
    from rich.table import Table

    t = Table(title=f"{summary['files_in_mirror']:,} files of the mirror")
    t.add_column("skipped because")
    t.add_column("files", justify="right")
    for reason, n in summary["skipped"].items():
        t.add_row(reason, f"{n:,}")
    console.print(t)
    console.print(f"corpus written to [bold]{output}[/]: {summary['works']:,} works by {summary['authors']:,} authors, "
                  f"{summary['chars']:,} characters ({summary['written']:,} files written, {summary['kept']:,} kept "
                  f"from an earlier run); feed it to `seg prep {output}`")
