"""Rendering of a :class:`~mlcore.biasvar.study.BiasVarianceStudy`: rich table, JSON text, PNG plot."""

from __future__ import annotations

from dataclasses import asdict

from dlperf.jsonio import json_text
from mlcore.biasvar.study import BiasVarianceStudy

__all__ = ["study_table", "study_json", "study_csv", "study_figure", "plot_study"]


def _label(study: BiasVarianceStudy) -> str:
    c = study.config
    if c.ridge_alpha is None:
        return "least squares"
    return f"ridge alpha={c.ridge_alpha:g}" + (
        " (standardised features)" if c.standardize else " (raw monomials)"
    )


def study_table(study: BiasVarianceStudy, explain: bool = True):
    """A rich Table, one row per degree; the last two columns are the original study's fixed-noisy-test variant.

    The caption says what the columns mean; with ``explain=False`` (the CLI without ``--explain``) it only
    points there (docs/mlcore.md says it too).

    >>> from mlcore.biasvar import bias_variance_study
    >>> t = study_table(bias_variance_study(degrees=(1, 2), n_datasets=10))
    >>> t.row_count, len(t.columns)
    (2, 8)
    """
    from rich.table import Table

    c = study.config
    table = Table(
        title=f"Bias-variance, {_label(study)}: {c.n_datasets} data sets x {c.train_size} points, "
        f"noise std {c.noise_std:g}, seed {c.seed}",
        caption="mse = bias^2 + variance + noise (expected test MSE); MC = Monte-Carlo estimate on fresh "
        "noisy targets (z = gap in standard errors); fixed-draw variant = against ONE fixed noisy test draw"
        if explain else "--explain says what the columns mean",
    )
    for name in ("degree", "bias^2", "variance", "noise", "mse", "MC mse (z)", "fixed-draw bias^2", "fixed-draw mse"):
        table.add_column(name, justify="right")
    for r in study.rows:
        table.add_row(
            str(r.degree),
            f"{r.bias2:.4g}",
            f"{r.variance:.4g}",
            f"{r.noise:.4g}",
            f"{r.mse:.4g}",
            f"{r.mse_monte_carlo:.4g} ({r.z_score:+.1f})",
            f"{r.fixed_draw_bias2:.4g}",
            f"{r.fixed_draw_mse:.4g}",
        )
    return table


def study_json(study: BiasVarianceStudy) -> str:
    """JSON text ``{"config": ..., "model": ..., "best_degree": ..., "rows": [...]}``.

    Examples
    --------
    >>> import json
    >>> from mlcore.biasvar import bias_variance_study
    >>> out = json.loads(study_json(bias_variance_study(degrees=(1, 2), n_datasets=10)))
    >>> out["config"]["degrees"], sorted(out["rows"][0])[:4]
    ([1, 2], ['bias2', 'degree', 'fixed_draw_bias2', 'fixed_draw_mse'])
    """
    payload = {
        "config": study.config.to_dict(),
        "model": _label(study),
        "best_degree": study.best_degree,
        "rows": [asdict(r) for r in study.rows],
        "fixed_draw_variant": "fixed_draw_bias2 / fixed_draw_mse are measured against one fixed noisy draw of the test "
        "targets (noise folded into the bias)",
    }
    return json_text(payload, indent=2) + "\n"


def study_csv(study: BiasVarianceStudy) -> str:
    """CSV text, one row per degree, columns as in :class:`~mlcore.biasvar.study.BiasVarianceRow`.

    >>> from mlcore.biasvar import bias_variance_study
    >>> print(study_csv(bias_variance_study(degrees=(1,), n_datasets=10)).splitlines()[0])
    degree,bias2,variance,noise,mse,mse_monte_carlo,mse_monte_carlo_se,z_score,fixed_draw_bias2,fixed_draw_mse
    """
    from dlperf.tables import csv_text

    return csv_text([asdict(r) for r in study.rows])


def study_figure(study: BiasVarianceStudy, extra: BiasVarianceStudy | None = None):
    """bias^2, variance and mse per degree (log scale), the seed variant and the noise level; ``extra``
    (e.g. ridge beside least squares) is overlaid dashed. Degrees are integer ticks.

    >>> from mlcore.biasvar import bias_variance_study
    >>> fig = study_figure(bias_variance_study(degrees=(1, 2), n_datasets=10))
    >>> len(fig.axes[0].get_legend().get_texts()) == len(fig.axes[0].get_lines())
    True
    """
    from dlperf.plotting import integer_ticks, legend, new_figure

    fig, ax = new_figure(7.5, 4.6)
    for s, style in ((study, "-"), (extra, "--")):
        if s is None:
            continue
        deg = [r.degree for r in s.rows]
        tag = _label(s)
        ax.plot(deg, [r.bias2 for r in s.rows], "o" + style, color="C0", label=f"bias$^2$ vs f ({tag})")
        ax.plot(deg, [r.variance for r in s.rows], "s" + style, color="C1", label=f"variance ({tag})")
        ax.plot(deg, [r.mse for r in s.rows], "^" + style, color="C2", label=f"expected mse ({tag})")
        if s is study:
            ax.plot(
                deg, [r.fixed_draw_bias2 for r in s.rows], "x:", color="C3", label="original study's 'bias$^2$' (noisy test)"
            )
    ax.axhline(study.config.noise_std**2, color="grey", lw=0.8, label="noise $\\sigma^2$")
    ax.set_yscale("log")
    integer_ticks(ax)
    ax.set_xlabel("polynomial degree")
    ax.set_ylabel("squared error")
    ax.set_title(f"Bias-variance over {study.config.n_datasets} data sets (seed {study.config.seed})")
    legend(ax, fontsize=7, ncol=2, loc="best")
    return fig


def plot_study(study: BiasVarianceStudy, path, extra: BiasVarianceStudy | None = None) -> None:
    """Save :func:`study_figure` as a PNG."""
    from dlperf.plotting import save

    save(study_figure(study, extra), path)
