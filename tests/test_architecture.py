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
        "inspectnet.ledger",
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
    ("inspectnet.plugin", "inspectnet.cli", "inspectnet.terminal_progress", "inspectnet.ledger_hooks"),
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
            imported = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in imported if c in known and c != name}
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


# ---------------------------------------------------------------- Session holds no branch on its model's source

SESSION = PACKAGE / "harness" / "session.py"


def _about_source(name: str) -> bool:
    """A name that says where a model came from: given, GivenModel, given_export, GivenSource, RunSource, source."""
    return "given" in name.lower() or name.endswith("Source") or name == "source"


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def _from_source(method: ast.AST) -> set[str]:
    """The method's local names assigned straight from something about the source (``own = source.export(r)``)."""
    found: set[str] = set()
    for node in ast.walk(method):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            targets, value = [node.target], node.value
        if targets and any(_about_source(n) for n in _names(value)):
            found |= {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
    return found


def _on_source(condition: ast.expr, tainted: set[str]) -> bool:
    """Whether a condition asks about the source: names it, or tests a value taken from it for None or truth."""
    if any(_about_source(n) for n in _names(condition)):
        return True
    tested = [condition]
    while tested:
        node = tested.pop()
        if isinstance(node, ast.BoolOp):
            tested += node.values
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            tested.append(node.operand)
        elif isinstance(node, ast.Name) and node.id in tainted:
            return True
        elif isinstance(node, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Constant) and s.value is None for s in sides) and _names(node) & tainted:
                return True
    return False


def source_branches(text: str) -> list[str]:
    """Every branch in ``Session``'s methods on where the model came from (if, conditional expression, while,
    boolean expression, match, filtered comprehension), as ``Session.method:line: condition``."""
    (session,) = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "Session"]
    found = []
    for method in session.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        tainted = _from_source(method)
        for node in ast.walk(method):
            conditions: list[ast.expr] = []
            if isinstance(node, (ast.If, ast.IfExp, ast.While)):
                conditions = [node.test]
            elif isinstance(node, ast.BoolOp):
                conditions = [node]
            elif isinstance(node, ast.Match):
                conditions = [node.subject]
            elif isinstance(node, ast.comprehension) and node.ifs:
                conditions = [node.iter, *node.ifs]
            found += [
                f"Session.{method.name}:{c.lineno}: {ast.unparse(c)}" for c in conditions if _on_source(c, tainted)
            ]
    return sorted(set(found))


def test_the_session_holds_no_branch_on_the_models_source() -> None:
    """A given model is a run like any other: ``Session`` asks the run's ``RunSource`` (harness/source.py)."""
    assert source_branches(SESSION.read_text()) == []


PLANTED = {
    "if": "        if self.given(run) is not None:\n            return self.given(run).spec\n",
    "isinstance": "        x = 1 if isinstance(self.source(run), GivenSource) else 2\n",
    "options": "        chosen = [g for g in self.options.given if g.run == run]\n",
    "boolean": "        found = self.options.exports and self.source(run).export('openvino')\n",
    "none": "        own = self.source(run).export('onnxruntime')\n        while own is None:\n            break\n",
}


def test_the_source_branch_check_catches_a_planted_branch() -> None:
    text = SESSION.read_text()
    anchor = "    def spec(self, run: RunKey) -> ModelSpec:\n"
    assert text.count(anchor) == 1
    for kind, planted in PLANTED.items():
        found = source_branches(text.replace(anchor, anchor + planted))
        assert len(found) == 1 and found[0].startswith("Session.spec:"), (kind, found)


def _literals(node: ast.AST) -> list[str]:
    """The string constants a comparison operand is or holds (a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for element in node.elts for s in _literals(element)]
    return []


def runtime_branches(source: str, where: str, names: tuple[str, ...]) -> list[str]:
    """Each place ``source`` compares against a runtime's name (``==``, ``in``, a ``match`` case) or looks one
    up by its literal name (``x["openvino"]``): branching on a runtime, which only ``deploy`` may do."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            literals = [s for operand in (node.left, *node.comparators) for s in _literals(operand)]
        elif isinstance(node, ast.MatchValue):
            literals = _literals(node.value)
        elif isinstance(node, ast.Subscript):
            literals = _literals(node.slice)
        else:
            continue
        found += [f"{where}:{node.lineno} {name!r}" for name in literals if name in names]
    return found


def test_only_deploy_branches_on_a_runtime() -> None:
    from inspectnet.deploy.runtimes import NAMES

    found = [
        hit
        for name, path in modules().items()
        if not name.startswith("inspectnet.deploy.")
        for hit in runtime_branches(path.read_text(), name, NAMES)
    ]
    assert found == [], "only inspectnet.deploy may branch on a runtime's name; ask the registry instead"


def test_the_runtime_check_catches_a_planted_branch() -> None:
    from inspectnet.deploy.runtimes import NAMES

    planted = 'if runtime == "openvino":\n    pass\nx = y in ("torch", "other")\nz = table["onnxruntime"]\n'
    assert runtime_branches(planted, "m", NAMES) == ["m:1 'openvino'", "m:3 'torch'", "m:4 'onnxruntime'"]
