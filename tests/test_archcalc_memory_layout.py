"""The memory package's rooms stay apart and the liveness simulator stays readable (issue 19, items 4 and 9).

Parsed with ast, nothing imported: every import counts, at the top of a module or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_layers import imported_names

MEMORY = Path(__file__).resolve().parents[1] / "archcalc" / "memory"
MAX_LINES = 60
# what each room of archcalc/memory may import from the others (the shared tables at memory/ always)
MAY_IMPORT = {"formulas": set(), "liveness": set(), "render": {"formulas", "liveness"}}


def long_functions(source: str, limit: int = MAX_LINES) -> list[str]:
    """``name (n lines)`` for every function or method longer than ``limit`` lines, docstring included."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            n = node.end_lineno - node.lineno + 1
            if n > limit:
                out.append(f"{node.name} ({n} lines)")
    return out


def room_violations(room: str, source: str) -> list[str]:
    bad = []
    for line, module in imported_names(source):
        parts = module.split(".")
        other = parts[2] if parts[:2] == ["archcalc", "memory"] and len(parts) > 2 else None
        if other in MAY_IMPORT and other != room and other not in MAY_IMPORT[room]:
            bad.append(f"line {line} imports {module}")
    return bad


@pytest.mark.parametrize("path", sorted((MEMORY / "liveness").glob("*.py")), ids=lambda p: p.name)
def test_liveness_functions_fit_on_a_screen(path):
    assert long_functions(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_rooms_import_only_downwards(room):
    files = sorted((MEMORY / room).glob("*.py"))
    assert files, f"archcalc/memory/{room}/ has no modules"
    bad = {p.name: v for p in files if (v := room_violations(room, p.read_text(encoding="utf-8")))}
    assert bad == {}


def test_no_module_left_loose_in_memory():
    # the closed forms, the simulator and the renderers live in their rooms; only the shared tables here
    assert sorted(p.name for p in MEMORY.glob("*.py")) == ["__init__.py", "optimizers.py", "precision.py",
                                                          "units.py"]


def test_checkers_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_functions(f"def f():\n{body}\n") == [f"f ({MAX_LINES + 1} lines)"]
    method = body.replace("\n", "\n    ")
    assert long_functions(f"class A:\n    def g(self):\n    {method}\n") == [f"g ({MAX_LINES + 1} lines)"]
    assert long_functions("def f():\n    return 1\n") == []
    source = "def f():\n    from archcalc.memory.render.peak import peak_json\nimport archcalc.memory.units\n"
    assert room_violations("liveness", source) == ["line 2 imports archcalc.memory.render.peak"]
    assert room_violations("formulas", "from archcalc.memory.liveness.peak import peak_memory\n") == [
        "line 1 imports archcalc.memory.liveness.peak"]
    assert room_violations("render", source) == []
