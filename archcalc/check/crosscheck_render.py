"""Rendering of a cross-check: pure functions from a :class:`~archcalc.check.crosscheck.CrossCheck` to text.

Nothing is computed here: :func:`to_table` (a rich Table that fits the console), :func:`to_markdown`,
:func:`to_json`, and the :func:`header` / :func:`footer` lines around them (``archcalc crosscheck`` prints
them), and :func:`saved_json` / :func:`saved_line` for the saved-tensor check
(:class:`~archcalc.check.saved.SavedCheck`, ``--saved``); every number comes from the result.

Examples
--------
>>> from archcalc.check.crosscheck import crosscheck
>>> result = crosscheck("inception-small", (1, 8, 8))
>>> to_json(result)["ok"], to_markdown(result).splitlines()[0].split(" | ")[:2]
(True, ['| layer', 'kind'])
"""

from __future__ import annotations

from typing import Any

from archcalc.check.crosscheck import COMPARED, CheckRow, CrossCheck
from archcalc.check.saved import SavedCheck

__all__ = ["to_table", "to_json", "to_markdown", "table_rows", "footer", "header", "DROP_ORDER", "saved_json",
           "saved_line"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return f"{value:,}" if isinstance(value, int) else str(value)


#: Table columns: (header, field, side) with side "a" = archcalc, "o" = oracle.
_COLUMNS = (
    ("shape (archcalc)", "shape", "a"),
    ("shape (torch)", "shape", "o"),
    ("params", "params", "a"),
    ("params (fvcore)", "params", "o"),
    ("fvcore MACs (archcalc)", "fvcore_macs", "a"),
    ("fvcore MACs (fvcore)", "fvcore_macs", "o"),
    ("acts (archcalc)", "fvcore_activations", "a"),
    ("acts (fvcore)", "fvcore_activations", "o"),
    ("fwd FLOPs (archcalc torch)", "torch_forward_flops", "a"),
    ("fwd FLOPs (FlopCounterMode)", "torch_forward_flops", "o"),
    ("bwd FLOPs (archcalc torch)", "torch_backward_flops", "a"),
    ("bwd FLOPs (FlopCounterMode)", "torch_backward_flops", "o"),
)


def table_rows(result: CrossCheck) -> list[list[str]]:
    """Rows of the side-by-side table as strings: layer, kind, the :data:`_COLUMNS`, verdict."""
    out = []
    for row in (*result.rows, result.total):
        cells = [row.name or "(total)", row.kind]
        for _, field, side in _COLUMNS:
            check = row.get(field)
            cells.append("" if check is None else _fmt(check.archcalc if side == "a" else check.oracle))
        out.append([*cells, row.verdict])
    return out


#: Pairs of columns :func:`to_table` leaves out, first to last, when the console is narrower than the table
#: (then the kind column); the layer, the fvcore MACs pair and the verdict always stay. The verdict still
#: compares every field.
DROP_ORDER = ("fvcore_activations", "torch_backward_flops", "shape", "params", "torch_forward_flops")


def _rich_header(header: str) -> str:
    """A two-line header (``fvcore MACs`` over ``(fvcore)``): narrow columns, numbers never cut."""
    return header.replace(" (", "\n(", 1)


def to_table(result: CrossCheck, width: int | None = None, every_row: bool = True) -> Any:
    """A rich Table: one row per archcalc row, archcalc's value beside the oracle's, a verdict per row.

    With ``width`` (the console's), a wider table loses the column pairs of :data:`DROP_ORDER` one pair at a
    time, then the kind column, then its edges and padding, and then layer names, verdicts and kinds fold
    onto further lines (:func:`dlperf.tables.fit_table`); numbers are never cut, and the caption names what
    was left out. ``width=None`` keeps every column. ``every_row=False`` (the CLI's default; ``--all`` lists
    every row) keeps the mismatching rows and the total, and the caption counts the agreeing rows left out.

    Examples
    --------
    >>> from archcalc.check.crosscheck import crosscheck
    >>> result = crosscheck("inception-small", (1, 8, 8))
    >>> [c.header.replace("\\n", " ") for c in to_table(result, width=80).columns]
    ['layer', 'fvcore MACs (archcalc)', 'fvcore MACs (fvcore)', 'verdict']
    >>> to_table(result).caption is None
    True
    """
    from rich.table import Table

    from dlperf.tables import fit_table, fix_widths

    title = (f"{result.model} vs {result.twin}, input {_fmt(result.input_shape)}, batch {result.batch}: "
             + ("all agree" if result.ok else f"{len(result.mismatches)} mismatching rows"))
    table = Table(title=title, caption_justify="left")
    table.add_column("layer", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for header, _, _ in _COLUMNS:
        table.add_column(_rich_header(header), justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    rows = table_rows(result)
    shown = rows if every_row else [c for c in rows if c[-1].startswith("MISMATCH") or c is rows[-1]]
    for cells in shown:
        style = "red" if cells[-1].startswith("MISMATCH") else None
        table.add_row(*cells, style=style)
    hidden = len(rows) - len(shown)
    notes = [f"{hidden} agreeing rows not shown; --all lists every row"] if hidden else []
    table.caption = "\n".join(notes) or None
    if width is None:
        return table
    fix_widths(table)
    drop = [tuple(_rich_header(h) for h, f, _ in _COLUMNS if f == field) for field in DROP_ORDER] + ["kind"]
    dropped = fit_table(table, width, drop, fold=("layer", "verdict", "kind"))
    if dropped:
        names = ", ".join(dict.fromkeys(h.split("\n")[0] for h in dropped))  # a pair once: "shape", not both sides
        table.caption = "\n".join([*notes, f"left out to fit {width} columns: {names} (the verdict still compares "
                                    "every field; all columns with --markdown, --json, a pipe or a wider terminal)"])
    return table


def header(result: CrossCheck, input_given: bool = True, batch_given: bool = True, width: int = 110) -> str:
    """Lines stating what was run: the model and its twin, input and batch (and whether they are defaults), and
    what is compared.

    Examples
    --------
    >>> from archcalc.check.crosscheck import CheckRow, CrossCheck
    >>> r = CrossCheck("vgg11", "torchvision:vgg11", (3, 224, 224), 1, (), CheckRow("", "", None, ()), (), ())
    >>> print(header(r, input_given=False, batch_given=False))
    archcalc vgg11 vs torchvision:vgg11 (built with weights=None: no download)
    input 3x224x224 per sample (the model's default; --input CxHxW for another), batch 1 (default; --batch N)
    compared per layer: output shapes (forward hooks); params (fvcore parameter_count); MACs (fvcore
      FlopCountAnalysis vs archcalc's fvcore convention); activations (fvcore ActivationCountAnalysis); forward
      and total backward FLOPs (torch FlopCounterMode vs archcalc's torch convention)
    """
    import textwrap

    inp = _fmt(result.input_shape) + (" per sample" if input_given else
                                      " per sample (the model's default; --input CxHxW for another)")
    batch = f"batch {result.batch}" + ("" if batch_given else " (default; --batch N)")
    compared = textwrap.wrap("compared per layer: " + "; ".join(COMPARED), width=width, subsequent_indent="  ")
    return "\n".join([f"archcalc {result.model} vs {result.twin} (built with weights=None: no download)",
                      f"input {inp}, {batch}", *compared])


def footer(result: CrossCheck) -> str:
    """Lines listing what fvcore skipped and the verdict."""
    ops = ", ".join(f"{op} x{n}" for op, n in result.unsupported_ops) or "none"
    lines = [f"ops fvcore skipped (counted 0 by fvcore): {ops}"]
    if result.unmodeled:
        lines.append(f"ops archcalc does not model (counted 0 by archcalc): {', '.join(result.unmodeled)}")
    if result.uncalled_modules:
        lines.append(f"modules fvcore never saw called: {', '.join(result.uncalled_modules)}")
    lines.append("-: no oracle for this cell (per-module backward: FlopCounterMode attributes it unreliably; "
                 "functional ops: covered by the total row)")
    lines.append("verdict: " + ("all rows agree" if result.ok else
                                f"MISMATCH in {', '.join(r.name or '(total)' for r in result.mismatches)}"))
    return "\n".join(lines)


def to_markdown(result: CrossCheck) -> str:
    """The side-by-side table as Markdown, followed by the :func:`footer` lines."""
    header = ["layer", "kind", *(h for h, _, _ in _COLUMNS), "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(_COLUMNS) + ["---"]) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(result)]
    return "\n".join(lines) + "\n\n" + footer(result).replace("\n", "  \n") + "\n"


def to_json(result: CrossCheck) -> dict[str, Any]:
    """A JSON-ready dict (exact ints stay ints; shapes are lists)."""
    def value(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v

    def row(r: CheckRow) -> dict[str, Any]:
        return {
            "name": r.name,
            "kind": r.kind,
            "module": r.module,
            "verdict": r.verdict,
            "checks": {c.field: {"archcalc": value(c.archcalc), "oracle": value(c.oracle)} for c in r.checks},
        }

    return {
        "model": result.model,
        "twin": result.twin,
        "input": list(result.input_shape),
        "batch": result.batch,
        "ok": result.ok,
        "rows": [row(r) for r in result.rows],
        "total": row(result.total),
        "unsupported_ops": dict(result.unsupported_ops),
        "uncalled_modules": list(result.uncalled_modules),
        "unmodeled": list(result.unmodeled),
    }


def saved_json(check: SavedCheck) -> dict[str, Any]:
    """A JSON-ready dict of a :class:`SavedCheck` (bytes by dtype, exact ints)."""
    return {
        "batch": check.batch,
        "archcalc_bytes": dict(check.archcalc_by_dtype),
        "archcalc_cpu_bytes": check.archcalc_cpu_by_dtype,
        "torch_bytes": dict(check.torch_by_dtype),
        "difference_bytes": check.difference_bytes,
        "ok": check.ok,
    }


def saved_line(check: SavedCheck) -> str:
    """One line: both totals, the verdict and, where it applies, the explained dropout-mask difference."""
    verdict = "agree" if check.ok else "MISMATCH"
    note = ""
    if check.ok and check.difference_bytes:
        note = (f" (autograd keeps {check.difference_bytes:,} bytes more: on the CPU dropout saves float32 masks, "
                "archcalc counts CUDA's 1-byte masks)")
    return (f"saved for backward at batch {check.batch}: archcalc {check.archcalc_bytes:,} bytes, "
            f"autograd {check.torch_bytes:,} bytes: {verdict}{note}")
