"""The shape of the code: no import circles between modules, no module too long to read.

Imports are read from the source (``ast``), not by importing anything, and every import
counts wherever it stands: at the top of a module or inside a function, where code puts
an import it wants to load late. Only imports under ``if TYPE_CHECKING:`` are left out:
they never run. See docs/architecture.md for what may import what.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 800

# A format plugin's front module (the one defining the class its entry point names) is
# imported to sniff every file, so it imports its own implementation inside the methods
# that need it; that module may import the front one back (for its name and version).
# Exactly these edges are exempt: from a plugin's front module, inside a function, to
# another module of the same plugin.
LAZY_FRONT = "a plugin's front module importing its implementation on first use"

#: Circles known to exist while the code around them is being reshaped, each as the
#: sorted modules it passes through. A new circle fails the test, and so does a listed
#: one that is gone (remove it here): the list only shrinks, and is empty now.
KNOWN_CIRCLES: list[list[str]] = []


def _sources(folder: Path) -> Iterator[Path]:
    """The Python files of a source folder, not those a build left beside them."""
    for path in folder.rglob("*.py"):
        if not {"build", ".venv", "__pycache__"} & set(path.relative_to(folder).parts):
            yield path


_ENTRY = re.compile(r'\[project\.entry-points\."qserial\.formats"\]\s*\n\s*[\w-]+\s*=\s*'
                    r'"([\w.]+):(\w+)"')


def _packages() -> list[tuple[str, Path, str | None]]:
    """(name, folder, entry-point class) of qserial and of every plugin."""
    out: list[tuple[str, Path, str | None]] = [("qserial", ROOT / "qserial", None)]
    for project in sorted([*(ROOT / "plugins").glob("*/pyproject.toml"),
                           *(ROOT / "docs" / "examples").glob("*/pyproject.toml")]):
        # The first entry of the [project.entry-points."qserial.formats"] table.
        found = _ENTRY.search(project.read_text())
        assert found, f"{project} registers no format"
        package, cls = found.groups()
        out.append((package, project.parent / package, cls))
    return out


def _modules(name: str, folder: Path) -> dict[str, Path]:
    """Module name -> file, for every module of the package in ``folder``."""
    out = {}
    for path in sorted(_sources(folder)):
        parts = [name, *path.relative_to(folder).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that can run, and whether it stands inside a function."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    yield from walk_one(other, in_function)
                continue
            yield from walk_one(child, in_function)

    def walk_one(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
        yield from walk(node, inner)

    yield from walk(tree, False)  # type: ignore[misc]


def _known(name: str, known: dict[str, Path]) -> str | None:
    """The longest module of ``known`` that ``name`` is or lies in."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return None


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that an import statement in ``module`` needs.

    ``from p import m`` needs the module ``p.m`` when there is one, and ``p`` itself only
    for a name that is no module (an attribute of ``p``).
    """
    if isinstance(node, ast.Import):
        found = {_known(alias.name, known) for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            keep = len(parts) - node.level + (1 if is_package else 0)
            base = ".".join(parts[:keep] + ([base] if base else []))
        found = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known
                 else _known(base, known) for alias in node.names}
    return {name for name in found if name is not None}


def _graph(package: str, folder: Path, entry_class: str | None
           ) -> tuple[dict[str, set[str]], dict[str, Path]]:
    modules = _modules(package, folder)
    front = None
    if entry_class is not None:
        front = next(name for name, path in modules.items()
                     if any(isinstance(node, ast.ClassDef) and node.name == entry_class
                            for node in ast.parse(path.read_text()).body))
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, in_function in _imports(tree):
            for target in _targets(name, path.name == "__init__.py", node, modules):
                if target == name:
                    continue
                if name == front and in_function:
                    continue  # LAZY_FRONT
                edges[name].add(target)
    return edges, modules


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

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
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def _a_cycle(edges: dict[str, set[str]], group: list[str]) -> list[str]:
    """One closed path through the first module of ``group``, for the message."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & members):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return group


