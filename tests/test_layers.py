"""Layers point down: dlperf <- archcalc, dlperf <- staleness, and mlcore on top of all three.

Every module of the four packages is parsed (ast, nothing is imported), and every import counts, at the top
of a module or inside a function, including ``importlib.import_module("...")`` with a literal name.
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
