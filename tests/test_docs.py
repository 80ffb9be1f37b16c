"""The user docs: README.md and docs/*.md stay navigable and their generated parts stay current.

- the README stays short and starts with the two commands CI and users run;
- docs/ has a page per topic;
- every relative link and #anchor (GitHub-style heading slugs) in README.md and docs/ resolves;
- `scripts/gen_docs.py --check` passes: the option tables match `cli.app`, the results tables
  match docs/results/*.md, and a stale page (an altered default, an altered figure) fails it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_docs"] = mod            # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


gen_docs = _gen_docs()


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


# ----------------------------------------------------------------------------- markdown reading

FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    out, fenced = [], False
    for ln in text.splitlines():
        if FENCE.match(ln):
            fenced = not fenced
            continue
        if not fenced:
            out.append(ln)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: the rendered text lower-cased, punctuation dropped
    (letters, digits, _, - and spaces stay, any script), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # links and images: their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for ln in prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", ln)
        if not m:
            continue
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(path: Path) -> list[str]:
    out = []
    for ln in prose_lines(path.read_text(encoding="utf-8")):
        ln = re.sub(r"``.*?``|`[^`]*`", "", ln)                      # inline code is not a link
        out += LINK.findall(ln)
    return out


# ----------------------------------------------------------------------------- the README

def test_readme_is_short_and_starts_with_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    block = re.search(r"^```sh\n(.*?)^```", text, re.S | re.M)
    assert block, "the README has no ```sh block"
    commands = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert commands[:2] == ["make demo", "make test"]
    # nothing but a title before that block
    before = text[:block.start()].strip().splitlines()
    assert len(before) == 1 and before[0].startswith("# ")


def test_docs_has_a_page_per_topic():
    names = {p.name for p in DOCS.glob("*.md")}
    assert len(names) >= 8
    for page in ("prep", "embed", "train", "report", "segment", "models", "results", "benchmarks",
                 "reliability", "scale", "api", "development"):
        assert f"{page}.md" in names


def test_readme_maps_every_page():
    readme_links = {link.split("#")[0] for link in links(REPO / "README.md")}
    for p in DOCS.glob("*.md"):
        assert f"docs/{p.name}" in readme_links, f"README's map lacks docs/{p.name}"


def test_no_workshop_talk_in_the_user_docs():
    """History of how the docs were made stays out of them (what was tried: results.md's
    'What did not help')."""
    banned = re.compile(r"\bissue \d+|this session|earlier session|device tool|not drawn", re.I)
    for p in pages():
        hits = [ln for ln in p.read_text(encoding="utf-8").splitlines() if banned.search(ln)]
        assert not hits, f"{p.relative_to(REPO)}: {hits[:3]}"


# ----------------------------------------------------------------------------- links

def test_slugs_follow_github():
    assert slug("1. `seg prep`: novels → labelled sentences") == "1-seg-prep-novels--labelled-sentences"
    assert slug("By author (unseen authors)") == "by-author-unseen-authors"
    assert slug("What \"reproducible\" means for the cache") == "what-reproducible-means-for-the-cache"
    assert slug("Projection (not measured): all of Aozora Bunko") == "projection-not-measured-all-of-aozora-bunko"


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):          # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no {path})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_link_check_catches_what_is_broken(tmp_path):
    (tmp_path / "b.md").write_text("# B\n\n## Two words\n\n```sh\n# not a heading\n```\n", encoding="utf-8")
    page = tmp_path / "a.md"
    page.write_text("# A\n\n[ok](b.md#two-words) [self](#a) [web](https://example.com/x#y) `[code](nowhere.md)`\n"
                    "[gone](c.md) [bad anchor](b.md#three) [code heading](b.md#not-a-heading) [bad self](#b)\n",
                    encoding="utf-8")
    assert broken_links(page) == ["c.md (no c.md)", "b.md#three (no heading #three in b.md)",
                                  "b.md#not-a-heading (no heading #not-a-heading in b.md)",
                                  "#b (no heading #b in a.md)"]


# ----------------------------------------------------------------------------- generated parts

def test_generated_parts_are_current():
    """`scripts/gen_docs.py --check`, as a user runs it."""
    r = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_command_and_report_has_its_generated_part():
    specs = set()
    for p in pages():
        specs |= set(re.findall(r"^<!-- BEGIN GENERATED: (.+?) -->$", p.read_text(encoding="utf-8"), re.M))
    for name in gen_docs.commands():
        assert f"options seg {name}" in specs
    for name in gen_docs.REPORTS:
        assert f"results {name}" in specs
    assert "headline" in specs


def test_option_tables_come_from_cli_app():
    """Every option of `seg train` appears in docs/train.md with its default as the command has it."""
    import typer

    import cli

    train = typer.main.get_command(cli.app).commands["train"]
    text = (DOCS / "train.md").read_text(encoding="utf-8")
    for p in train.params:
        if p.param_type_name != "option":
            continue
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{p.opts[0]}`")), None)
        assert row, f"{p.opts[0]} has no row in docs/train.md"
        if p.default is not None and not isinstance(p.default, bool):
            assert f"`{p.default}`" in row.split("|")[3]


def _copy_tree(tmp: Path) -> Path:
    root = tmp / "repo"
    (root / "bench").mkdir(parents=True)
    shutil.copy(REPO / "README.md", root / "README.md")
    shutil.copy(REPO / "bench" / "quality.sh", root / "bench" / "quality.sh")
    shutil.copytree(DOCS, root / "docs", ignore=shutil.ignore_patterns("*.png", "*.py"))
    pre = root / gen_docs.PRETRAINED
    pre.mkdir(parents=True)
    shutil.copy(REPO / gen_docs.PRETRAINED / "metrics.json", pre / "metrics.json")
    return root


def test_check_fails_when_an_option_default_is_altered(tmp_path, capsys):
    root = _copy_tree(tmp_path)
    assert gen_docs.main(["--check", "--root", str(root)]) == 0
    page = root / "docs" / "train.md"
    text = page.read_text(encoding="utf-8")
    assert "| `--epochs` | int | `15` |" in text
    page.write_text(text.replace("| `--epochs` | int | `15` |", "| `--epochs` | int | `20` |"), encoding="utf-8")
    capsys.readouterr()
    assert gen_docs.main(["--check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "docs/train.md: options seg train" in out and "README.md" not in out
    # without --check it rewrites the page, and the check passes again
    assert gen_docs.main(["--root", str(root)]) == 0
    assert "| `--epochs` | int | `15` |" in page.read_text(encoding="utf-8")
    assert gen_docs.main(["--check", "--root", str(root)]) == 0


def test_check_fails_when_a_report_disagrees_with_the_pages(tmp_path, capsys):
    root = _copy_tree(tmp_path)
    src = root / "docs" / "results" / "author.md"
    text = src.read_text(encoding="utf-8")
    assert "**0.676 ± 0.003**" in text
    src.write_text(text.replace("**0.676 ± 0.003**", "**0.690 ± 0.003**"), encoding="utf-8")
    capsys.readouterr()
    assert gen_docs.main(["--check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "docs/results.md: results author" in out and "README.md: headline" in out
    assert gen_docs.main(["--root", str(root)]) == 0
    assert "0.690 ± 0.003" in (root / "README.md").read_text(encoding="utf-8")
    assert "+0.101 F1" in (root / "README.md").read_text(encoding="utf-8")


def test_import_reports_keeps_the_tables_and_drops_the_figures(tmp_path, capsys):
    """bench/quality.sh's last step: ROOT/report-*/report.md -> docs/results/*.md -> the pages."""
    root = _copy_tree(tmp_path)
    reports = tmp_path / "cache"
    for name in gen_docs.REPORTS:
        text = (DOCS / "results" / f"{name}.md").read_text(encoding="utf-8")
        text += ("\n## Does the difference hold up?\n\nEach run against the reference run.\n\n| run | ΔF1 |\n|---|---:|\n"
                 "| x | +0.001 |\n\n## Where runs win and lose: F1 by gap type (test)\n\nGaps of each type.\n\n"
                 "![gap-types-test](gap-types-test.png)\n\n*F1 of each run*\n\n## Run x\n\n![x](x-training.png)\n")
        (reports / f"report-{name}").mkdir(parents=True)
        (reports / f"report-{name}" / "report.md").write_text(text, encoding="utf-8")
    assert gen_docs.main(["--root", str(root), "--import-reports", str(reports)]) == 0
    imported = (root / "docs" / "results" / "author.md").read_text(encoding="utf-8")
    assert "### test split" in imported and "## Does the difference hold up?" in imported
    assert "![" not in imported and "## Run x" not in imported
    results = (root / "docs" / "results.md").read_text(encoding="utf-8")
    assert "**Does the difference hold up?**" in results and "| x | +0.001 |" in results
    assert "](gap-types-test.png)" not in results
    assert gen_docs.main(["--check", "--root", str(root)]) == 0
