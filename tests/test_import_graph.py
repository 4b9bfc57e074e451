"""Claims about the package's import graph: no import cycle between reconleak_core's modules, counting imports
made inside functions, and the optional Ray module (``sweep``) sits above the experiments, never under them.

The graph is read from the source with ``ast`` (nothing is imported): an edge A → B for every ``import`` or
``from ... import`` in module A, at any depth, that names module B of the package (``from reconleak_core import
x`` names the module ``x`` when there is one; relative imports are resolved against A's package).
"""

from __future__ import annotations

import ast
import pathlib

import reconleak_core
from reconleak_core import experiments

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "reconleak_core"


def _modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(root: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the package's modules it imports (anywhere in its source)."""
    modules = _modules(root)
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _reaches(graph: dict[str, set[str]], start: str, target: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        if v == target:
            return True
        if v not in seen:
            seen.add(v)
            todo.extend(graph[v])
    return False


def test_the_package_has_no_import_cycle_counting_imports_inside_functions():
    assert cycles(import_graph()) == []


def test_sweep_depends_on_the_experiments_and_nothing_depends_on_sweep():
    graph = import_graph()
    assert "reconleak_core.experiments" in graph["reconleak_core.sweep"]
    users = sorted(name for name, targets in graph.items() if "reconleak_core.sweep" in targets)
    assert users == []
    for name in graph:
        if name.startswith("reconleak_core.experiments"):
            assert not _reaches(graph, name, "reconleak_core.sweep"), name


def test_every_experiment_is_a_module_of_its_own():
    graph = import_graph()
    modules = sorted(name.rpartition(".")[2] for name in graph if name.startswith("reconleak_core.experiments."))
    functions = {entry.function.__module__.rpartition(".")[2] for entry in experiments.EXPERIMENTS.values()}
    assert functions <= set(modules) and "core" in modules


def test_the_scan_finds_a_cycle_made_inside_a_function(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg import b\n")
    (root / "b.py").write_text("def f():\n    from .sub import c\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "c.py").write_text("def g():\n    from ..a import x\n")
    graph = import_graph(root)
    assert graph["pkg.b"] == {"pkg.sub", "pkg.sub.c"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    (root / "sub" / "c.py").write_text("import os\n")
    assert cycles(import_graph(root)) == []


def test_the_package_docstring_lists_every_module_once():
    listed = [line.split()[1].strip("`") for line in reconleak_core.__doc__.splitlines() if line.startswith("- ``")]
    modules = sorted(path.stem if path.stem != "__init__" else path.parent.name
                     for path in list(PACKAGE.glob("*.py")) + list(PACKAGE.glob("*/__init__.py"))
                     if path.stem != "__init__" or path.parent != PACKAGE)
    assert sorted(listed) == modules
