"""The package's layout: imports run downward only. The import graph of src/portraitcraft, read with ast, holds every
import statement that runs (including those inside functions, the lazy ones; not those under ``if TYPE_CHECKING:``,
which name types for annotations and never run) and the package's lazy exports (``portraitcraft._EXPORTS``, imported
by ``__getattr__`` on first use). It must have no circle, every module must stand on one of the floors of the
package docstring, and no module may import one on a floor above its own."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "portraitcraft"
# The floors of the package docstring (src/portraitcraft/__init__.py), lowest first; a subpackage stands on its
# parent's floor. The package itself is the top floor's façade: its body imports nothing (checked below), its lazy
# exports reach down to every floor.
FLOORS = {
    "lower": {"exceptions", "attributes", "images", "text", "opencv", "progress", "data", "hf", "parsing", "prompts",
              "metrics", "outputs", "provenance", "predictions", "labels"},
    "middle": {"sources", "cache", "evaluation", "lab", "features", "baseline", "runners", "backends", "finetune",
               "track2", "assess"},
    "upper": {"figure2", "table2", "table3", "paper", "label_free", "error_analysis", "calibration", "series_readings",
              "measurements"},
    "top": {"book", "cli", "integrations", "__main__", ""},
}
ORDER = list(FLOORS)


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


@functools.cache  # read once per test process: every test below asks for the same graph
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
                # The package's own body imports nothing (test below): importing it for __version__ or __file__
                # pulls no module in, so it is no edge.
                if target and target != name and target != "portraitcraft":
                    graph[name].add(target)
    graph["portraitcraft"] |= set(lazy_exports().values())
    return graph


def lazy_exports() -> dict[str, str]:
    """The package's `_EXPORTS` (name -> home module), read from its source."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("portraitcraft/__init__.py defines no _EXPORTS")


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


def floor_of(module: str) -> str | None:
    top = module.split(".")[1] if "." in module else ""
    return next((floor for floor, names in FLOORS.items() if top in names), None)


def test_the_import_graph_has_no_circle():
    assert cycles(import_graph()) == []


def test_every_module_stands_on_a_floor():
    assert sorted(m for m in import_graph() if floor_of(m) is None) == []


def test_no_module_imports_one_on_a_floor_above_it():
    graph = import_graph()
    upward = sorted(f"{a} ({floor_of(a)}) -> {b} ({floor_of(b)})" for a, targets in graph.items() for b in targets
                    if floor_of(a) and floor_of(b) and ORDER.index(floor_of(b)) > ORDER.index(floor_of(a)))
    assert upward == []


def test_the_package_body_imports_no_module_of_its_own():
    """What makes ``from portraitcraft import __version__`` free of edges: only `__getattr__` imports, lazily."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    body = [n for n in runtime_nodes(tree) if not any(n is f or n in ast.walk(f) for f in tree.body
                                                      if isinstance(f, ast.FunctionDef))]
    imported = [ast.unparse(n) for n in body if isinstance(n, (ast.Import, ast.ImportFrom))
                and "portraitcraft" in ast.unparse(n)]
    assert imported == []


def test_the_lazy_exports_are_edges():
    graph = import_graph()
    assert {"portraitcraft.sources", "portraitcraft.evaluation", "portraitcraft.paper"} <= graph["portraitcraft"]


def test_lazy_imports_inside_functions_are_edges():
    # track2.compare opens data inside a function only: the graph still sees it.
    assert "portraitcraft.sources" in import_graph()["portraitcraft.track2.compare"]


def test_the_circle_finder_finds_circles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_floors_are_those_of_the_package_docstring():
    import portraitcraft

    doc = portraitcraft.__doc__
    not_yet_described = ("__main__",)
    named = {name for names in FLOORS.values() for name in names if name and name not in not_yet_described}
    assert sorted(n for n in named if f"``{n}``" not in doc) == []


@pytest.mark.parametrize(("module", "forbidden"), [
    ("portraitcraft.book.build", "portraitcraft.cli"),  # the command line builds the book, not the other way round
    ("portraitcraft.data", "portraitcraft.lab"),  # the lab writes data in the layout data defines
    ("portraitcraft.data", "portraitcraft.hf"),  # the bridge reads a Dataset; a Dataset knows nothing of datasets
    ("portraitcraft.finetune.data", "portraitcraft.table3"),  # training does not depend on the paper's tables
])
def test_named_upward_imports_stay_away(module, forbidden):
    assert forbidden not in import_graph()[module]
