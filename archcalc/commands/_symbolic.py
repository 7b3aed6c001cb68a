"""``archcalc MODEL --symbolic``: totals as closed forms (rendering of :class:`archcalc.symbolic.ClosedForm`).

Private helper of the report command (a leading underscore keeps it out of command discovery).
"""

from __future__ import annotations

import argparse
from typing import Any

from dlperf.jsonio import json_text

__all__ = ["symbolic_json", "symbolic_text", "wrap_sum", "emit_symbolic"]


def symbolic_json(cf: Any, at: tuple[int, int, int]) -> dict[str, Any]:
    """JSON-ready dict: ``totals`` and ``simplified`` are strings ``sympy.sympify`` parses (symbols H, W, B)."""
    h, w, b = at
    return {
        "model": cf.network,
        "channels": cf.channels,
        "symbols": ["H", "W", "B"],
        "totals": {f: str(e) for f, e in cf.totals.items()},
        "simplified": {f: str(e) for f, e in cf.simplified.items()},
        "condition": cf.condition,
        "modulus": list(cf.modulus),
        "residue": list(cf.residue),
        "min_size": cf.min_size,
        "at": {"H": h, "W": w, "B": b, "totals": {f: cf.at(f, h, w, b) for f in cf.totals}},
    }


def wrap_sum(head: str, text: str, width: int = 80, indent: int = 6) -> list[str]:
    """``head + text`` broken before top-level ``+`` / ``-`` signs into lines of at most ``width`` characters.

    Only signs outside parentheses are break points, so a term is never split; a term longer than ``width``
    keeps a line of its own. Continuation lines start with the sign, indented by ``indent`` spaces.

    Examples
    --------
    >>> for line in wrap_sum("  macs = ", "9408*B*(floor(H/2 - 1/2) + 1) + 147456*B*(floor(H/4 - 1/4) + 1) + 512000*B",
    ...                      width=50):
    ...     print(line)
      macs = 9408*B*(floor(H/2 - 1/2) + 1)
          + 147456*B*(floor(H/4 - 1/4) + 1)
          + 512000*B
    """
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and ch in "+-" and i >= 2 and text[i - 1] == " " and text[i + 1:i + 2] == " ":
            terms.append(text[start:i - 1])
            start = i
    terms.append(text[start:])
    lines = [head + terms[0]]
    for term in terms[1:]:
        if len(lines[-1]) + 1 + len(term) <= width:
            lines[-1] += " " + term
        else:
            lines.append(" " * indent + term)
    return lines


def symbolic_text(cf: Any, at: tuple[int, int, int], latex: bool = False, width: int = 80) -> str:
    """Plain text (or LaTeX) of the closed forms, the condition and their values at ``at`` = (H, W, B).

    Plain-text sums longer than ``width`` characters are wrapped between terms (:func:`wrap_sum`).
    """
    import sympy

    h, w, b = at
    show = sympy.latex if latex else sympy.sstr

    def field(f: str, e: Any) -> list[str]:
        return [f"  {f} = {show(e)}"] if latex else wrap_sum(f"  {f} = ", show(e), width)

    lines = [f"{cf.network}: totals for input {cf.channels} x H x W, batch B (exact for H, W >= {cf.min_size})"]
    for f, e in cf.totals.items():
        lines += field(f, e)
    lines.append(f"simplified, exact where {cf.condition}:")
    for f, e in cf.simplified.items():
        lines += field(f, e)
    lines.append(f"at H={h}, W={w}, B={b}: " + ", ".join(f"{f} = {cf.at(f, h, w, b):,}" for f in cf.totals))
    return "\n".join(lines) + "\n"


def emit_symbolic(network: Any, args: argparse.Namespace) -> int:
    """Print the closed forms of ``network`` in ``args.format`` (table, json or latex)."""
    from archcalc.report import parse_input_shape
    from archcalc.symbolic import closed_form

    if network.traced_at is not None:
        raise ValueError(f"--symbolic: {network.name} is a traced graph, fixed at its input; closed forms are "
                         "for zoo models")
    shape = parse_input_shape(args.input[0]) if args.input else network.default_input
    if args.format not in ("table", "json", "latex"):
        raise ValueError(f"--symbolic: got --{args.format}; use the table, --json or --latex with --symbolic")
    convention = None if args.convention == "macs" else args.convention
    try:
        cf = closed_form(network, shape[0], convention)
    except ValueError as exc:
        if str(exc).startswith("--"):
            raise
        raise ValueError(f"--symbolic: {network.name} has no closed form in H and W (it accepts only some input "
                         f"sizes: {exc}); drop --symbolic or evaluate at --input") from None
    at = (shape[1], shape[2], args.batch)
    if args.format == "json":
        text = json_text(symbolic_json(cf, at), indent=2) + "\n"
    else:
        text = symbolic_text(cf, at, latex=args.format == "latex")
    from dlperf.fileio import write_or_print

    write_or_print(text, args.output)
    return 0
