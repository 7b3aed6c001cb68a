"""Table output shared by the command lines: CSV text from rows, rich renderables as plain text or on stdout.

Examples
--------
>>> print(csv_text([{"p": 2, "mean": 0.5}, {"p": 4, "mean": 1.25}]), end="")
p,mean
2,0.5
4,1.25
>>> from rich.table import Table
>>> t = Table("p", "mean")
>>> t.add_row("2", "0.5")
>>> print(plain_text(t, width=20))
┏━━━┳━━━━━━┓
┃ p ┃ mean ┃
┡━━━╇━━━━━━┩
│ 2 │ 0.5  │
└───┴──────┘
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["csv_text", "plain_text", "print_table", "natural_width", "fit_columns", "fit_table", "fix_widths", "output_console",
           "print_fitted", "fit_text", "terminal_width"]


def csv_text(rows: Sequence[Mapping[str, Any]], fieldnames: Sequence[str] | None = None) -> str:
    """CSV text with a header from the keys of the first row (or ``fieldnames``); floats at full precision."""
    names = list(fieldnames) if fieldnames is not None else list(rows[0]) if rows else []
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def plain_text(renderable: Any, width: int = 110) -> str:
    """A rich renderable as plain text at a fixed width (no colour codes): for files, tests and docs."""
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue().rstrip("\n")


def print_table(renderable: Any, min_width: int = 120, drop: Sequence[str] = (), console: Any = None) -> list[str]:
    """Print a rich table on stdout (or ``console``) so that it is read whole.

    A file or a pipe gets the table's full natural width (at least ``min_width``): rich would give it 80
    columns and cut a wide table's numbers short. On a terminal (or the ``console`` given) a table that fits
    is printed at the console's width; one that does not first loses its outer edges and padding, then the
    columns named in ``drop`` (in that order, see :func:`fit_columns`) and a last line says which; a table still too wide keeps the old
    ``max(min_width, width)`` console. Returns the headers left out.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> from rich.table import Table
    >>> t = Table("name", "value", "remark")
    >>> t.add_row("a", "1", "a long remark that does not fit into forty characters")
    >>> out = io.StringIO()
    >>> print_table(t, drop=["remark"], console=Console(width=40, file=out, color_system=None))
    ['remark']
    >>> print(out.getvalue().splitlines()[-1])
    left out to fit 40 columns: remark
    """
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            Console(width=max(min_width, natural_width(renderable))).print(renderable)
            return []
    width = console.width
    if natural_width(renderable) > width:
        fit_table(renderable, width)  # the outer edges and the padding go before any column
    dropped = fit_columns(renderable, width, drop) if natural_width(renderable) > width else []
    if natural_width(renderable) > width:
        console = Console(file=console.file, width=max(min_width, width), color_system=console.color_system)
    console.print(renderable)
    if dropped:
        console.print(f"left out to fit {width} columns: {', '.join(dropped)}", highlight=False)
    return dropped


def natural_width(table: Any) -> int:
    """Characters a rich ``Table`` takes when no cell wraps (its widest line on an unbounded console)."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=_UNBOUNDED, file=io.StringIO(), color_system=None, legacy_windows=False)
    return Measurement.get(console, console.options, table).maximum


_UNBOUNDED = 10_000


def fit_columns(table: Any, width: int, drop: Sequence[str | Sequence[str]]) -> list[str]:
    """Remove columns of ``table`` (by header, in the order of ``drop``) until it fits ``width`` characters.

    An entry of ``drop`` is a header or a tuple of headers removed together (a value and the oracle's
    beside it). Cells are never cut or wrapped: a column is either shown whole or gone. Returns the headers
    removed, in order, so the caller can say so; stops when the table fits or ``drop`` is used up (it may
    still be wider).

    Examples
    --------
    >>> from rich.table import Table
    >>> t = Table("name", "value", "note")
    >>> t.add_row("a", "1", "a long remark nobody needs on a narrow screen")
    >>> fit_columns(t, 30, ["note", "value"]), [c.header for c in t.columns]
    (['note'], ['name', 'value'])
    """
    dropped: list[str] = []
    for entry in drop:
        if natural_width(table) <= width:
            break
        for header in (entry,) if isinstance(entry, str) else entry:
            for i, column in enumerate(table.columns):
                if column.header == header:
                    del table.columns[i]
                    dropped.append(header)
                    break
    return dropped


