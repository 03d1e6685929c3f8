"""The package's import graph: layers that only import downward, and no circle.

Every import counts, those inside functions and under ``TYPE_CHECKING`` too: a lazy import is still a
dependency. A new module must be given a layer here (ARCHITECTURE.md says why each sits where it does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import inspectnet

PACKAGE = Path(inspectnet.__file__).parent
# bottom to top; a module may import its own layer and the layers below it
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "inspectnet",
        "inspectnet._io",
        "inspectnet.names",
        "inspectnet.hostinfo",
        "inspectnet.typed_json",
        "inspectnet.progress",
        "inspectnet.pipeline",
    ),
    ("inspectnet.data", "inspectnet.criteria"),
    ("inspectnet.models",),
    ("inspectnet.deploy",),
    ("inspectnet.measure",),
    ("inspectnet.records", "inspectnet.builders"),
    ("inspectnet.report", "inspectnet.gate"),
    ("inspectnet.harness",),
    ("inspectnet.options", "inspectnet.suite", "inspectnet.collect"),
    ("inspectnet.plugin", "inspectnet.cli", "inspectnet.terminal_progress"),
)


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["inspectnet", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports (a ``from X import y`` names X.y when that is a module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known and c != name}
    return found


def layer_of(name: str) -> int:
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = name.startswith(prefix + ".") and prefix != "inspectnet"  # the package root is no wildcard
            if (name == prefix or inside) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{name} has no layer: add it to LAYERS (and to ARCHITECTURE.md)"
    return best[0]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in edges.items()
        for b in targets
        if layer_of(b) > layer_of(a)
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_no_module_imports_upward() -> None:
    assert upward(graph()) == []


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


def test_the_checks_catch_a_planted_upward_import_and_circle() -> None:
    edges = graph()
    edges["inspectnet.measure.evaluate"] = edges["inspectnet.measure.evaluate"] | {"inspectnet.report.figures"}
    assert upward(edges) == [
        "inspectnet.measure.evaluate (layer 4) imports inspectnet.report.figures (layer 6)",
    ]
    edges = graph()
    edges["inspectnet.report.cite"] = edges["inspectnet.report.cite"] | {"inspectnet.report.card"}
    assert any({"inspectnet.report.card", "inspectnet.report.cite"} <= set(group) for group in cycles(edges))


def test_the_parser_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from inspectnet.report.load import ReportSet\n"
        "def f():\n    from inspectnet.harness import session\n"
    )
    known = modules()
    assert imports("inspectnet.measure.x", source, known) == {
        "inspectnet.report.load",
        "inspectnet.harness",
        "inspectnet.harness.session",
    }


def test_anomalib_private_names_are_imported_in_one_adapter() -> None:
    """``from anomalib... import _Private`` appears only in models/anomalib_private.py (package, tests, benchmarks)."""
    root = PACKAGE.parent
    adapter = PACKAGE / "models" / "anomalib_private.py"
    offenders = []
    for folder in (PACKAGE, root / "tests", root / "parity", root / "benchmarks"):
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anomalib"):
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    if private and path != adapter:
                        offenders.append(f"{path.relative_to(root)}: {', '.join(private)}")
    assert offenders == []
