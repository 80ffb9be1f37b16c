"""What the ruby rule keeps: over a corpus of Aozora files, count the 《…》 readings removed and
the 《 or 》 kept in the text (a reading the rule does not recognise stays, and is counted by
`seg prep` as a stray ruby bracket), and list the most frequent kept brackets with their context.

    .venv/bin/python bench/count_ruby.py [CORPUS]     # default ../shared/corpus/aozora

Prints Markdown rows (docs/benchmarks.md carries them).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.aozora import _RUBY, parse_aozora  # noqa: E402
from pipeline.reader import read_text  # noqa: E402


def main(corpus: Path) -> None:
    files = sorted(corpus.glob("*.txt"))
    removed = kept = 0
    with_comma = 0
    contexts: Counter = Counter()
    for f in files:
        text, _ = read_text(f)
        issues: Counter = Counter()
        _, _, paragraphs, _ = parse_aozora(text.replace("\r\n", "\n"), issues)
        kept += issues["stray ruby bracket"]
        removed += len(_RUBY.findall(text))
        with_comma += sum("、" in m for m in _RUBY.findall(text))
        for p in paragraphs:
            for m in re.finditer(r".{0,6}[《》].{0,10}", p):
                contexts[m.group(0)] += 1
    print(f"| works | readings removed | of them with 、 | 《 or 》 kept in the text |")
    print("| --- | --- | --- | --- |")
    print(f"| {len(files)} | {removed:,} | {with_comma:,} | {kept:,} |")
    for c, n in contexts.most_common(10):
        print(f"kept ×{n}: {c}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "corpus" / "aozora")
