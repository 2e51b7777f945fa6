"""The package layering, checked on the source: which first-party package may import which, and no import cycles.

    edgecore  <-  edge_runtime  <-  export      ;   edgecore <- distill   ;   edgedistill uses all

Every import counts, wherever it is written (module top, inside a function, under `if`), and so does
`importlib.import_module("a.literal.name")`: a lazy import still ties one package to another.
The module graph (module -> first-party modules it imports) must have no cycle either, lazy imports
included: a cycle that works only because one side imports late breaks as soon as someone hoists it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edgecore", "edge_runtime", "export", "distill", "edgedistill")
#: package -> the first-party packages it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "edgecore": frozenset(),
    "edge_runtime": frozenset({"edgecore"}),
    "export": frozenset({"edgecore", "edge_runtime"}),
    "distill": frozenset({"edgecore"}),
    "edgedistill": frozenset({"edgecore", "distill", "export", "edge_runtime"}),
}


@dataclass(frozen=True)
class Import:
    file: Path      # relative to the root scanned
    line: int
    module: str     # the importing module, e.g. "export.coreml"
    target: str     # the module named by the statement, e.g. "edge_runtime._coreml"
    names: tuple[str, ...] = ()   # for `from target import a, b`


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path, packages=PACKAGES) -> list[Path]:
    return sorted(p for pkg in packages if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module named by a (possibly relative) `from ... import`."""
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import statement in the file (and importlib.import_module with a literal name), anywhere."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    rel = path.relative_to(root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, module, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node.level, node.module)
            found.append(Import(rel, node.lineno, module, target, tuple(a.name for a in node.names)))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and _is_import_module(node.func)):
            found.append(Import(rel, node.lineno, module, node.args[0].value))
    return found


def _is_import_module(func: ast.expr) -> bool:
    return ((isinstance(func, ast.Attribute) and func.attr == "import_module"
             and isinstance(func.value, ast.Name) and func.value.id == "importlib")
            or (isinstance(func, ast.Name) and func.id == "import_module"))


def collect(root: Path, packages=PACKAGES) -> tuple[set[str], list[Import]]:
    """(every first-party module under root, every import those modules make)."""
    files = source_files(root, packages)
    return {module_name(f, root) for f in files}, [i for f in files for i in imports_of(f, root)]


def top(name: str) -> str:
    return name.split(".")[0]


def layer_violations(imports: list[Import], allowed=ALLOWED) -> list[str]:
    """'file:line: pkg -> pkg (import statement)' for every import of a first-party package not allowed."""
    bad = []
    for imp in imports:
        src, dst = top(imp.module), top(imp.target)
        if dst in allowed and dst != src and dst not in allowed.get(src, frozenset()):
            what = f"from {imp.target} import {', '.join(imp.names)}" if imp.names else f"import {imp.target}"
            bad.append(f"{imp.file.as_posix()}:{imp.line}: {src} -> {dst} ({what})")
    return bad


def _resolve(name: str, modules: set[str]) -> str | None:
    """The longest known module that `name` is or lies in (a name inside a module resolves to that module)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def module_graph(modules: set[str], imports: list[Import]) -> dict[str, dict[str, Import]]:
    """module -> {first-party module it imports: the first statement that does}.

    `from pkg import name` points at `pkg.name` when that is a module, else at `pkg` (its __init__).
    Importing a submodule also runs its parents' __init__, but those implicit edges are left out: every
    package __init__ that re-exports its submodules would otherwise be a cycle."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in modules}
    for imp in imports:
        targets = [f"{imp.target}.{n}" if f"{imp.target}.{n}" in modules else imp.target for n in imp.names] or [imp.target]
        for target in targets:
            dst = _resolve(target, modules)
            if dst is not None and dst != imp.module:
                graph[imp.module].setdefault(dst, imp)
    return graph


