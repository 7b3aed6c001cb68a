"""``archcalc MODEL --symbolic``: totals as closed forms (rendering of :class:`archcalc.symbolic.ClosedForm`).

Private helper of the report command (a leading underscore keeps it out of command discovery).
"""

from __future__ import annotations

import argparse
from typing import Any

from dlperf.errors import ArgumentError
from dlperf.jsonio import json_text


def symbolic_json(cf: Any, at: tuple[int, int, int]) -> dict[str, Any]:
    """JSON-ready dict: ``totals`` and ``simplified`` are strings ``sympy.sympify`` parses (symbols H, W, B);
    ``at`` holds the symbols' ``values`` (keyed by symbol) and the ``totals`` there (docs/json.md)."""
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
        "at": {"values": {"H": h, "W": w, "B": b}, "totals": {f: cf.at(f, h, w, b) for f in cf.totals}},
    }


def _break_points(text: str) -> list[tuple[int, int, int]]:
    """(depth rank, end of the line, start of the next) of every place ``text`` may break: before a binary
    `` + `` / `` - `` (rank 2 x depth) and after a ``*`` that is no part of ``**`` (rank 2 x depth + 1)."""
    points, depth = [], 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch in "+-" and i >= 2 and text[i - 1] == " " and text[i + 1:i + 2] == " ":
            points.append((2 * depth, i - 1, i))
        elif ch == "*" and "*" not in (text[i - 1:i], text[i + 1:i + 2]) and 0 < i < len(text) - 1:
            points.append((2 * depth + 1, i + 1, i + 1))
    return points


def _wrap(text: str, first: str, cont: str, width: int) -> list[str]:
    """``first + text`` in lines of at most ``width`` characters, continuation lines starting with ``cont``."""
    points = _break_points(text)
    if len(first) + len(text) <= width or not points:
        return [first + text]  # fits, or one token longer than the line: never split inside a name or number
    rank = min(r for r, _, _ in points)
    cuts = [(end, start) for r, end, start in points if r == rank]
    pieces, at = [], 0
    for end, start in cuts:
        pieces.append((text[at:end], " " if start > end else ""))  # the separator that went before the next piece
        at = start
    pieces.append((text[at:], ""))
    lines: list[str] = []
    line, sep = first, None  # sep None: nothing on ``line`` after its prefix yet
    for piece, sep_next in pieces:
        if sep is not None and len(line) + len(sep) + len(piece) <= width:
            line += sep + piece
        else:
            prefix = line if sep is None else cont
            if sep is not None:
                lines.append(line)
            if len(prefix) + len(piece) <= width:
                line = prefix + piece
            else:  # a piece too long for a line of its own: wrap it inside, one level deeper
                *done, line = _wrap(piece, prefix, " " * len(prefix) + "  ", width)
                lines += done
        sep = sep_next
    lines.append(line)
    return lines


def wrap_expression(head: str, text: str, width: int | None = 80, indent: int = 6) -> list[str]:
    """``head + text`` (a sympy expression as text) in lines of at most ``width`` characters.

    Sums break before their top-level ``+`` / ``-`` signs (continuation lines start with the sign,
    ``indent`` spaces in); a term still too long breaks after its top-level ``*``; a factor still too long
    breaks at the signs inside its parentheses, and so on down, each level indented two spaces more. A name
    or a number is never split, so joining the lines gives back the same expression; ``width=None`` keeps
    one line (files and pipes).

    Examples
    --------
    >>> for line in wrap_expression("  macs = ", "9408*B*(floor(H/2 - 1/2) + 1) + 147456*B*(floor(H/4 - 1/4) + 1)"
    ...                             " + 512000*B", width=50):
    ...     print(line)
      macs = 9408*B*(floor(H/2 - 1/2) + 1)
          + 147456*B*(floor(H/4 - 1/4) + 1)
          + 512000*B
    >>> for line in wrap_expression("  x = ", "512*B*(floor(H/7) + floor(2*H/7) + floor(3*H/7))*(W + 1)", width=30):
    ...     print(line)
      x = 512*B*
            (floor(H/7) + floor(2*H/7)
              + floor(3*H/7))*
            (W + 1)
    """
    if width is None:
        return [head + text]
    return _wrap(text, head, " " * indent, width)


def _wrap_list(head: str, items: list[str], width: int | None, indent: int = 2) -> list[str]:
    """``head`` and ``items`` joined by ``", "``, broken between items into lines of at most ``width``."""
    lines = [head + (items[0] if items else "")]
    for item in items[1:]:
        if width is None or len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += ", " + item
        else:
            lines[-1] += ","
            lines.append(" " * indent + item)
    return lines


def symbolic_text(cf: Any, at: tuple[int, int, int], latex: bool = False, width: int | None = 80) -> str:
    """Plain text (or LaTeX) of the closed forms, the condition and their values at ``at`` = (H, W, B).

    Plain text is wrapped to ``width`` characters (:func:`wrap_expression`; ``None``: one line per field, for
    files and pipes); LaTeX is never wrapped.
    """
    import textwrap

    import sympy

    h, w, b = at
    show = sympy.latex if latex else sympy.sstr

    def field(f: str, e: Any) -> list[str]:
        return [f"  {f} = {show(e)}"] if latex else wrap_expression(f"  {f} = ", show(e), width)

    def prose(line: str) -> list[str]:
        return [line] if width is None else textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False)

    lines = prose(f"{cf.network}: totals for input {cf.channels} x H x W, batch B (exact for H, W >= {cf.min_size})")
    for f, e in cf.totals.items():
        lines += field(f, e)
    lines += prose(f"simplified, exact where {cf.condition}:")
    for f, e in cf.simplified.items():
        lines += field(f, e)
    lines += _wrap_list(f"at H={h}, W={w}, B={b}: ", [f"{f} = {cf.at(f, h, w, b):,}" for f in cf.totals], width)
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
        if isinstance(exc, ArgumentError):  # names its parameter; the frame shows the flag
            raise
        raise ValueError(f"--symbolic: {network.name} has no closed form in H and W (it accepts only some input "
                         f"sizes: {exc}); drop --symbolic or evaluate at --input") from None
    at = (shape[1], shape[2], args.batch)
    if args.format == "json":
        text = json_text(symbolic_json(cf, at), indent=2) + "\n"
    else:
        from dlperf.tables import output_console

        width = None if args.output is not None else output_console()[1]  # a terminal's width; files and pipes: whole
        text = symbolic_text(cf, at, latex=args.format == "latex", width=width)
    from dlperf.fileio import write_or_print

    write_or_print(text, args.output)
    return 0
