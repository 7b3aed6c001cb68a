"""Layers point down: dlperf <- archcalc, dlperf <- staleness, and mlcore on top of all three; and inside a
package, no module imports one that imports it back (no module cycle).

Every module of the four packages is parsed (ast, nothing is imported), and every import counts, at the top
of a module or inside a function, including ``importlib.import_module("...")`` with a literal name. Between
modules, relative imports count too, ``from pkg import name`` points at ``pkg.name`` where that is a module
(else at ``pkg``'s ``__init__``), and a string naming a module of the package (``"archcalc.models.zoo"`` in
a lazy top level or in the CLI's command table) counts as the import it becomes; an import under ``if
TYPE_CHECKING:`` (for annotations only) never runs and does not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dlperf", "archcalc", "staleness", "mlcore")
# What each package may import among the four (itself always).
ALLOWED = {
    "dlperf": set(),
    "archcalc": {"dlperf"},
    "staleness": {"dlperf"},
    "mlcore": {"dlperf", "archcalc", "staleness"},
}


def imported_names(source: str) -> list[tuple[int, str]]:
    """(line, dotted module name) of every absolute import in ``source``, wherever it stands."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            out.append((node.lineno, node.args[0].value))
    return out


def violations(package: str, files: dict[str, str]) -> list[str]:
    """``file:line imports X`` for each import from ``package``'s files that points up or sideways."""
    bad = []
    for name, source in files.items():
        for line, module in imported_names(source):
            top = module.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                bad.append(f"{name}:{line} imports {module}")
    return bad