def find_cycles(graph: dict[str, dict]) -> list[list[str]]:
    """One cycle [a, b, ..., a] per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:   # recursion depth is bounded by the module count (a few hundred)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(set(c), graph) for c in sorted(components)]


def _cycle_in(component: set[str], graph: dict[str, dict]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first, inside the component)."""
    start = min(component)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in component:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")   # a component always has one


def describe_cycle(cycle: list[str], graph: dict[str, dict[str, Import]]) -> str:
    hops = [f"{a} -> {b} ({graph[a][b].file.as_posix()}:{graph[a][b].line})" for a, b in zip(cycle, cycle[1:])]
    return " ; ".join(hops)


# --------------------------------------------------------------------------------------------- tests

def test_packages_import_only_the_layers_below_them():
    modules, imports = collect(ROOT)
    assert {top(m) for m in modules} == set(PACKAGES)   # the scan found every package
    bad = layer_violations(imports)
    assert not bad, "imports against the layering (allowed: " + "; ".join(
        f"{k} -> {', '.join(sorted(v)) or 'nothing first-party'}" for k, v in ALLOWED.items()) + "):\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    modules, imports = collect(ROOT)
    graph = module_graph(modules, imports)
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (module -> module (file:line of the import)):\n" + "\n".join(
        describe_cycle(c, graph) for c in cycles)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_catches_a_lazy_upward_import_and_a_cycle(tmp_path):
    _write(tmp_path, {
        "edgecore/__init__.py": "",
        "edgecore/ok.py": "from edgecore import errors\nimport numpy\n",
        "edgecore/errors.py": "",
        "edge_runtime/__init__.py": "from edge_runtime.runners import load\n",
        "edge_runtime/runners.py": "from edgecore import errors\n\ndef load():\n    from edge_runtime import coreml\n",
        "edge_runtime/coreml.py": "from . import runners\n\n\ndef run():\n    from export._coreml.package import PackageRunner\n",
        "export/__init__.py": "import importlib\nimportlib.import_module('distill.teacher')\n",
        "export/_coreml/__init__.py": "",
        "export/_coreml/package.py": "from ...edge_runtime import runners\n",
    })
    modules, imports = collect(tmp_path)
    assert "export._coreml.package" in modules and "edge_runtime" in modules
    assert layer_violations(imports) == [
        "edge_runtime/coreml.py:5: edge_runtime -> export (from export._coreml.package import PackageRunner)",
        "export/__init__.py:2: export -> distill (import distill.teacher)",
    ]
    graph = module_graph(modules, imports)
    assert set(graph["edge_runtime"]) == {"edge_runtime.runners"}           # `import load` is a name, not a module
    assert set(graph["edge_runtime.coreml"]) == {"edge_runtime.runners", "export._coreml.package"}   # `from . import runners`
    assert find_cycles(graph) == [["edge_runtime.coreml", "edge_runtime.runners", "edge_runtime.coreml"]]
    assert describe_cycle(find_cycles(graph)[0], graph) == (
        "edge_runtime.coreml -> edge_runtime.runners (edge_runtime/coreml.py:1) ; "
        "edge_runtime.runners -> edge_runtime.coreml (edge_runtime/runners.py:4)")


def test_a_clean_tree_passes_the_checker(tmp_path):
    _write(tmp_path, {"edgecore/__init__.py": "from edgecore.errors import E\n", "edgecore/errors.py": "E = 1\n",
                      "export/__init__.py": "def f():\n    from edge_runtime import load\n    from edgecore import E\n"})
    modules, imports = collect(tmp_path)
    assert layer_violations(imports) == [] and find_cycles(module_graph(modules, imports)) == []


@pytest.mark.parametrize("module, is_package, level, name, expected", [
    ("export.coreml", False, 1, "_coreml", "export._coreml"),
    ("export._coreml", True, 1, "palette", "export._coreml.palette"),
    ("export._coreml.palette", False, 2, None, "export"),
    ("edge_runtime", True, 0, "edgecore", "edgecore"),
])
def test_relative_imports_resolve_to_absolute_modules(module, is_package, level, name, expected):
    assert _absolute(module, is_package, level, name) == expected
