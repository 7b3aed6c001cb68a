"""``archcalc formula KIND [--latex] [--json]``: the formulas of one layer kind on symbols."""

from __future__ import annotations

import argparse
import sys

from dlperf.jsonio import json_text


def render_sheet(sheet, fmt: str = "table", width: int | None = None) -> str:
    """Text of a :class:`~archcalc.costs.symbolic.FormulaSheet`: ``table`` (aligned text), ``latex`` or ``json``.

    ``width``: wrap each ``table`` formula at its sums and products to this many characters (a terminal's
    width); ``None`` keeps one line per field (files and pipes)."""
    if fmt == "json":
        import sympy

        data = {"kind": sheet.kind, "condition": sheet.condition}
        data.update({k: v for k, v in sheet.text(latex=False)})
        data["input"] = [[sympy.sstr(d) for d in shape] for shape in sheet.inputs]
        data["output_shape"] = [sympy.sstr(s) for s in sheet.formulas["output_shape"]]
        return json_text(data, indent=2) + "\n"
    pairs = sheet.text(latex=fmt == "latex")
    if fmt == "latex":
        body = " \\\\\n".join(f"\\text{{{k.replace('_', ' ')}}} &= {v}" for k, v in pairs)
        return f"% {sheet.kind}: {sheet.condition}\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n"
    from archcalc.commands._symbolic import wrap_expression

    columns, width = width, max(len(k) for k, _ in pairs)
    lines = [f"{sheet.kind} (B = batch; {sheet.condition})"]
    for k, v in pairs:
        lines += wrap_expression(f"  {k.ljust(width)} = ", v, columns, indent=width + 5)
    return "\n".join(lines) + "\n"


def register(subparsers) -> None:
    from archcalc.ops import REGISTRY

    parser = subparsers.add_parser(
        "formula",
        help="formulas of one layer kind (output size, params, MACs, activations, backward MACs) on symbols",
        description="Print the registry formula of a layer kind evaluated on sympy symbols.",
    )
    parser.add_argument("kind", metavar="KIND", help=f"layer kind: {', '.join(REGISTRY)}")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--latex", dest="format", action="store_const", const="latex", help="LaTeX (aligned)")
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="JSON strings sympy parses")
    parser.set_defaults(func=run, format="table")


def run(args: argparse.Namespace) -> int:
    import shutil

    from archcalc.costs.symbolic import formula_sheet

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    sys.stdout.write(render_sheet(formula_sheet(args.kind), args.format, width))
    return 0
