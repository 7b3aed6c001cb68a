"""The sweep plot: every drawn line, the dashed closed forms included, is in its panel's legend."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")


def test_every_sweep_line_is_in_the_legend(tmp_path):
    from staleness.plot import plot_sweep, sweep_figure
    from staleness.sweep import sweep

    result = sweep(["async", "sync"], [2, 4], updates=300, seed=1)
    fig = sweep_figure(result)
    for ax in fig.axes:
        drawn = [line.get_label() for line in ax.get_lines()]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert drawn == legend  # 2 policies x (simulated + closed form) = 4 lines, 4 legend entries
        assert sum(label.endswith(": closed form") for label in legend) == 2
        assert [int(t) for t in ax.get_xticks()] == [2, 4]  # integer ticks at the learner counts
    plot_sweep(result, tmp_path / "sweep.svg")
    assert (tmp_path / "sweep.svg").read_text().lstrip().startswith("<?xml")
