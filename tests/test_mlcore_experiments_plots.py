"""Every experiment figure: each drawn line in its legend, integer ticks on integer axes, no overlapping
text (checked on matplotlib's artists after drawing)."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from tests.plot_checks import (  # noqa: E402
    assert_every_line_in_legend,
    assert_integer_xticks,
    assert_no_overlapping_text,
    draw,
    legend_texts,
)


@pytest.fixture(autouse=True)
def _agg():
    import matplotlib

    matplotlib.use("Agg")


def _clr_result(epochs=7):
    from mlcore.clr import CLRResult

    a = np.linspace(0.2, 0.9, epochs)
    return CLRResult("triangular", 0.01, 0.1, 3, 0.99, epochs, 16, 0, np.linspace(0.01, 0.1, 6 * epochs),
                     1 - a, a, 1.1 - a, a - 0.05)


def test_clr_figure():
    from mlcore.clr import clr_figure

    fig = clr_figure(_clr_result())
    for ax in fig.axes:
        assert_every_line_in_legend(ax)
        assert_integer_xticks(ax)  # mini-batches and epochs
    assert [ax.get_xlabel() for ax in fig.axes] == ["mini-batch", "epoch", "epoch"]
    assert_no_overlapping_text(fig)


def test_batch_sweep_figure_ticks_are_the_batch_sizes():
    from mlcore.batch_sweep import BatchSweepResult, batch_sweep_figure

    sizes = np.array([16, 32, 64, 128, 256] * 2)
    v = np.linspace(0.1, 0.9, 10)
    res = BatchSweepResult(0.01, 16, 2, 0, ("fixed",) * 5 + ("linear",) * 5, sizes, 0.01 * sizes / 16,
                           np.full(10, 4), v, v, v, v)
    fig = batch_sweep_figure(res)
    draw(fig)
    for ax in fig.axes:
        assert_every_line_in_legend(ax)
        assert_integer_xticks(ax)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32", "64", "128", "256"]
    assert_no_overlapping_text(fig)


def test_lr_range_figure_marks_every_suggestion():
    from mlcore.lr_range import lr_range_figure, range_test_curve

    lrs = np.geomspace(1e-5, 10, 60)
    res = range_test_curve(lrs, 2.3 - 2 / (1 + np.exp(-2 * (np.log10(lrs) + 2.5))) + lrs**2)
    fig = lr_range_figure(res)
    ax = fig.axes[0]
    assert_every_line_in_legend(ax)
    assert [t.split(":")[0] for t in legend_texts(ax)] == ["mini-batch loss", "smoothed (f = 0.05)", "steepest",
                                                           "min / 10", "valley"]
    assert_no_overlapping_text(fig)


def test_curves_figure_with_three_scorers():
    from mlcore.curves import evaluate_models
    from mlcore.curves.render import report_figure

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = {name: y + rng.normal(0, s, 200) for name, s in (("model_a", 0.5), ("model_b", 1.0), ("model_c", 2.0))}
    fig = report_figure(evaluate_models(y, scores))
    for ax in fig.axes:
        assert_every_line_in_legend(ax)
        assert sum(t.startswith("model_") for t in legend_texts(ax)) == 3
    assert_no_overlapping_text(fig)


def test_bias_variance_figure_with_ridge_overlay():
    from mlcore.biasvar import bias_variance_study
    from mlcore.biasvar.render import study_figure

    ls = bias_variance_study(degrees=tuple(range(1, 16)), n_datasets=20)
    ridge = bias_variance_study(degrees=tuple(range(1, 16)), n_datasets=20, ridge_alpha=1.0)
    fig = study_figure(ls, ridge)
    ax = fig.axes[0]
    assert_every_line_in_legend(ax)
    assert_integer_xticks(ax)
    texts = legend_texts(ax)
    assert sum("least squares" in t for t in texts) == 3 and sum("ridge alpha=1" in t for t in texts) == 3
    assert "noise $\\sigma^2$" in texts
    assert_no_overlapping_text(fig)
