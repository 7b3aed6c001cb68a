"""Figures (:mod:`dlperf.plotting`, matplotlib imported inside the functions): timeline, staleness histogram
and the sweep.

Examples
--------
>>> import pathlib, tempfile
>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "timeline.png"
>>> plot_result(res, path)
'timeline'
>>> path.read_bytes()[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import os

import numpy as np

from staleness.result import SimulationResult

__all__ = ["plot_timeline", "plot_histogram", "histogram_figure", "plot_result", "plot_sweep", "sweep_figure",
           "TIMELINE_MAX_GRADIENTS"]

#: Runs with more gradients than this get the histogram from :func:`plot_result`.
TIMELINE_MAX_GRADIENTS = 200


def plot_timeline(res: SimulationResult, path: str | os.PathLike[str]) -> None:
    """Gantt chart: each learner's compute intervals (labelled g[Li,j] and their staleness), discarded
    ones hatched, the server's updates as vertical lines."""
    from dlperf.plotting import new_figure, save

    g = res.gradients
    p = res.config.learners
    fig, ax = new_figure(9, 1.2 + 0.6 * p)
    starts = g.compute_start
    for r in range(len(g)):
        lane = p - 1 - int(g.learner[r])
        kind = {"color": "tab:blue", "alpha": 0.75} if g.applied[r] else {"color": "tab:gray", "hatch": "//"}
        ax.barh(lane, g.compute_time[r], left=starts[r], height=0.6, edgecolor="black", **kind)
        label = f"{g.name(r)}" + (f" s={int(g.staleness[r])}" if g.applied[r] else " x")
        ax.text(starts[r] + g.compute_time[r] / 2, lane, label, ha="center", va="center", fontsize=7)
    for v, t in enumerate(res.update_times, start=1):
        ax.axvline(t, color="tab:red", lw=0.8, ls="--")
        ax.text(t, p - 0.45, f"v{v}", color="tab:red", fontsize=7, ha="center", va="bottom")
    ax.set_yticks(range(p), [f"L{p - i}" for i in range(p)])
    ax.set_xlabel(f"time ({res.config.unit})")
    ax.set_ylim(-0.6, p - 0.1)
    ax.set_title(f"{res.config.policy}: learners' compute intervals, server updates (red)", fontsize=9)
    save(fig, path)


def histogram_figure(res: SimulationResult):
    """The figure of :func:`plot_histogram` (not yet saved): every line in the legend, integer staleness ticks."""
    from dlperf.plotting import integer_ticks, legend, new_figure

    s = res.summary
    fig, ax = new_figure(6, 3.5)
    hist = np.asarray(s.histogram, dtype=float)
    ax.bar(np.arange(len(hist)), hist / max(hist.sum(), 1), color="tab:blue")
    ax.axvline(s.mean_staleness, color="tab:red", ls="--", label=f"mean {s.mean_staleness:.3f}")
    c = res.config
    if c.policy == "async" and c.times is None and c.dist == "exp" and c.zero_latency and set(c._speeds) == {1.0}:
        p = c.learners  # closed form: geometric, P(tau = s) = (1/P)(1 - 1/P)^s
        x = np.arange(len(hist))
        ax.plot(x, (1 / p) * (1 - 1 / p) ** x, color="black", lw=1, label="(1/P)(1 - 1/P)^s")
    ax.set_xlabel("staleness (updates between read and apply)")
    ax.set_ylabel("share of gradients")
    ax.set_title(f"{res.config.policy}, P = {res.config.learners}: {s.window}", fontsize=8)
    integer_ticks(ax)
    legend(ax)
    return fig


def plot_histogram(res: SimulationResult, path: str | os.PathLike[str]) -> None:
    """Bar chart of the steady-state staleness histogram, with the mean marked (:func:`histogram_figure`)."""
    from dlperf.plotting import save

    save(histogram_figure(res), path)


def plot_result(res: SimulationResult, path: str | os.PathLike[str]) -> str:
    """Timeline for runs of at most :data:`TIMELINE_MAX_GRADIENTS` gradients, else the histogram.

    Returns ``"timeline"`` or ``"histogram"``.
    """
    if res.gradients is not None and len(res.gradients) <= TIMELINE_MAX_GRADIENTS:
        plot_timeline(res, path)
        return "timeline"
    plot_histogram(res, path)
    return "histogram"


def sweep_figure(sweep_result):
    """The figure of :func:`plot_sweep` (a matplotlib ``Figure``, not yet saved): every drawn line, the
    dashed closed forms included, is in its panel's legend."""
    from dlperf.plotting import legend, new_figure

    fig, (a1, a2) = new_figure(11, 4.4, 1, 2)
    groups: dict[tuple, list] = {}
    for r in sweep_result.rows:
        groups.setdefault((r.policy, r.k if r.policy.startswith("k-") else None, r.dist), []).append(r)
    for (policy, k, dist), rows in groups.items():
        label = f"{policy}{'' if k is None else f' K={k}'} {dist}"
        ps = [r.learners for r in rows]
        line = a1.plot(ps, [r.mean_staleness for r in rows], "o-", label=label)[0]
        a1.plot(ps, [r.theory_mean_staleness for r in rows], "--", color=line.get_color(), lw=0.8,
                label=f"{label}: closed form")
        a2.plot(ps, [r.time_per_update for r in rows], "o-", color=line.get_color(), label=label)
        a2.plot(ps, [r.theory_time_per_update for r in rows], "--", color=line.get_color(), lw=0.8,
                label=f"{label}: closed form")
    from matplotlib.ticker import ScalarFormatter

    ps = sorted({r.learners for r in sweep_result.rows})
    a1.set(xlabel="learners P", ylabel="mean staleness (steady state)", title="staleness (dashed: closed form)")
    a2.set(xlabel="learners P", ylabel=f"{sweep_result.unit} per server update", yscale="log",
           title="time per update (dashed: closed form)")
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ps)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.grid(alpha=0.3)
    a2.yaxis.set_major_formatter(ScalarFormatter())
    for ax in (a1, a2):
        legend(ax, fontsize=7)
    return fig


def plot_sweep(sweep_result, path: str | os.PathLike[str]) -> None:
    """Two panels against P: mean staleness and seconds per update, one line per (policy, K, dist),
    closed forms dashed where they exist; saved to ``path`` (png, pdf or svg)."""
    from dlperf.plotting import save

    save(sweep_figure(sweep_result), path)
