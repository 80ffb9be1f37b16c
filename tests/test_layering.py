"""The import graph of the library: no circle between modules, and no arrow upwards.

Every `import` of pipeline/, trainer/, seg.py and cli.py counts, the ones inside functions too
(a lazy import still ties two modules together). The layers, bottom up: pipeline (prep, embed),
trainer (train, report, segment), seg.py (the Python API), cli.py (the command line). A module
may import its own layer or one below, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"pipeline": 0, "trainer": 1, "seg": 2, "cli": 3}


def modules() -> dict[str, Path]:
    out = {"seg": ROOT / "seg.py", "cli": ROOT / "cli.py"}
    for pkg in ("pipeline", "trainer"):
        for f in (ROOT / pkg).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def resolve(name: str, mods: dict) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        package = m if f.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs or [base]
            else:
                continue
            for t in targets:
                r = resolve(t, mods)
                if r and r != m:
                    edges[m].add(r)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_circle_between_modules():
    assert cycles(import_graph()) == []


def test_no_arrow_upwards():
    layer = lambda m: LAYERS[m.split(".")[0]]  # noqa: E731
    up = sorted(f"{a} -> {b}" for a, bs in import_graph().items() for b in bs if layer(b) > layer(a))
    assert up == []


def test_the_check_sees_a_lazy_circle_and_an_upward_arrow():
    """The checks are not blind: a circle made of function-level imports, and pipeline -> trainer."""
    edges = {"pipeline.a": {"pipeline.b"}, "pipeline.b": {"pipeline.a", "trainer.x"}, "trainer.x": set()}
    assert cycles(edges) == [["pipeline.a", "pipeline.b"]]
    graph = import_graph()
    assert "pipeline.ray_engine" in graph["pipeline.embed"]          # a top-level import is seen
    assert "trainer.segment.batch" in graph["trainer.segment"]       # and a package's own modules
    assert "pipeline.vectors" in graph["trainer.segment.segmenters"]  # and one inside a function
