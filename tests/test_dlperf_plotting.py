"""dlperf.plotting, and one figure of each package made with it, checked through matplotlib's artists: every
labelled line in its panel's legend, integer ticks on integer axes, nothing overlapping, atomic save."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dlperf.plotting import integer_ticks, legend, new_figure, save  # noqa: E402
from tests.plot_checks import (  # noqa: E402
    assert_every_line_in_legend,
    assert_integer_xticks,
    assert_no_overlapping_text,
    draw,
)


def _check(fig, integer_x=()) -> None:
    """Every axes with a legend holds each of its lines; the axes named by index have integer x ticks."""
    draw(fig)
    for ax in fig.axes:
        if ax.get_legend() is not None:
            assert_every_line_in_legend(ax)
    for i in integer_x:
        assert_integer_xticks(fig.axes[i])
    assert_no_overlapping_text(fig)


# ----------------------------------------------------------------------------------------------------------
# the helper


def test_new_figure_is_constrained_and_needs_no_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig, (a, b) = new_figure(6, 3, 1, 2, sharey=True)
    assert fig.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"
    assert fig.get_size_inches().tolist() == [6.0, 3.0] and len(fig.axes) == 2
    assert plt.get_fignums() == before  # no pyplot figure left to close


def test_integer_ticks_on_a_short_axis():
    fig, ax = new_figure(4, 3)
    ax.plot([1, 2, 3], [0.5, 0.25, 0.2], label="loss")
    draw(fig)
    # without the helper matplotlib ticks 1..3 at halves: 1.0, 1.25, 1.5, ... (not whole epochs)
    assert not all(float(t).is_integer() for t in ax.get_xticks() if 1 <= t <= 3)
    integer_ticks(ax)
    draw(fig)
    assert_integer_xticks(ax)


def test_legend_holds_each_label_once_and_refuses_an_unlabelled_line():
    fig, ax = new_figure(4, 3)
    for x in (0, 2, 4):  # one phase shaded three times: one entry
        ax.axvspan(x, x + 1, color="C0", label="forward")
    ax.plot([0, 5], [1, 2], label="live")
    ax.axhline(1.5, label="limit")
    assert [t.get_text() for t in legend(ax).get_texts()] == ["forward", "live", "limit"]
    ax.plot([0, 5], [2, 1])  # no label: a reader could not tell what it is
    with pytest.raises(AssertionError, match="1 line"):
        legend(ax)


def test_save_is_atomic_and_takes_the_format_from_the_extension(tmp_path):
    fig, ax = new_figure(3, 2)
    ax.plot([0, 1], [0, 1], label="y = x")
    save(fig, tmp_path / "a.svg")
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match=r"--plot: got .*a\.jpg"):
        save(fig, tmp_path / "a.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg"]  # no temporary file, no .jpg


# ----------------------------------------------------------------------------------------------------------
# one figure of each package


def test_archcalc_memory_timeline():
    from archcalc.memory.liveness.peak import peak_memory
    from archcalc.memory.render.plot import timeline_figure
    from archcalc.zoo import build

    peak = peak_memory(build("alexnet"), training=True, optimizer="adam")
    fig = timeline_figure(peak)
    _check(fig, integer_x=[0])  # x: op index in schedule order
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    # three phases shaded, the live line and the peak marker; the marker stands at the timeline's maximum
    top = max(s.live_bytes for s in peak.timeline) / 2**20
    assert texts == ["forward", "backward", "optimizer", "live MiB", f"peak {top:.1f} MiB"]
    marker = next(line for line in ax.get_lines() if line.get_label().startswith("peak"))
    assert marker.get_ydata()[0] == pytest.approx(top)


def test_staleness_histogram():
    from staleness import SimConfig, simulate
    from staleness.plot import histogram_figure

    res = simulate(SimConfig(learners=4, updates=3000, seed=1))
    fig = histogram_figure(res)
    _check(fig, integer_x=[0])  # x: staleness, whole updates
    ax = fig.axes[0]
    closed = next(line for line in ax.get_lines() if line.get_label() == "(1/P)(1 - 1/P)^s")
    # async, exponential times, no latency: P(tau = s) = (1/4)(3/4)^s, so 1/4, 3/16, 9/64 at s = 0, 1, 2
    np.testing.assert_allclose(closed.get_ydata()[:3], [1 / 4, 3 / 16, 9 / 64], rtol=1e-12)
    assert any(t.get_text().startswith("mean ") for t in ax.get_legend().get_texts())


def test_mlcore_stale_training_comparison_has_a_legend_on_both_panels():
    from mlcore.stale_training import StaleComparison, StaleTrainingResult, comparison_figure

    def run(policy, rule, k=None):
        upd = np.array([0, 10, 20, 40])
        loss = np.array([2.3, 1.2, 0.8, 0.5])
        return StaleTrainingResult(policy, 4, k, 0.1, rule, 40.0, 40, 40, 0, 1.5, np.arange(1, 41.0), np.ones(40),
                                   np.ones(40), upd, upd / 1.0, loss, loss, np.full(4, 0.9))

    cmp = StaleComparison((run("sync", "constant"), run("async", "staleness-aware"), run("k-sync", "constant", 2)),
                          40.0)
    fig = comparison_figure(cmp)
    _check(fig)
    # each run once per panel: the runtime panel names its update count, the updates panel the run alone
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["sync", "async, alpha/tau",
                                                                           "k-sync (K=2)"]
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "sync (40 updates)"