def package_files(package: str) -> dict[str, str]:
    files = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted((ROOT / package).rglob("*.py"))}
    assert files, f"no modules found under {package}/"
    return files


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for package in PACKAGES:
        for source in package_files(package).values():
            for _, module in imported_names(source):
                top = module.split(".")[0]
                if top in PACKAGES and top != package:
                    graph[package].add(top)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def package_modules(package: str) -> dict[str, Path]:
    """Dotted name of every module of ``package`` (a package by its own name, not ``__init__``) -> its file."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_imports(name: str, source: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, module of ``known``) for every import of module ``name`` that reaches one, wherever it stands."""
    here = name.split(".") if is_package else name.split(".")[:-1]  # the package relative imports start from
    found: list[tuple[int, str]] = []

    def add(line: int, dotted: str) -> None:
        parts = dotted.split(".")
        while parts and ".".join(parts) not in known:  # ``import a.b.f``: f is a name, a.b the module
            parts.pop()
        if parts and ".".join(parts) != name:
            found.append((line, ".".join(parts)))

    tree = ast.parse(source)
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}  # annotations only: never run, never a cycle
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = (".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level else node.module or "")
            for alias in node.names:
                add(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                and node.value in known:
            add(node.lineno, node.value)
    return found


def module_graph(package: str, sources: dict[str, tuple[str, bool]] | None = None) -> dict[str, dict[str, int]]:
    """``{module: {imported module: first line}}`` inside ``package`` (``sources``: {name: (text, is_package)}
    instead of the files, for the checker's own test)."""
    if sources is None:
        sources = {n: (p.read_text(encoding="utf-8"), p.name == "__init__.py")
                   for n, p in package_modules(package).items()}
    graph: dict[str, dict[str, int]] = {}
    for name, (source, is_package) in sources.items():
        graph[name] = {}
        for line, target in module_imports(name, source, is_package, set(sources)):
            graph[name].setdefault(target, line)
    return graph


def cycle_through(graph: dict[str, dict[str, int]], start: str) -> list[str] | None:
    """The shortest import path from ``start`` back to itself, each step as ``module:line -> module``."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt, line in sorted(graph[node].items()):
            step = [*paths[node][:-1], f"{node}:{line}", nxt]
            if nxt == start:
                return step
            if nxt not in paths:
                paths[nxt] = step
                queue.append(nxt)
    return None


# Modules on an import cycle that predate this test, by package (never add to these: move the shared piece
# down). archcalc and dlperf have none.
KNOWN_CYCLES = {
    "dlperf": set(),
    "archcalc": set(),
    "staleness": {"staleness.result", "staleness.stream", "staleness.vectorised", "staleness.vectorised_ssp",
                  "staleness.vectorised_sync", "staleness._event_system", "staleness.calibration",
                  "staleness.estimate", "staleness.simulation"},
    "mlcore": {"mlcore.biasvar.memory", "mlcore.biasvar.study"},
}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_cycles_inside_a_package(package):
    graph = module_graph(package)
    assert len(graph) > 1
    cycles = {m: path for m in graph if m not in KNOWN_CYCLES[package] and (path := cycle_through(graph, m))}
    assert not cycles, "import cycle: " + " -> ".join(min(cycles.values(), key=len))
    still = {m for m in KNOWN_CYCLES[package] if cycle_through(graph, m)}
    assert still == KNOWN_CYCLES[package], f"no longer on a cycle (remove from KNOWN_CYCLES): {KNOWN_CYCLES[package] - still}"


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_name_modules_that_exist(package):
    # After a module moves, an import of its old path would point at the package itself (a false cycle);
    # name the stale path instead.
    known = set(package_modules(package))
    stale = []
    for name, path in package_modules(package).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                       else [])
            stale += [f"{name}:{node.lineno} imports {m}" for m in modules
                      if m.split(".")[0] == package and m not in known]
    assert stale == []


def test_archcalc_rooms():
    # The front ends sit below the checks and the commands; the cost report below the front ends.
    graph = module_graph("archcalc")
    up = [f"{m}:{line} imports {t}" for m, targets in graph.items() for t, line in targets.items()
          if (m.startswith("archcalc.frontends") and t.startswith(("archcalc.check", "archcalc.commands")))
          or (m == "archcalc.costs.report" and t.startswith("archcalc.frontends"))
          or (t.startswith("archcalc.commands") and not m.startswith(("archcalc.commands", "archcalc.cli")))]
    assert up == []


def test_module_graph_sees_lazy_relative_and_table_imports():
    # The checker must be able to fail: the cycles archcalc had before this test, in miniature.
    sources = {
        "p": ('_LAZY = {"report": "p.costs.report"}\n', True),
        "p.costs": ("", True),
        "p.costs.report": ("def resolve():\n    from p.frontends import hf\n", False),
        "p.frontends": ("", True),
        "p.frontends.hf": ("def f():\n    from ..costs.report import DTYPE\n", False),
        "p.ops": ("from p.ops import conv\nfrom .registry import formula\n", True),
        "p.ops.conv": ("from p.ops.registry import register\n", False),
        "p.ops.registry": ("def formula():\n    import p.ops\n", False),
        "p.cli": ("import importlib\nimportlib.import_module('p.costs.report')\n", False),
        "p.ir": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.cli import x\n", False),
    }
    graph = module_graph("p", sources)
    assert graph["p"] == {"p.costs.report": 1}
    assert graph["p.costs.report"] == {"p.frontends.hf": 2}
    assert graph["p.frontends.hf"] == {"p.costs.report": 2}
    assert graph["p.ops"] == {"p.ops.conv": 1, "p.ops.registry": 2}
    assert graph["p.cli"] == {"p.costs.report": 2}
    assert graph["p.ir"] == {}
    assert cycle_through(graph, "p.costs.report") == ["p.costs.report:2", "p.frontends.hf:2", "p.costs.report"]
    assert cycle_through(graph, "p.ops.registry") == ["p.ops.registry:2", "p.ops:2", "p.ops.registry"]
    assert cycle_through(graph, "p.ops.conv") == ["p.ops.conv:1", "p.ops.registry:2", "p.ops:1", "p.ops.conv"]
    assert cycle_through(graph, "p") is None and cycle_through(graph, "p.cli") is None


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down(package):
    assert violations(package, package_files(package)) == []


def test_no_cycles_between_packages():
    assert find_cycle(edges()) is None


def test_checker_sees_function_level_and_dynamic_imports():
    # The checker must be able to fail: the violations this project had before dlperf existed.
    crosscheck = "def build():\n    import torch\n    from mlcore.models import inception_small\n"
    distributed = "from dlperf.progress import progress\n\ndef f():\n    from mlcore.training import json_text\n"
    plugin = "import importlib\nimportlib.import_module('mlcore.commands._staleness_train')\n"
    assert violations("archcalc", {"crosscheck.py": crosscheck}) == ["crosscheck.py:3 imports mlcore.models"]
    assert violations("staleness", {"d.py": distributed, "p.py": plugin}) == [
        "d.py:4 imports mlcore.training", "p.py:2 imports mlcore.commands._staleness_train"]
    assert violations("dlperf", {"cli.py": "from archcalc import zoo\n"}) == ["cli.py:1 imports archcalc"]
    assert violations("archcalc", {"x.py": "import staleness.engine\n"}) == ["x.py:1 imports staleness.engine"]
    assert violations("mlcore", {"x.py": "from archcalc import zoo\nimport staleness\nfrom . import y\n"}) == []


def test_cycle_finder():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"mlcore": {"archcalc"}, "archcalc": {"dlperf"}, "dlperf": set()}) is None