PACKAGES = _packages()


@pytest.mark.parametrize("package, folder, entry_class", PACKAGES,
                         ids=[p[0] for p in PACKAGES])
def test_no_import_circles(package: str, folder: Path, entry_class: str | None) -> None:
    edges, _ = _graph(package, folder, entry_class)
    circles = _circles(edges)
    known = [c for c in KNOWN_CIRCLES if c[0].split(".")[0] == package]
    new = [c for c in circles if c not in known]
    assert not new, "import circles:\n" + "\n".join(
        " -> ".join(_a_cycle(edges, c)) for c in new)
    gone = [c for c in known if c not in circles]
    assert not gone, f"no longer circles, remove from KNOWN_CIRCLES: {gone}"


def test_the_analysis_sees_function_level_and_relative_imports() -> None:
    # The test above is only as good as the import reading it relies on.
    code = ast.parse("from . import b\nimport p.c\ndef f():\n    from .d import x\n"
                     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import e\n")
    known = {name: Path() for name in ("p", "p.a", "p.b", "p.c", "p.d", "p.e")}
    found = {(t, inner) for node, inner in _imports(code)
             for t in _targets("p.a", False, node, known)}
    assert found == {("p.b", False), ("p.c", False), ("p.d", True)}
    attribute = ast.parse("from . import name\nfrom .b import thing\n")
    assert {t for node, _ in _imports(attribute) for t in _targets("p.a", False, node, known)
            } == {"p", "p.b"}
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _a_cycle({"a": {"b", "d"}, "b": {"a"}, "d": set()}, ["a", "b"]) == ["a", "b", "a"]


def test_the_lazy_front_exception_is_only_for_the_front_module() -> None:
    # Every plugin is checked, and each has a front module defining its format class.
    plugins = [p for p in PACKAGES if p[2] is not None]
    assert {p[0] for p in plugins} >= {"qserial_msgpack", "qserial_hdf5", "qserial_parquet"}
    for package, folder, entry_class in plugins:
        _graph(package, folder, entry_class)  # finds the front module or raises


@functools.lru_cache
def _private_names(folder: Path) -> frozenset[str]:
    """The single-underscore names defined in ``folder``'s code: defs, attributes, names."""
    out = set()
    for path in _sources(folder):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                out.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
            elif isinstance(node, ast.arg):
                out.add(node.arg)
    return frozenset(name for name in out if _private(name))


def _private(name: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in name.split("."))


@pytest.mark.parametrize("package, folder", [(p[0], p[1]) for p in PACKAGES if p[2]],
                         ids=[p[0] for p in PACKAGES if p[2]])
def test_plugins_use_only_public_api(package: str, folder: Path) -> None:
    # The plugin and its tests, as a third party would write them. A private name that
    # qserial defines (a method or attribute of its classes) and the plugin does not is
    # qserial's: e.g. ``error._prepend(...)`` instead of ``error.prepend_path(...)``.
    core_private = _private_names(ROOT / "qserial")
    own = _private_names(folder.parent)
    misuse = []
    for path in sorted(_sources(folder.parent)):
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                misuse += [f"{where}: import {a.name}" for a in node.names
                           if a.name.split(".")[0] == "qserial" and _private(a.name)]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module and (
                    node.module.split(".")[0] == "qserial"):
                misuse += [f"{where}: from {node.module} import {a.name}" for a in node.names
                           if _private(node.module) or _private(a.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                chain = node.value
                while isinstance(chain, ast.Attribute):
                    chain = chain.value
                if (isinstance(chain, ast.Name) and chain.id == "qserial") or (
                        node.attr in core_private and node.attr not in own):
                    misuse.append(f"{where}:{node.lineno}: .{node.attr}")
    assert not misuse, "private qserial names used by a plugin:\n" + "\n".join(misuse)


@pytest.mark.parametrize("folder", ["qserial", "plugins"])
def test_no_source_file_is_too_long(folder: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in sorted(_sources(ROOT / folder))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"
