"""Pure rendering: simulation results to rich tables, JSON and CSV text (no computing, no parsing).

Examples
--------
>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
>>> from dlperf.tables import plain_text
>>> text = plain_text(gradient_table(res), width=100)
>>> print(next(line for line in text.splitlines() if "g[L2,2]" in line))
│ g[L2,2]  │ 2.5, v3           │ 5           │ 5, v5→v6         │         2 │ g[L1,3], g[L1,4]   │
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dlperf.jsonio import json_text
from dlperf.tables import csv_text
from staleness.result import SimulationResult

if TYPE_CHECKING:  # rich is imported where a table is built (``--json`` never loads it)
    from rich.table import Table

__all__ = [
    "gradient_table", "summary_table", "histogram_table", "theory_table", "validation_table", "validation_summary",
    "sweep_table",
    "to_json", "to_csv", "fmt_time", "histogram_bins",
]


def fmt_time(x: float) -> str:
    """Shortest text that reads back as the same float (``repr``), without a trailing ``.0``."""
    if isinstance(x, float) and math.isnan(x):
        return "-"
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _title(res: SimulationResult, what: str) -> str:
    c = res.config
    extra = f", s = {c.bound}" if c.policy == "ssp" else ""
    return f"{what} ({c.policy}, K = {c.effective_k}{extra}, P = {c.learners}, tie-break {c.tie_break})"


def gradient_table(res: SimulationResult) -> Table:
    """One row per gradient: read time and version, push, apply (version change), staleness, and the
    gradients whose updates came in between."""
    from rich.table import Table

    g = res.gradients
    table = Table(title=_title(res, "Gradients"))
    for col, just in (("gradient", "left"), ("read (t, version)", "left"), ("pushed at t", "left"),
                      ("applied (t, ver)", "left"), ("staleness", "right"), ("updates in between", "left")):
        # exact times are long: a narrow console folds them onto the next line instead of cutting them short
        table.add_column(col, justify=just, overflow="fold")
    between_all = g.intervening_all()
    for r in range(len(g)):
        before = int(g.version_before_apply[r])
        if g.applied[r]:
            applied = f"{fmt_time(g.apply_time[r])}, v{before}→v{before + 1}"
        else:
            applied = f"discarded at {fmt_time(g.apply_time[r])}"
        between = ", ".join(g.name(x) for x in between_all[r]) or "-"
        table.add_row(g.name(r), f"{fmt_time(g.read_time[r])}, v{int(g.read_version[r])}",
                      fmt_time(g.push_time[r]), applied, str(int(g.staleness[r])), between)
    return table


def summary_table(res: SimulationResult) -> Table:
    """Steady-state summary: staleness statistics with their window, throughput, utilisation (times in
    the run's unit)."""
    from rich.table import Table

    s, unit = res.summary, res.config.unit
    table = Table(title=_title(res, "Summary"))
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("server updates", str(s.updates)),
        ("gradients applied / discarded", f"{s.gradients_applied} / {s.gradients_discarded}"),
        (f"time to reach the last update ({unit})", fmt_time(s.time_to_updates)),
        ("steady-state window", s.window),
        ("mean staleness (window)", f"{s.mean_staleness:.4f}"),
        ("p50 / p95 / max staleness (window)", f"{s.p50_staleness:g} / {s.p95_staleness:g} / {s.max_staleness:g}"),
        ("mean staleness (whole run)", f"{s.mean_staleness_all:.4f}"),
        (f"updates per {unit} (window)", f"{s.updates_per_time:.6g}"),
        (f"{unit} per update (window)", f"{s.time_per_update:.6g}"),
        ("mean learner utilisation", f"{s.mean_utilisation:.4f}"),
        ("engine", res.engine),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


#: The histogram table lists at most this many rows; the tail is binned (JSON keeps every count).
HISTOGRAM_MAX_ROWS = 24
#: Percentiles printed under the histogram.
HISTOGRAM_PERCENTILES = (50, 90, 99, 99.9)


def histogram_bins(hist, max_rows: int = HISTOGRAM_MAX_ROWS) -> list[tuple[int, int, int]]:
    """(first, last, gradients) rows: one row per staleness value while they fit, else exact rows for the
    small values and bins doubling in width over the tail, every bin non-empty-ended at the maximum.

    >>> histogram_bins([5, 3, 1])
    [(0, 0, 5), (1, 1, 3), (2, 2, 1)]
    >>> histogram_bins([1] * 100, max_rows=8)
    [(0, 0, 1), (1, 1, 1), (2, 3, 2), (4, 7, 4), (8, 15, 8), (16, 31, 16), (32, 63, 32), (64, 99, 36)]
    """
    n = len(hist)
    if n <= max_rows:
        return [(s, s, int(c)) for s, c in enumerate(hist)]
    # exact rows 0 .. e - 1, then [e, 2e), [2e, 4e), ... up to n - 1: choose the largest e that fits
    def edges(e: int) -> list[int]:
        out = list(range(e + 1))
        while out[-1] < n:
            out.append(min(2 * out[-1], n))
        return out

    e = 1
    while len(edges(e + 1)) - 1 <= max_rows:
        e += 1
    ed = edges(e)
    if len(ed) - 1 > max_rows:  # too few rows even for doubling bins: equal widths
        w = -(-n // max_rows)
        ed = list(range(0, n, w)) + [n]
    cum = [0]
    for c in hist:
        cum.append(cum[-1] + int(c))
    return [(a, b - 1, cum[b] - cum[a]) for a, b in zip(ed[:-1], ed[1:], strict=True)]


def histogram_table(res: SimulationResult, width: int = 40, max_rows: int = HISTOGRAM_MAX_ROWS) -> Table:
    """Staleness histogram of the steady-state window with text bars: at most ``max_rows`` rows (the
    tail in doubling bins; the bar is the mean count per value of the bin), then percentiles."""
    from rich.table import Table

    from staleness.result import _percentile

    hist = res.summary.histogram
    total = sum(hist) or 1
    rows = histogram_bins(hist, max_rows)
    binned = len(rows) < len(hist)
    title = f"Staleness histogram ({res.summary.window})"
    if binned:
        title += f"; {len(hist)} values in {len(rows)} rows, exact counts in --json"
    table = Table(title=title)
    for col, just in (("staleness", "right"), ("gradients", "right"), ("share", "right"), ("", "left")):
        table.add_column(col, justify=just)
    density = [n / (b - a + 1) for a, b, n in rows]
    peak = max(density) if density else 1
    for (a, b, n), d in zip(rows, density, strict=True):
        table.add_row(str(a) if a == b else f"{a}-{b}", str(n), f"{n / total:.4f}",
                      "█" * round(width * d / peak) if peak else "")
    if hist:
        import numpy as np

        h = np.asarray(hist)
        pct = " / ".join(f"{_percentile(h, q):g}" for q in HISTOGRAM_PERCENTILES)
        table.caption = f"p{' / p'.join(f'{q:g}' for q in HISTOGRAM_PERCENTILES)}: {pct}; max {len(hist) - 1}"
    return table


def to_json(res: SimulationResult, gradients: bool = True) -> str:
    """JSON text: ``config``, ``gradients`` (unless ``gradients=False``), ``update_times``, ``summary``."""
    return json_text(res.to_dict(gradients=gradients), indent=1) + "\n"


def to_csv(res: SimulationResult) -> str:
    """CSV text, one line per gradient (columns as in the JSON rows)."""
    rows = res.to_dict(gradients=True)["gradients"]
    return csv_text(rows, None if rows else ["name"])


def theory_table(th) -> Table:
    """Closed forms of a :class:`staleness.theory.Theory`: formula, exact value, float value, condition."""
    from rich.table import Table

    shape = "" if th.shape is None else f", shape {th.shape:g}"
    bound = "" if th.bound is None else f", bound {th.bound}"
    table = Table(title=f"Closed forms: {th.policy}, P = {th.learners}, K = {th.k}{bound}, {th.dist} "
                  f"(mean {th.mean:g}{shape})")
    for col in ("quantity", "formula", "exact", "value", "holds for"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for f in th.formulas:
        table.add_row(f.quantity, f.formula, f.exact, f"{f.value:.10g}", f.condition)
    if not th.formulas:
        table.add_row("-", "no closed form for this policy and distribution", "-", "-", "-")
    return table


def _validation_title(v) -> str:
    return (f"Simulation vs theory ({v.updates} updates per case, {v.confidence:.1%} batch-means intervals, "
            f"{v.batches} batches, seed {v.seed})")


def validation_table(v, only_failing: bool = False) -> Table:
    """Monte Carlo checks of a :class:`staleness.validate.Validation`: theory vs estimate +- half-width, one
    row per check (``only_failing``: the checks outside their interval)."""
    from rich.table import Table

    table = Table(title="Outside their interval" if only_failing else _validation_title(v))
    for col, just in (("case", "left"), ("quantity", "left"), ("formula", "left"), ("theory", "right"),
                      ("simulation", "right"), ("± half-width", "right"), ("ok", "center")):
        table.add_column(col, justify=just)
    for c in v.checks:
        if only_failing and c.ok:
            continue
        table.add_row(c.case.label, c.quantity, c.formula, f"{c.theory:.6g}", f"{c.estimate:.6g}",
                      f"{c.half_width:.3g}", "yes" if c.ok else "NO")
    return table


def validation_summary(v) -> Table:
    """One row per policy of a :class:`staleness.validate.Validation` (:meth:`~staleness.validate.Validation.by_policy`):
    its cases and checks, how many lie within their interval, the largest distance in half-widths.

    Examples
    --------
    >>> from staleness.validate import Case, Check, Validation
    >>> c = Case("sync", 4)
    >>> v = Validation((Check(c, "time_per_update", "m", 2.0, 2.1, 0.2, True),), 1000, 0, 0.999, 32)
    >>> from dlperf.tables import plain_text
    >>> print(plain_text(validation_summary(v), width=100).splitlines()[-2])
    │ sync   │     1 │      1 │      1 │                   0.50 │
    """
    from rich.table import Table

    table = Table(title=_validation_title(v))
    for col in ("policy", "cases", "checks", "within", "worst gap / half-width"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for p in v.by_policy():
        table.add_row(p.policy, str(p.cases), str(p.checks), str(p.within),
                      "inf" if math.isinf(p.worst) else f"{p.worst:.2f}")
    return table


def sweep_table(s) -> Table:
    """Rows of a :class:`staleness.sweep.SweepResult`: simulated figures beside the closed forms."""
    from rich.table import Table

    table = Table(title=f"Sweep ({s.updates} updates per run, seed {s.seed}; steady-state windows)")
    for col in ("policy", "P", "K", "dist", "mean staleness", "theory", "p95", "max", f"{s.unit} per update",
                "theory", "utilisation"):
        table.add_column(col, justify="left" if col in ("policy", "dist") else "right")

    def num(x: float, spec: str = ".4f") -> str:
        return "-" if math.isnan(x) else format(x, spec)

    for r in s.rows:
        table.add_row(r.policy, str(r.learners), str(r.k), r.dist, num(r.mean_staleness), num(r.theory_mean_staleness),
                      num(r.p95_staleness, "g"), num(r.max_staleness, "g"), num(r.time_per_update, ".5g"),
                      num(r.theory_time_per_update, ".5g"), num(r.mean_utilisation, ".3f"))
    return table
