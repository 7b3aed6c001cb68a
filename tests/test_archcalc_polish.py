"""CLI polish: tables fit an 80-column console, --help without reStructuredText, JSON ``rows``, readable closed
forms (nested floors merged, long sums wrapped), and the crosscheck header and progress hook."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from archcalc.render import DROP_ORDER, print_table, table_text, to_json
from archcalc.report import report, resolve_model
from archcalc.symbolic import merge_nested_floors

# ----------------------------------------------------------------------------------------------------------
# 1. tables fit the console


def _at_width(rep, width: int) -> str:
    buf = io.StringIO()
    print_table(rep, console=Console(width=width, file=buf, color_system=None, legacy_windows=False))
    return buf.getvalue()


@pytest.mark.parametrize("model", ["resnet18", "vgg19_bn", "googlenet", "llama"])
@pytest.mark.parametrize("training", [False, True])
def test_table_fits_80_columns_and_keeps_the_main_columns(model, training):
    rep = report(resolve_model(model), training=training)
    text = _at_width(rep, 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text  # no cell cut short with an ellipsis
    header = next(line for line in lines if "output shape" in line)
    for title in ("layer", "kind", "output shape", "params", "MACs"):
        assert title in header
    # the totals are printed whole: the params and MACs of the total row as the CSV (exact ints) has them
    assert f"{rep.totals['params']:,}" in text and f"{rep.totals['compute']:,}" in text
    dropped = [t for t in DROP_ORDER if t in ("bytes", "activations") or training]
    assert f"left out to fit 80 columns: {', '.join(dropped)}" in text.replace("\n", " ")


def test_resnet18_table_at_80_has_its_known_totals():
    # torchvision resnet18: 11,689,512 parameters; 1,814,073,344 MACs at 1x3x224x224 (1.8 GMACs, He et al. 2016)
    text = _at_width(report(resolve_model("resnet18")), 80)
    assert "11,689,512" in text and "1,814,073,344" in text
    assert "conv1" in text and "Conv2d" in text and "1x64x112x112" in text


def test_wide_console_file_and_pipe_keep_every_column():
    rep = report(resolve_model("alexnet"), training=True)
    titles = ["layer", "kind", "output shape", "params", "MACs", "activations", "bytes", "backward MACs", "saved bytes"]
    for text in (_at_width(rep, 250), table_text(rep)):
        header = next(line for line in text.splitlines() if "output shape" in line)
        assert all(t in header for t in titles)
        assert "left out" not in text
    buf = io.StringIO()  # a StringIO is no terminal: full width whatever rich guesses for its size
    print_table(rep, file=buf, color=False)
    assert buf.getvalue() == table_text(rep)


def test_mlcore_curves_table_fits_80_columns():
    from dlperf.tables import print_table as print_any
    from mlcore.curves.report import evaluate_models

    # labels 1,0,1,0 scored .9,.8,.7,.1: positives rank 1st and 3rd, 3 of the 4 (pos, neg) pairs in order,
    # AUROC = 3/4 = 0.7500
    rep = evaluate_models([1, 0, 1, 0], {"a model with a long descriptive name": [0.9, 0.8, 0.7, 0.1]})
    from mlcore.curves.render import report_table

    buf = io.StringIO()
    assert print_any(report_table(rep), console=Console(width=80, file=buf, color_system=None)) == []
    text = buf.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    row = next(line for line in text.splitlines() if "a model with a long descriptive name" in line)
    assert "0.7500" in row
    assert all(h in text for h in ("AUROC", "AUPR", "AP", "AUPRG"))


def test_shared_print_table_gives_a_pipe_the_full_width(capsys):
    from rich.table import Table

    from dlperf.tables import print_table as print_any

    table = Table(*(f"column {i}" for i in range(12)))
    table.add_row(*(f"{10**12 + i:,}" for i in range(12)))  # 12 x (17 + 3) + 1 = 241 characters > 120
    print_any(table, min_width=120)
    out = capsys.readouterr().out
    assert "1,000,000,000,011" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) == 241


# ----------------------------------------------------------------------------------------------------------
# 2. --help without reStructuredText markup

_RST = re.compile(r"``|:(func|mod|class|meth|data|attr|obj):`")


def _help_texts():
    for prog in ("archcalc", "staleness", "mlcore"):
        cli = importlib.import_module(f"{prog}.cli")
        sub = next(a for a in cli.build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
        yield prog, []
        for name in sub.choices:
            yield prog, [name]


@pytest.mark.parametrize("prog, argv", list(_help_texts()), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_help_has_no_restructuredtext_markup(prog, argv):
    main = importlib.import_module(f"{prog}.cli").main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main([*argv, "--help"])
        except SystemExit as exc:  # the frame may return argparse's exit status or let it through
            code = exc.code
    assert code in (0, None)
    text = out.getvalue()
    assert "usage:" in text
    assert not _RST.search(text), [line for line in text.splitlines() if _RST.search(line)]


def test_plain_help_strips_roles_and_literals():
    from dlperf.cli import plain_help

    assert plain_help("see :mod:`dlperf.cli`, :func:`~a.b.c` and ``x --y``") == "see dlperf.cli, c and x --y"


# ----------------------------------------------------------------------------------------------------------
# 3. JSON key = attribute name


def test_json_rows_match_report_rows_and_are_written_once():
    rep = report(resolve_model("vgg11"), depth=1)
    doc = json.loads(to_json(rep))
    assert [r["name"] for r in doc["rows"]] == [r.name for r in rep.rows]
    assert [r["macs"] for r in doc["rows"]] == [r.macs for r in rep.rows]
    assert "layers" not in doc  # the rows once: 0.1.0's copy under "layers" doubled the file
    # vgg11 at 224: 7,609,090,048 MACs (the docs/archcalc.md total); the rows add up to it
    assert sum(r["macs"] for r in doc["rows"]) == doc["totals"]["macs"] == 7_609_090_048


# ----------------------------------------------------------------------------------------------------------
# 4. nested floors merged, long sums wrapped


def _ceil_div(p: int, q: int) -> int:
    """ceiling(p/q) on exact integers: -floor(-p/q)."""
    return -(-p // q)


@given(st.integers(-10_000, 10_000), st.integers(1, 50), st.integers(1, 50))
def test_nested_floor_identity_on_integers(x, a, b):
    # Python's // is floor division on exact integers: the oracle for floor(floor(x/a)/b) = floor(x/(a*b))
    assert (x // a) // b == x // (a * b)
    assert _ceil_div(_ceil_div(x, a), b) == _ceil_div(x, a * b)


@given(st.integers(1, 12), st.integers(1, 12), st.integers(-5, 5), st.integers(-5, 5), st.integers(1, 500))
def test_merge_nested_floors_keeps_the_value(a, b, k, j, h):
    H = sympy.Symbol("H", integer=True, positive=True)
    for fn in (sympy.floor, sympy.ceiling):
        nested = fn((fn((H + j) / a) + k) / b) + 1
        merged = merge_nested_floors(nested)
        inner = merged.atoms(fn)
        assert all(not a_.args[0].atoms(fn) for a_ in inner), merged  # no floor left inside a floor
        # exact integer oracle: Python floor division, ceiling as -floor(-y)
        div = (lambda p, q: p // q) if fn is sympy.floor else _ceil_div
        expected = div(div(h + j, a) + k, b) + 1
        assert merged.subs(H, h) == expected


def test_merge_leaves_a_non_unit_coefficient_alone():
    H = sympy.Symbol("H", integer=True, positive=True)
    # floor(2*floor(H/3)/3) != floor(2H/9) at H = 4: floor(2*1/3) = 0, floor(8/9) = 0; at H = 5: 0 vs floor(10/9) = 1
    expr = sympy.floor(2 * sympy.floor(H / 3) / 3)
    assert merge_nested_floors(expr) == expr


def test_resnet18_symbolic_output_is_readable(capsys, monkeypatch):
    import dlperf.tables
    from archcalc.cli import main

    # an 80-column terminal (a pipe gets one line per field: see tests/test_archcalc_polish_fit.py)
    monkeypatch.setattr(dlperf.tables, "output_console", lambda *a, **k: (Console(width=80), 80))
    assert main(["resnet18", "--symbolic"]) == 0
    out = capsys.readouterr().out
    assert "floor(floor" not in out and "ceiling(ceiling" not in out
    # five stride-2 stages: 224 -> 112 -> 56 -> 28 -> 14 -> 7, i.e. floor(H/32 - 1/32) + 1 after merging
    assert "floor(H/32 - 1/32)" in out
    formula_lines = out.splitlines()
    assert max(len(line) for line in formula_lines) <= 80
    assert any(line.startswith("      + ") for line in formula_lines)
    # the printed values are unchanged: 1,814,073,344 MACs at 224x224 (as the table above)
    assert "macs = 1,814,073,344" in out


# ----------------------------------------------------------------------------------------------------------
# 5. crosscheck header and progress


def test_crosscheck_header_states_defaults_and_progress_sees_every_step(capsys, monkeypatch):
    import dlperf.progress
    from archcalc.cli import main
    from archcalc.crosscheck import STEPS

    seen: dict = {"labels": []}
    real = dlperf.progress.progress

    @contextlib.contextmanager
    def spy(total, description, enabled=None):
        seen["total"], seen["description"] = total, description
        with real(total, description, enabled=False) as bar:
            original = bar.advance

            def advance(n=1, label=None):
                seen["labels"].append(label)
                original(n, label)

            bar.advance = advance
            yield bar

    monkeypatch.setattr(dlperf.progress, "progress", spy)
    assert main(["crosscheck", "inception-small", "--input", "1x8x8"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "archcalc inception-small vs archcalc:inception_small (built with weights=None: no download)"
    assert lines[1] == "input 1x8x8 per sample, batch 1 (default; --batch N)"
    assert lines[2].startswith("compared per layer: output shapes (forward hooks); params (fvcore parameter_count)")
    assert "FlopCounterMode" in out.split("inception-small vs archcalc:inception_small, input")[0]
    assert seen == {"total": len(STEPS), "description": "crosscheck inception-small", "labels": list(STEPS)}
    assert err == ""  # the bar is for terminals only


def test_crosscheck_header_names_given_values_without_default_marks():
    from archcalc.crosscheck import CheckRow, CrossCheck, header

    r = CrossCheck("resnet18", "torchvision:resnet18", (3, 64, 64), 4, (), CheckRow("", "", None, ()), (), ())
    head = header(r).splitlines()
    assert head[1] == "input 3x64x64 per sample, batch 4"
    assert "default" not in "\n".join(head)


def test_title_names_the_input_actually_used():
    # vgg19 at 1x64x64: the title must not read as the 3x224x224 model; the first conv reads 1 channel:
    # 64*1*3*3 + 64 = 640 parameters instead of 64*3*3*3 + 64 = 1,792
    from archcalc.render import header_lines
    from archcalc.report import report, resolve_model

    rep = report(resolve_model("vgg19"), (1, 64, 64))
    assert header_lines(rep)[0].startswith("vgg19 at input 1x64x64 (its default is 3x224x224): ")
    assert rep.rows[0].params == 640
    assert header_lines(report(resolve_model("vgg19")))[0].startswith("vgg19: ")
