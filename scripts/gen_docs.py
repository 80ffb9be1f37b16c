"""Write the generated parts of README.md and docs/*.md; with --check, only say which are stale.

A generated part sits between two markers on lines of their own:

    <!-- BEGIN GENERATED: options seg train -->      every option of `seg train`, read from cli.app
    <!-- BEGIN GENERATED: results document -->       the tables of docs/results/document.md
    <!-- BEGIN GENERATED: results pretrained -->     the bundled run's test figures (its metrics.json)
    <!-- BEGIN GENERATED: headline -->               README's table: both splits' dev-chosen run and the rule
    <!-- BEGIN GENERATED: hostile -->                the hostile-input campaign's cases by category (tests/test_hostile.py)
    ...
    <!-- END GENERATED -->

Sources: the option tables come from the typer app (`cli.app`: each command's click parameters:
flags, type, default, help); the results tables from docs/results/<name>.md, the reports
`seg report --format md` writes, which bench/quality.sh copies there (--import-reports); the
`seg train` options of each system from bench/quality.sh's SYSTEMS list. Nothing in a generated
part is typed by hand: edit the source and re-run this script.

    python scripts/gen_docs.py                      rewrite every stale generated part
    python scripts/gen_docs.py --check              exit 1 naming each stale page and part
    python scripts/gen_docs.py --import-reports ROOT
        copy ROOT/report-<split>[-vectors]/report.md (bench/quality.sh's reports) to
        docs/results/<split>[-vectors].md, keeping the sections the docs use, then rewrite
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^<!-- BEGIN GENERATED: (.+?) -->$")
END = "<!-- END GENERATED -->"
# the reports bench/quality.sh writes, by the name they get under docs/results/
REPORTS = ("document", "author", "document-vectors", "author-vectors")
# the sections of a report kept under docs/results/ (the per-run plots and the document view stay behind)
KEPT_SECTIONS = ("Runs compared", "Does the difference hold up?", "Where runs win and lose")
SPLIT_LABEL = {"document": "by document (authors seen in training)", "author": "by author (unseen authors)"}
RULE = "baseline: bracket rule"


# ----------------------------------------------------------------------------- markdown pieces

def cell(text: str) -> str:
    """Text for a Markdown table cell: pipes escaped, and outside `code` spans < > & as entities
    (a bare <name> would be taken for an HTML tag and vanish on a code host)."""
    parts = text.replace("\n", " ").split("`")
    for k in range(0, len(parts), 2):
        parts[k] = parts[k].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


# ----------------------------------------------------------------------------- option tables

def commands() -> dict:
    """{name: click command} of the seg command line (imports cli.py: typer, no torch)."""
    sys.path.insert(0, str(REPO))
    import typer

    import cli

    out = {}
    for name, c in typer.main.get_command(cli.app).commands.items():
        if hasattr(c, "commands"):          # a group (seg corpus): its commands, as "corpus aozora"
            out.update({f"{name} {sub}": sc for sub, sc in c.commands.items()})
        else:
            out[name] = c
    return out


def _default(p) -> str:
    if p.required:
        return "required"
    d = p.default
    if d is None:
        return "—"
    if isinstance(d, bool):
        return "on" if d else "off"
    if isinstance(d, (list, tuple)):
        return "—" if not d else code(" ".join(map(str, d)))
    return code(str(d))


def _type(p, ctx) -> str:
    if getattr(p, "is_flag", False):
        return "flag"
    t = p.display_type(ctx) if hasattr(p, "display_type") else p.type.name
    t = str(t).strip("<>")
    return t + " …" if p.nargs == -1 else t


def options_table(command: str, cmds: dict | None = None) -> str:
    cmds = cmds if cmds is not None else commands()
    if command not in cmds:
        raise SystemExit(f"gen_docs: `seg {command}` is not a command of cli.app ({', '.join(cmds)})")
    c = cmds[command]
    ctx = c.context_class(c, info_name=command)
    rows = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for p in c.params:
        if getattr(p, "hidden", False):
            continue
        if p.param_type_name == "argument":
            flags = f"{code(p.name.upper())} (argument)"
        else:
            flags = ", ".join(code(o) for o in [*p.opts, *p.secondary_opts])
        rows.append(f"| {flags} | {_type(p, ctx)} | {_default(p)} | {cell(p.help or '')} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- reports

@dataclass
class Report:
    """What the docs read from one `seg report --format md` file."""
    name: str
    reference: str | None                  # the run chosen on dev (the report's reference)
    header: list[str]
    rows: list[list[str]]                  # the test split table, cells as written
    sections: dict[str, list[str]]         # "## title" -> its lines

    def row(self, name: str) -> list[str] | None:
        return next((r for r in self.rows if _plain(r[0]) == name), None)

    def value(self, row: list[str], column: str) -> str:
        return _plain(row[self.header.index(column)])


def _plain(s: str) -> str:
    return s.replace("**", "").replace("▲", "").strip().strip("*").strip()


def _table_after(lines: list[str], heading: str) -> list[list[str]]:
    """The rows (header first, alignment row dropped) of the first table after `heading`."""
    try:
        k = lines.index(heading)
    except ValueError:
        return []
    while k < len(lines) and not lines[k].startswith("|"):
        k += 1
    rows = []
    while k < len(lines) and lines[k].startswith("|"):
        rows.append(lines[k])
        k += 1
    return [_split_row(r) for r in rows[:1] + rows[2:]]


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def read_report(path: Path) -> Report:
    if not path.is_file():
        raise SystemExit(f"gen_docs: {path} is missing; run bench/quality.sh (or restore it from git)")
    lines = path.read_text(encoding="utf-8").splitlines()
    m = re.search(r"reference run chosen on `dev` \((.+?)\) ·", "\n".join(lines[:4]))
    sections: dict[str, list[str]] = {}
    cur = None
    for ln in lines:
        if ln.startswith("## "):
            cur = ln[3:].strip()
            sections[cur] = []
        elif cur is not None:
            sections[cur].append(ln)
    table = _table_after(lines, "### test split")
    if not table:
        raise SystemExit(f"gen_docs: {path} has no '### test split' table (is it a `seg report --format md` file?)")
    return Report(path.stem, m.group(1) if m else None, table[0], table[1:], sections)


def import_reports(root: Path, results: Path) -> list[Path]:
    """bench/quality.sh's report.md files -> docs/results/<name>.md: the sections the docs use,
    without the figures (their PNGs stay in the report directory)."""
    written = []
    for name in REPORTS:
        src = root / f"report-{name}" / "report.md"
        if not src.is_file():
            raise SystemExit(f"gen_docs: {src} is missing; bench/quality.sh writes it")
        out, keep = [], True
        for ln in src.read_text(encoding="utf-8").splitlines():
            if ln.startswith("## "):
                keep = ln[3:].startswith(KEPT_SECTIONS)
            if keep and not re.match(r"^!\[.*\]\(.*\)$", ln):
                out.append(ln)
        results.mkdir(parents=True, exist_ok=True)
        dst = results / f"{name}.md"
        dst.write_text("\n".join(out).rstrip("\n") + "\n", encoding="utf-8")
        written.append(dst)
    return written


def quality_systems(root: Path) -> dict[str, str]:
    """bench/quality.sh's SYSTEMS (the list and what FINETUNE=1 adds to it): run name (without the
    split) -> its `seg train` options."""
    text = (root / "bench" / "quality.sh").read_text(encoding="utf-8")
    blocks = re.findall(r"^\s*SYSTEMS\+?=\((.*?)^\s*\)", text, re.S | re.M)
    if not blocks:
        raise SystemExit("gen_docs: no SYSTEMS=( ... ) list in bench/quality.sh")
    return dict(re.findall(r'^\s*"([\w.-]+)\|([^"]*)"', "\n".join(blocks), re.M))


def _system(run: str, systems: dict[str, str]) -> tuple[str, str]:
    """(the system's name without its split prefix, its options)."""
    for split in SPLIT_LABEL:
        if run.startswith(split + "-") and run[len(split) + 1:] in systems:
            return run[len(split) + 1:], systems[run[len(split) + 1:]]
    return run, ""


def results_block(name: str, root: Path) -> str:
    rep = read_report(root / "docs" / "results" / f"{name}.md")
    systems = quality_systems(root)
    out = [f"From [results/{name}.md](results/{name}.md), the report `seg report --split test --format md` wrote "
           f"in the last `bench/quality.sh` run (re-run the script to regenerate). Reference run (best mean dev F1): "
           f"**{rep.reference or '?'}** ◀.", ""]
    out += ["| " + " | ".join(rep.header) + " |",
            "|" + "|".join("---" if k == 0 or not _numeric(rep.header[k]) else "---:" for k in range(len(rep.header))) + "|"]
    for r in rep.rows:
        r = list(r)
        if _plain(r[0]) == rep.reference:
            r[0] = f"{r[0]} ◀ dev-chosen"
        out.append("| " + " | ".join(r) + " |")
    legend = [(_plain(r[0]), _system(_plain(r[0]), systems)[1]) for r in rep.rows]
    if not name.endswith("-vectors") and any(opts for _, opts in legend):
        out += ["", "Each run's `seg train` options (from bench/quality.sh, which adds `--repeats 5`):", ""]
        out += [f"- {code(run)}: {code(opts)}" for run, opts in legend if opts]
    for title, lines in rep.sections.items():
        if title.startswith(KEPT_SECTIONS[1:]):
            body = "\n".join(lines).strip()
            if body:
                out += ["", f"**{title}**", "", body]
    return "\n".join(out)


PRETRAINED = Path("trainer") / "pretrained" / "aozora-bilstm"
LABELS = {"precision": "P", "recall": "R", "f1": "F1", "bacc": "bAcc", "pk": "Pk ↓", "windowdiff": "WD ↓"}


def pretrained_block(root: Path) -> str:
    """The bundled run's own test figures, from its metrics.json."""
    import json

    path = root / PRETRAINED / "metrics.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    test, base, n = m["summary"]["test"], m["baselines"]["test"], len(m["repeats"])
    out = [f"From [{PRETRAINED.as_posix()}/metrics.json](../{PRETRAINED.as_posix()}/metrics.json) "
           f"(test split, mean ± std over its {n} repeats):", "",
           "| run | " + " | ".join(LABELS.values()) + " |", "|---|" + "---:|" * len(LABELS)]
    out.append(f"| {PRETRAINED.name} | " + " | ".join(f"{test[k]['mean']:.3f} ± {test[k]['std']:.3f}" for k in LABELS) + " |")
    for key, label in (("rule", "bracket rule"), ("everywhere", "break everywhere")):
        out.append(f"| *{label}* | " + " | ".join(f"{base[key][k]:.3f}" for k in LABELS) + " |")
    return "\n".join(out)


def _numeric(col: str) -> bool:
    return col.split()[0] in ("P", "R", "F1", "bAcc", "Pk", "WD", "repeats")


def headline_block(root: Path) -> str:
    systems = quality_systems(root)
    out = ["| test split | system | `seg train` options | F1 | Pk ↓ | WindowDiff ↓ |", "|---|---|---|---:|---:|---:|"]
    gains = []
    for split, label in SPLIT_LABEL.items():
        rep = read_report(root / "docs" / "results" / f"{split}.md")
        best, rule = rep.row(rep.reference or ""), rep.row(RULE)
        if best is None or rule is None:
            raise SystemExit(f"gen_docs: docs/results/{split}.md lacks the reference run {rep.reference!r} or the rule's row")
        sysname, opts = _system(rep.reference, systems)
        vals = [rep.value(best, c) for c in ("F1", "Pk ↓", "WD ↓")]
        rvals = [rep.value(rule, c) for c in ("F1", "Pk ↓", "WD ↓")]
        out.append(f"| {label} | **{sysname}** (dev-chosen) | {code(opts) if opts else '—'} | " + " | ".join(vals) + " |")
        out.append("| | *bracket rule* | — | " + " | ".join(rvals) + " |")
        f1, pk = (float(vals[k].split("±")[0]) - float(rvals[k]) for k in (0, 1))
        gains.append(f"{f1:+.3f} F1 and {pk:+.3f} Pk {'on seen authors' if split == 'document' else 'on unseen authors'}")
    out += ["", "Over the rule: " + "; ".join(gains) + " (test split, mean of 5 repeats)."]
    return "\n".join(out)


# ----------------------------------------------------------------------------- pages

def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render(spec: str, root: Path, cmds: dict) -> str:
    kind, _, arg = spec.partition(" ")
    if kind == "options" and arg.startswith("seg "):
        return options_table(arg[4:].strip(), cmds)
    if kind == "results" and arg in REPORTS:
        return results_block(arg, root)
    if kind == "results" and arg == "pretrained":
        return pretrained_block(root)
    if kind == "headline" and not arg:
        return headline_block(root)
    if kind == "hostile" and not arg:
        return hostile_block(root)
    raise SystemExit(f"gen_docs: unknown generated part {spec!r} (options seg CMD | results NAME | results pretrained | "
                     f"headline | hostile)")


def hostile_block(root: Path) -> str:
    """The campaign's table, counted from the cases of tests/test_hostile.py itself."""
    sys.path.insert(0, str(root))
    from tests.test_hostile import markdown_table

    return markdown_table() + "\n"


def regenerate(text: str, root: Path, cmds: dict, where: str = "") -> tuple[str, list[str]]:
    """(the text with every generated part rebuilt, the specs of the parts found)."""
    lines = text.split("\n")
    out, specs, k = [], [], 0
    while k < len(lines):
        m = BEGIN.match(lines[k])
        out.append(lines[k])
        k += 1
        if not m:
            continue
        end = next((j for j in range(k, len(lines)) if lines[j] == END), None)
        if end is None:
            raise SystemExit(f"gen_docs: {where}: {lines[k - 1]} has no {END}")
        specs.append(m.group(1))
        out += ["", render(m.group(1), root, cmds), "", END]   # blank lines: the part renders as Markdown
        k = end + 1
    return "\n".join(out), specs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated part is stale")
    ap.add_argument("--root", type=Path, default=REPO, help="repository root (default: this checkout)")
    ap.add_argument("--import-reports", type=Path, metavar="ROOT",
                    help="first copy ROOT/report-*/report.md (bench/quality.sh) to docs/results/")
    a = ap.parse_args(argv)
    root = a.root.resolve()
    if a.import_reports:
        if a.check:
            ap.error("--import-reports writes docs/results/; it does not go with --check")
        for p in import_reports(a.import_reports, root / "docs" / "results"):
            print(f"imported {p.relative_to(root)}")
    cmds = commands()
    stale, seen = [], set()
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(root).as_posix()
        new, specs = regenerate(text, root, cmds, rel)
        seen |= {s[len("options seg "):] for s in specs if s.startswith("options seg ")}
        if new != text:
            old_parts = _parts(text)
            new_parts = _parts(new)
            which = [s for s in specs if old_parts.get(s) != new_parts.get(s)]
            stale.append(f"{rel}: {', '.join(which) or 'generated parts'}")
            if not a.check:
                page.write_text(new, encoding="utf-8")
    missing = [c for c in cmds if c not in seen]
    if missing:
        print("no option table for: " + ", ".join(f"seg {c}" for c in missing)
              + " (add <!-- BEGIN GENERATED: options seg CMD --> ... <!-- END GENERATED --> to its page)")
    if a.check:
        for s in stale:
            print(f"stale: {s}")
        if stale:
            print("run: python scripts/gen_docs.py")
        return 1 if stale or missing else 0
    for s in stale:
        print(f"updated {s}")
    return 1 if missing else 0


def _parts(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^<!-- BEGIN GENERATED: (.+?) -->\n(.*?)^" + re.escape(END),
                                                         text, re.S | re.M)}


if __name__ == "__main__":
    sys.exit(main())
