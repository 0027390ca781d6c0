"""The package's layout: imports run downward only. The import graph of src/portraitcraft, read with ast (every
import statement that runs, including those inside functions; not those under ``if TYPE_CHECKING:``, which name
types for annotations and never run), must have no circle, and the lower floor (the Track 1 and data vocabulary
every other module builds on) must not import the upper one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "portraitcraft"
# The lower floor, as the package docstring shows it: these import nothing above them.
LOWER = {"exceptions", "attributes", "images", "data", "hf", "outputs", "parsing", "metrics", "predictions", "prompts",
         "labels", "provenance", "opencv", "progress"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *runtime_nodes(child)])
            continue
        yield node
        yield from runtime_nodes(node)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from portraitcraft import x`` names module x when x is one)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # import a.b.c of a module a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def floor_of(module: str) -> str:
    top = module.split(".")[1] if "." in module else ""
    return "lower" if top in LOWER else "upper"


def test_the_import_graph_has_no_circle():
    assert cycles(import_graph()) == []


def test_the_lower_floor_imports_nothing_above_it():
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    if floor_of(a) == "lower" and floor_of(b) == "upper" and b != "portraitcraft")
    assert upward == []


def test_the_circle_finder_finds_circles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(("module", "forbidden"), [
    ("portraitcraft.book.build", "portraitcraft.cli"),  # the command line builds the book, not the other way round
    ("portraitcraft.data", "portraitcraft.lab"),  # the lab writes data in the layout data defines
    ("portraitcraft.finetune.data", "portraitcraft.table3"),  # training does not depend on the paper's tables
])
def test_named_upward_imports_stay_away(module, forbidden):
    assert forbidden not in import_graph()[module]