def fit_table(table: Any, width: int, drop: Sequence[str | Sequence[str]] = (), fold: Sequence[str] = (),
              min_fold: int = 8) -> list[str]:
    """Narrow a rich ``Table`` to ``width`` characters without cutting a number; returns the headers dropped.

    In turn, while the table is too wide: the columns of ``drop`` go (see :func:`fit_columns`), then the
    outer edges, then the padding beside each separator, then the text columns named in ``fold`` (in that
    order, each to no less than ``min_fold`` characters) fold their cells onto further lines. Numbers are
    never folded or cut: name only text columns in ``fold``. A folded column needs a fixed ``width``
    (:func:`fix_widths` sets one per column).

    Examples
    --------
    >>> from rich.table import Table
    >>> t = Table("layer", "MACs", "note")
    >>> t.add_row("features.denseblock4.denselayer16.conv2", "1,234,567,890", "a remark")
    >>> fix_widths(t)
    >>> fit_table(t, 40, drop=["note"], fold=["layer"])
    ['note']
    >>> for line in plain_text(t, width=40).splitlines():
    ...     print(line.rstrip())
    layer                     ┃MACs
    ━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━
    features.denseblock4.dense│1,234,567,890
    layer16.conv2             │
    """
    dropped = fit_columns(table, width, drop)
    for attr in ("show_edge", "pad_edge"):
        if natural_width(table) > width:
            setattr(table, attr, False)
    if natural_width(table) > width:
        table.padding = (0, 0)
    by_header = {column.header: column for column in table.columns}
    for header in fold:
        column = by_header.get(header)
        excess = natural_width(table) - width
        if column is not None and excess > 0:
            column.width, column.no_wrap, column.overflow = max(min_fold, column.width - excess), False, "fold"
    return dropped


def fix_widths(table: Any) -> None:
    """Give every column of a rich ``Table`` a fixed width: its longest header line or cell (added rows only).

    A fixed width spares rich measuring every cell on each print and lets :func:`fit_table` fold a column.
    """
    for column in table.columns:
        texts = [str(column.header), *map(str, column.cells)]
        column.width = max(len(line) for text in texts for line in text.split("\n"))


def output_console(file: Any = None, color: bool = True, console: Any = None) -> tuple[Any, int | None]:
    """The rich console to print a table on and the width to fit it to (``None``: keep every column).

    A ``console`` given (a test's ``Console(width=80)``) or a terminal: that console and its width. A file or
    a pipe: an unbounded console and ``None``, so every column keeps its natural width and no cell is cut.

    Examples
    --------
    >>> import io
    >>> console, width = output_console(file=io.StringIO(), color=False)
    >>> width is None, console.width
    (True, 10000)
    """
    from rich.console import Console

    if console is not None:
        return console, console.width
    options = {} if color else {"color_system": None, "force_terminal": False}
    console = Console(file=file, legacy_windows=False, **options)
    if console.is_terminal:
        return console, console.width
    return Console(file=file, width=_UNBOUNDED, legacy_windows=False, **options), None


def print_fitted(table: Any, drop: Sequence[str | Sequence[str]] = (), fold: Sequence[str] = (),
                 console: Any = None, min_fold: int = 8) -> list[str]:
    """Print a rich ``Table`` on stdout fitted to a terminal (see :func:`fit_table`), whole to files and pipes.

    On a terminal (or the ``console`` given) the text columns of ``fold`` fold their cells (in that order,
    to lines of at least 16 characters), then, if that is not enough, the columns of ``drop`` go, then the
    folded columns narrow down to ``min_fold``, until the table fits the width; a line then says which columns
    were left out. A file or a pipe gets every column at its natural width. Returns the headers left out.

    Examples
    --------
    >>> import io
    >>> from rich.console import Console
    >>> from rich.table import Table
    >>> t = Table("quantity", "value", "holds for")
    >>> t.add_row("staleness_mean", "15", "steady state, any distribution")
    >>> out = io.StringIO()
    >>> print_fitted(t, fold=["holds for"], console=Console(width=36, file=out, color_system=None))
    []
    >>> max(len(line) for line in out.getvalue().splitlines()) <= 36
    True
    """
    console, width = output_console(console=console)
    dropped: list[str] = []
    if width is not None and natural_width(table) > width:
        fix_widths(table)
        fit_table(table, width, (), fold, max(min_fold, 16))  # text folds first, to lines of 16 or more
        dropped = fit_columns(table, width, drop)  # a column goes only if that is not enough
        fit_table(table, width, (), fold, min_fold)  # then narrower lines, down to min_fold
    console.print(table)
    if dropped:
        console.print(f"left out to fit {width} columns: {', '.join(dropped)}", highlight=False)
    return dropped


def terminal_width() -> int | None:
    """The width of the terminal stdout writes to, or ``None`` for a file or a pipe (which keep long lines)."""
    import shutil

    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def fit_text(text: str, width: int | None) -> str:
    """``text`` with every line longer than ``width`` broken at spaces; a continuation is indented 4 more.

    Words (numbers, formulas without spaces) are never cut, so a line may stay longer when one word is.
    ``width=None`` (a file or a pipe, see :func:`terminal_width`) returns ``text`` unchanged.

    Examples
    --------
    >>> print(fit_text("  x = 1 + 2 + 3 + 4 + 5", 14))
      x = 1 + 2 +
          3 + 4 + 5
    """
    if width is None:
        return text
    import textwrap

    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out.extend(textwrap.wrap(line.strip(), width, initial_indent=indent, subsequent_indent=indent + "    ",
                                 break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)
