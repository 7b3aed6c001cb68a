"""80-column terminals: ``archcalc crosscheck``'s table and ``archcalc MODEL --symbolic`` fit, numbers whole;
files and pipes keep every column and one line per closed form."""

from __future__ import annotations

import io

import pytest
import sympy
from rich.console import Console

import dlperf.tables
from archcalc.cli import main


def _terminal(monkeypatch, width: int = 80) -> io.StringIO:
    """Make the commands see a terminal of ``width`` columns writing into the returned buffer."""
    buf = io.StringIO()
    console = Console(width=width, file=buf, color_system=None, legacy_windows=False)
    monkeypatch.setattr(dlperf.tables, "output_console", lambda *a, **k: (console, width))
    return buf


# ----------------------------------------------------------------------------------------------------------
# crosscheck


@pytest.mark.torch
@pytest.mark.parametrize(("model", "shape"), [("inception-small", "1x8x8"), ("resnet18", "3x32x32")])
def test_crosscheck_table_fits_80_columns_numbers_whole(model, shape, monkeypatch, capsys):
    from archcalc.crosscheck import crosscheck
    from archcalc.report import parse_input_shape

    buf = _terminal(monkeypatch)
    assert main(["crosscheck", model, "--input", shape, "--all"]) == 0
    text = buf.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80  # was 260+ columns
    assert "…" not in text  # nothing cut with an ellipsis
    result = crosscheck(model, parse_input_shape(shape))
    # The oracle is fvcore's FlopCountAnalysis (run again here): its whole-model count and archcalc's, whole,
    # on the total row beside the verdict.
    total = result.total.get("fvcore_macs")
    row = next(line for line in lines if line.strip("│ ").startswith("(total)"))
    assert row.count(f"{total.oracle:,}") == 2 and total.oracle == total.archcalc and "ok" in row
    # every layer is listed (a folded name continues on the next line: compare without the table rules)
    flat = "".join(line.strip("│┃ ").split("│")[0].strip() for line in lines)
    assert all(r.name in flat for r in result.rows)
    caption = " ".join(text.split("left out to fit 80 columns: ")[1].split())
    assert caption.startswith("acts, bwd FLOPs, shape, params, fwd FLOPs")
    assert "the verdict still compares every field" in caption
    assert "verdict: all rows agree" in text


@pytest.mark.torch
def test_crosscheck_in_a_pipe_keeps_every_column(capsys):
    from archcalc.crosscheck import _COLUMNS

    assert main(["crosscheck", "inception-small", "--input", "1x8x8"]) == 0
    out = capsys.readouterr().out
    assert "left out" not in out and "…" not in out
    headers = " ".join(line for line in out.splitlines() if line.startswith("┃"))
    for head, _, _ in _COLUMNS:  # two-line headers: the first word group on one line, "(oracle)" below
        assert head.split(" (")[0] in headers
    assert max(len(line) for line in out.splitlines()) > 200


# ----------------------------------------------------------------------------------------------------------
# --symbolic


def _fields(text: str, names: list[str]) -> dict[str, str]:
    """The text of each ``  name = ...`` field of the totals section, its lines joined back into one."""
    out: dict[str, str] = {}
    current = None
    for line in text.split("simplified, exact where")[0].splitlines()[1:]:
        head = line.strip().split(" = ", 1)
        if line.startswith("  ") and not line.startswith("   ") and head[0] in names:
            current = head[0]
            out[current] = head[1]
        elif current is not None:
            out[current] += " " + line.strip()
    return out


# inception_v3 is no archcalc zoo model (closed forms are for zoo models only); googlenet (Inception v1) and
# inception-small stand in for the Inception family.
@pytest.mark.parametrize("model", ["vgg19", "resnet18", "googlenet", "inception-small"])
def test_symbolic_lines_fit_80_columns_and_parse_back(model, monkeypatch, capsys):
    from archcalc.symbolic import closed_form, symbols
    from archcalc.zoo import build

    _terminal(monkeypatch)
    assert main([model, "--symbolic"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80  # vgg19's pooling term alone was 631 characters
    network = build(model)
    cf = closed_form(network, network.default_input[0])
    fields = _fields(out, list(cf.totals))
    assert set(fields) == set(cf.totals)
    h, w, b = symbols()
    for name, expr in cf.totals.items():
        # oracle: sympy parses the wrapped text, line breaks removed, to the very expression closed_form built
        assert sympy.sympify(fields[name], locals={"H": h, "W": w, "B": b}) == expr, name
    # the values line, wrapped between its items, still names every total with its exact value at 3x224x224
    at = " ".join(out.split("at H=")[1].split())
    c, hh, ww = network.default_input
    for name in cf.totals:
        assert f"{name} = {cf.at(name, hh, ww, 1):,}" in at


def test_symbolic_in_a_pipe_is_one_line_per_field(capsys):
    from archcalc.symbolic import closed_form
    from archcalc.zoo import build

    assert main(["vgg19", "--symbolic"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cf = closed_form(build("vgg19"), 3)
    # 1 heading + 5 totals + 1 "simplified" heading + 5 simplified + 1 values line
    assert len(lines) == 1 + len(cf.totals) + 1 + len(cf.simplified) + 1
    assert max(len(line) for line in lines) > 600  # the adaptive-pool product, whole
