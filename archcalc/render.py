"""Rendering: pure functions from a :class:`~archcalc.report.Report` to a rich Table or to text.

Nothing is computed here; every number comes from the report. Tables, Markdown and LaTeX print numbers
with thousands separators; JSON and CSV keep exact integers. The compute column is always named by its
unit (``MACs`` or ``FLOPs``), never a bare "FLOPs" for MACs.

Examples
--------
>>> from archcalc.report import report, resolve_model
>>> rep = report(resolve_model("alexnet"))
>>> print(to_csv(rep).splitlines()[1])
features.0,Conv2d,1x64x55x55,23296,70276800,140553600,193600,774400,193600,70276800
>>> import json
>>> json.loads(to_json(rep))["totals"]["params"]
61100840
"""

from __future__ import annotations

import csv
import io
from typing import Any

from archcalc.report import Report, ReportRow
from dlperf.errors import ArgumentError
from dlperf.jsonio import json_text

__all__ = ["header_lines", "to_table", "table_text", "to_json", "to_csv", "to_markdown", "to_latex", "render", "print_table", "FORMATS",
           "TOP_ROWS", "top_rows", "explanation_lines"]

FORMATS = ("table", "json", "csv", "markdown", "latex")
"""Names accepted by :func:`render`."""


def _shape(shape: tuple[Any, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _bytes_human(n: Any) -> str:
    if not isinstance(n, int):
        return str(n)
    return f"{n:,} B ({n / 2**20:,.1f} MiB)"


def header_lines(rep: Report) -> list[str]:
    """The metadata every format states: model, input, batch, dtype, convention and what is counted.

    Examples
    --------
    >>> from archcalc.report import report, resolve_model
    >>> header_lines(report(resolve_model("resnet18"), batch=4, dtype="bf16"))[1]
    'input 3x224x224 per sample, batch 4, dtype bf16 (2 bytes/element), output 4x1000'
    """
    other = rep.default_input is not None and tuple(rep.input_shape) != tuple(rep.default_input)
    at = f" at input {_shape(rep.input_shape)} (its default is {_shape(rep.default_input)})" if other else ""
    lines = [
        f"{rep.model}{at}" + (f": {rep.description}" if rep.description else ""),
        f"input {_shape(rep.input_shape)} per sample, batch {rep.batch}, dtype {rep.dtype} ({rep.dtype_bytes} bytes/element),"
        f" output {_shape(rep.output_shape)}",
        f"convention {rep.convention} ({rep.unit}): {rep.convention_description}",
        f"{_unit_title(rep)}, activations (output elements) and bytes (activations x {rep.dtype_bytes}) cover the whole"
        " batch; params are per model",
        f"the forward pass allocates {_num(rep.totals['allocated_activations'])} activation elements"
        f" = {_bytes_human(rep.totals['allocated_bytes'])} (in-place and view outputs share storage)",
    ]
    if rep.training:
        lines.append(
            f"training ({rep.optimizer}): backward MACs = weight gradients + input gradients where needed; memory = weights"
            " + gradients + optimizer state + tensors saved for backward"
        )
    if rep.depth is not None:
        lines.append(f"rows folded to the first {rep.depth} name component(s); output shape = the group's last layer's")
    lines.extend(f"note: {n}" for n in rep.notes)
    return lines


def _unit_title(rep: Report) -> str:
    """``MACs`` / ``FLOPs`` for the built-in conventions, ``FLOPs (fvcore)`` style for the others."""
    return rep.unit if rep.convention in ("macs", "flops") else f"{rep.unit} ({rep.convention})"


def _columns(rep: Report) -> list[tuple[str, str]]:
    """(title, attribute) of the human-readable columns."""
    cols = [
        ("layer", "name"),
        ("kind", "kind"),
        ("output shape", "output_shape"),
        ("params", "params"),
        (_unit_title(rep), "compute"),
        ("activations", "activations"),
        ("bytes", "bytes"),
    ]
    if rep.training:
        cols += [("backward MACs", "backward_macs"), ("saved bytes", "saved_bytes")]
    return cols


def _cell(row: ReportRow | None, attr: str, rep: Report) -> str:
    if row is None:  # totals row
        if attr == "name":
            return "total"
        if attr in ("kind", "output_shape"):
            return "" if attr == "kind" else _shape(rep.output_shape)
        if attr == "saved_bytes":
            return _num(rep.totals["activations_bytes"])
        return _num(rep.totals[attr])
    value = getattr(row, attr)
    return _shape(value) if attr == "output_shape" else (_num(value) if attr not in ("name", "kind") else value)


def _training_lines(rep: Report) -> list[str]:
    t = rep.totals
    lines = [
        f"backward MACs: {_num(t['backward_macs'])}",
        f"weights: {_bytes_human(t['weights_bytes'])}",
        f"gradients: {_bytes_human(t['gradients_bytes'])}",
        f"optimizer state ({rep.optimizer}): {_bytes_human(t['optimizer_bytes'])}",
        f"saved for backward: {_bytes_human(t['activations_bytes'])} = {_num(t['saved_activation_elements'])} activation"
        f" elements x {rep.dtype_bytes} + {_num(t['saved_fp32_elements'])} fp32 x 4 + {_num(t['saved_int64_elements'])}"
        f" int64 x 8 + {_num(t['saved_bool_elements'])} bool x 1",
        "training memory (peak of a steady-state step, as archcalc peak --training): "
        + (_bytes_human(t["training_bytes"]) if t["training_bytes"] is not None
           else "not modelled for " + (f"--precision {rep.dtype} (archcalc peak takes fp32, fp16, bf16)"
                                       if rep.dtype == "int8" else "a symbolic batch or extra inputs")),
    ]
    if rep.convention != "macs" and t.get("backward_compute") is not None:
        lines.insert(1, f"backward {_unit_title(rep)}: {_num(t['backward_compute'])}")
    return lines


#: Column headers :func:`to_table` leaves out, first to last, when the console is narrower than the table; the
#: layer, kind, output shape, params and compute columns always stay.
DROP_ORDER = ("saved bytes", "backward MACs", "bytes", "activations")


#: Rows the CLI's default table shows (the heaviest ones); ``--all`` or ``--depth N`` shows every row.
TOP_ROWS = 10


def explanation_lines(rep: Report) -> list[str]:
    """The lines of the header that explain what the columns mean (the same for every model): the table's
    caption holds them with ``explain=True`` (the CLI's ``--explain``), docs/archcalc.md always."""
    head = header_lines(rep)
    lines = head[2:4]
    lines += [line for line in head if line.startswith(("training (", "rows folded to"))]
    return lines


def top_rows(rep: Report, top: int | None) -> list[ReportRow]:
    """The rows a table shows: all of them (``top`` None or at least the row count, or a compute that is not a
    whole number), else the ``top`` rows with the most compute, heaviest first (ties keep their order)."""
    rows = list(rep.rows)
    if top is None or len(rows) <= top or not all(isinstance(r.compute, int) for r in rows):
        return rows
    return sorted(rows, key=lambda r: -r.compute)[:top]


def _share(part: int, whole: Any) -> str:
    """``part / whole`` as a percentage that never reads as all or none when it is not: 99.96% is ">99.9%"."""
    if not isinstance(whole, int) or whole <= 0:
        return "-"
    pct = 100 * part / whole
    if 99.9 < pct < 100:
        return ">99.9%"
    if 0 < pct < 0.1:
        return "<0.1%"
    return f"{pct:.1f}%"


def to_table(rep: Report, width: int | None = None, top: int | None = None, explain: bool = True):
    """A rich ``Table`` with one row per (folded) layer, a total row, and the header as title and caption.

    With ``width`` (the console's), a table wider than that loses the columns of :data:`DROP_ORDER` one by
    one until it fits, then its outer edges and padding, then long layer names and kinds fold onto a second line; a last line of the caption names what was left out. No cell is
    ever cut or wrapped. ``width=None`` keeps every column. With ``top``, a report of more rows shows only
    the ``top`` heaviest (:func:`top_rows`) and says how much of the total they hold; the total row is always
    the whole model's. ``explain=False`` leaves the lines of :func:`explanation_lines` out of the caption.

    Examples
    --------
    >>> from archcalc.report import report, resolve_model
    >>> table = to_table(report(resolve_model("alexnet"), convention="flops"))
    >>> [c.header for c in table.columns]
    ['layer', 'kind', 'output shape', 'params', 'FLOPs', 'activations', 'bytes']
    >>> table.row_count  # 22 layers and the total
    23
    >>> [c.header for c in to_table(report(resolve_model("resnet18")), width=80).columns]
    ['layer', 'kind', 'output shape', 'params', 'MACs']
    >>> to_table(report(resolve_model("resnet18")), top=10).row_count  # the 10 heaviest and the total
    11
    """
    from rich.table import Table

    head = header_lines(rep)
    caption = head[1:] + (_training_lines(rep) if rep.training else [])
    if not explain:
        hidden = set(explanation_lines(rep))
        caption = [line for line in caption if line not in hidden]
    shown = top_rows(rep, top)
    if len(shown) < len(rep.rows):
        part = sum(r.compute for r in shown)
        caption.append(f"the {len(shown)} heaviest of {len(rep.rows)} rows ({_share(part, rep.totals['compute'])} of "
                       f"the {rep.unit}); --all for every row in order, --depth N to fold them")
    table = Table(title=head[0], caption_justify="left", show_footer=False)
    cols = _columns(rep)
    cells = [[_cell(row, attr, rep) for _, attr in cols] for row in shown]
    total = [_cell(None, attr, rep) for _, attr in cols]
    for j, (title, attr) in enumerate(cols):
        numeric = attr not in ("name", "kind", "output_shape")
        # A fixed width (the longest cell) spares rich measuring every cell: half the run time of --table.
        col_width = max(len(title), len(total[j]), *(len(c[j]) for c in cells))
        table.add_column(title, justify="right" if numeric else "left", no_wrap=True, width=col_width)
    for i, row_cells in enumerate(cells):
        table.add_row(*row_cells, end_section=i == len(cells) - 1)
    table.add_row(*total, style="bold")
    if width is not None:
        caption += _fit(table, width)
    if not explain:
        caption.append("--explain says what each column counts")
    table.caption = "\n".join(caption)
    return table


def _fit(table: Any, width: int) -> list[str]:
    """Narrow ``table`` to ``width`` (:func:`dlperf.tables.fit_table`: the columns of :data:`DROP_ORDER`, the
    outer edges and padding, then layer names and kinds fold); the caption line naming what was left out."""
    from dlperf.tables import fit_table

    dropped = fit_table(table, width, DROP_ORDER, fold=("layer", "kind"))
    if not dropped:
        return []
    return [f"left out to fit {width} columns: {', '.join(dropped)} (--csv and --json have every column)"]


def print_table(rep: Report, file: Any = None, color: bool = True, console: Any = None, top: int | None = None,
                explain: bool = True) -> None:
    """Print the rich table on ``console``, or on a new one writing to ``file`` (default stdout).

    On a terminal the table fits the terminal's width (see :func:`to_table`); a file or a pipe gets every
    column at its natural width: no cell is ever cut (:func:`dlperf.tables.output_console`). ``top`` and
    ``explain`` as in :func:`to_table`.
    """
    from dlperf.tables import output_console

    console, width = output_console(file, color, console)
    console.print(to_table(rep, width=width, top=top, explain=explain))


def table_text(rep: Report, top: int | None = None, explain: bool = True) -> str:
    """The rich table as plain text (no colour): what ``--table --output FILE`` writes."""
    buf = io.StringIO()
    print_table(rep, file=buf, color=False, top=top, explain=explain)
    return buf.getvalue()


def _jsonable(value: Any) -> Any:
    """Tuples become lists, exact ints stay ints, a sympy expression becomes its text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def to_json(rep: Report, indent: int | None = 2) -> str:
    """JSON text: ``model``, ``input``, ``batch``, ``dtype``, ``convention``, ``rows`` and ``totals`` (exact ints).

    ``rows`` holds one object per :attr:`Report.rows <archcalc.report.Report.rows>` entry, under the same name
    as the attribute (the keys are listed in docs/json.md). The copy of ``rows`` that 0.1.0 also wrote under
    ``layers`` is gone: it doubled the size of every report.

    Examples
    --------
    >>> import json
    >>> from archcalc.report import report, resolve_model
    >>> rep = report(resolve_model("alexnet"))
    >>> doc = json.loads(to_json(rep))
    >>> [r["name"] for r in doc["rows"]] == [r.name for r in rep.rows] and "layers" not in doc
    True
    """
    layers = []
    for r in rep.rows:
        item = {
            "name": r.name,
            "kind": r.kind,
            "output_shape": list(r.output_shape),
            "params": r.params,
            "macs": r.macs,
            "flops": r.flops,
            "activations": r.activations,
            "bytes": r.bytes,
            "elementwise_ops": r.elementwise_ops,
            "compute": r.compute,
            "layers": r.layers,
        }
        if rep.training:
            item["backward_macs"] = r.backward_macs
            item["backward_compute"] = r.backward_compute
            item["saved_bytes"] = r.saved_bytes
        layers.append(item)
    doc = {
        "model": rep.model,
        "description": rep.description,
        "input": list(rep.input_shape),
        "batch": rep.batch,
        "dtype": rep.dtype,
        "dtype_bytes": rep.dtype_bytes,
        "convention": rep.convention,
        "unit": rep.unit,
        "convention_description": rep.convention_description,
        "training": rep.training,
        "optimizer": rep.optimizer,
        "depth": rep.depth,
        "output_shape": list(rep.output_shape),
        "notes": list(rep.notes),
        "unmodeled": dict(rep.unmodeled),
        "unused_parameters": dict(rep.unused_params),
        "rows": layers,
        "totals": dict(rep.totals),
    }
    return json_text(_jsonable(doc), indent=indent) + "\n"


def _csv_fields(rep: Report) -> list[str]:
    fields = ["name", "kind", "output_shape", "params", "macs", "flops", "activations", "bytes", "elementwise_ops",
              f"compute_{rep.convention}"]
    if rep.training:
        fields += ["backward_macs", "saved_bytes"]
    return fields


def to_csv(rep: Report) -> str:
    """CSV text: a header row, one row per (folded) layer and a final ``total`` row; exact integers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fields = _csv_fields(rep)
    writer.writerow(fields)
    for r in rep.rows:
        values = {"output_shape": _shape(r.output_shape), f"compute_{rep.convention}": r.compute}
        writer.writerow([values[f] if f in values else getattr(r, f) for f in fields])
    t = rep.totals
    total = {"name": "total", "kind": "", "output_shape": _shape(rep.output_shape), f"compute_{rep.convention}": t["compute"],
             "saved_bytes": t.get("activations_bytes")}
    writer.writerow([total[f] if f in total else t[f] for f in fields])
    return buf.getvalue()


def _text_rows(rep: Report) -> tuple[list[str], list[list[str]], list[str]]:
    cols = _columns(rep)
    titles = [title for title, _ in cols]
    body = [[_cell(r, attr, rep) for _, attr in cols] for r in rep.rows]
    total = [_cell(None, attr, rep) for _, attr in cols]
    return titles, body, total


def to_markdown(rep: Report) -> str:
    """A Markdown pipe table preceded by the header lines (as a list) and followed by training totals.

    Examples
    --------
    >>> from archcalc.report import report, resolve_model
    >>> print(to_markdown(report(resolve_model("vgg11"), depth=1)).splitlines()[-1])
    | **total** |  | **1x1000** | **132,863,336** | **7,609,090,048** | **16,458,216** | **65,832,864** |
    """
    titles, body, total = _text_rows(rep)
    numeric = [attr not in ("name", "kind", "output_shape") for _, attr in _columns(rep)]
    head = header_lines(rep)
    out = [f"**{head[0]}**", ""] + [f"- {line}" for line in head[1:]] + [""]
    out.append("| " + " | ".join(titles) + " |")
    out.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for cells in body:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("| " + " | ".join(f"**{c}**" if c else "" for c in total) + " |")
    if rep.training:
        out += [""] + [f"- {line}" for line in _training_lines(rep)]
    return "\n".join(out) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(rep: Report) -> str:
    r"""A LaTeX ``table`` with a ``tabular`` (plain ``\hline`` rules, no package needed) and a caption.

    Examples
    --------
    >>> from archcalc.report import report, resolve_model
    >>> print(to_latex(report(resolve_model("vgg11_bn"), depth=1)).splitlines()[5])
    layer & kind & output shape & params & MACs & activations & bytes \\
    """
    titles, body, total = _text_rows(rep)
    numeric = [attr not in ("name", "kind", "output_shape") for _, attr in _columns(rep)]
    spec = "".join("r" if n else "l" for n in numeric)
    caption = "; ".join(header_lines(rep) + (_training_lines(rep) if rep.training else []))
    out = [
        r"\begin{table}",
        r"\centering",
        rf"\caption{{{_tex(caption)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\hline",
        " & ".join(_tex(t) for t in titles) + r" \\",
        r"\hline",
    ]
    out += [" & ".join(_tex(c) for c in cells) + r" \\" for cells in body]
    out += [r"\hline", " & ".join(_tex(c) for c in total) + r" \\", r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def render(rep: Report, fmt: str, top: int | None = None, explain: bool = True) -> str:
    """Text of ``rep`` in format ``fmt`` (one of :data:`FORMATS`); the table as plain text (``top`` and
    ``explain`` as in :func:`to_table`; the other formats always hold every row)."""
    if fmt == "table":
        return table_text(rep, top=top, explain=explain)
    if fmt == "json":
        return to_json(rep)
    if fmt == "csv":
        return to_csv(rep)
    if fmt == "markdown":
        return to_markdown(rep)
    if fmt == "latex":
        return to_latex(rep)
    raise ArgumentError("format", fmt, f"choose one of {', '.join(FORMATS)}")
