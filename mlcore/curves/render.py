"""Rendering of a :class:`~mlcore.curves.report.CurvesReport`: rich table, JSON text, PNG plot."""

from __future__ import annotations

from dlperf.jsonio import json_text
from mlcore.curves.report import CurvesReport

__all__ = ["report_table", "report_json", "report_figure", "plot_report"]


def report_table(report: CurvesReport):
    """A rich Table with one row per model and the four areas.

    >>> from mlcore.curves.report import evaluate_models
    >>> t = report_table(evaluate_models([1, 0, 1, 0], {"m": [0.9, 0.8, 0.7, 0.1]}))
    >>> t.row_count, [c.header for c in t.columns]
    (1, ['model', 'AUROC', 'AUPR', 'AP', 'AUPRG'])
    """
    from dlperf.validate import check_type
    check_type("report", report, CurvesReport, "a CurvesReport (evaluate_models)")
    from rich.table import Table

    table = Table(
        title=f"{report.dataset}: {report.n_positive} positives, {report.n_negative} negatives "
        f"(pi = {report.positive_rate:.4f})",
        caption=f"all-positive classifier: ROC {report.all_positive.roc}, PR (recall, precision) = "
        f"(1, {report.positive_rate:.4f}), PRG (1, 0); AUPR = trapezoid, AP = step sum",
    )
    for name in ("model", "AUROC", "AUPR", "AP", "AUPRG"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for m in report.models:
        a = m.areas
        table.add_row(
            m.name, f"{a.auroc:.4f}", f"{a.aupr:.4f}", f"{a.average_precision:.4f}", f"{a.auprg:.4f}"
        )
    return table


def report_json(report: CurvesReport) -> str:
    """JSON text: dataset, class counts, all-positive points, notes, and per model the four areas.

    Examples
    --------
    >>> import json
    >>> from mlcore.curves.report import evaluate_models
    >>> out = json.loads(report_json(evaluate_models([1, 0, 1, 0], {"m": [0.9, 0.8, 0.7, 0.1]})))
    >>> out["models"]["m"]["auroc"], out["n_positive"]
    (0.75, 2)
    """
    from dlperf.validate import check_type
    check_type("report", report, CurvesReport, "a CurvesReport (evaluate_models)")
    payload = {
        "dataset": report.dataset,
        "n_positive": report.n_positive,
        "n_negative": report.n_negative,
        "positive_rate": report.positive_rate,
        "all_positive": {
            "roc_fpr_tpr": list(report.all_positive.roc),
            "pr_recall_precision": list(report.all_positive.pr),
            "prg_recall_gain_precision_gain": list(report.all_positive.prg),
        },
        "notes": list(report.notes),
        "models": {
            m.name: {
                "auroc": m.areas.auroc,
                "aupr": m.areas.aupr,
                "average_precision": m.areas.average_precision,
                "auprg": m.areas.auprg,
            }
            for m in report.models
        },
    }
    return json_text(payload, indent=2) + "\n"


def report_figure(report: CurvesReport):
    """ROC, PR and PRG panels side by side, every model and every reference line in the legends.

    Examples
    --------
    >>> from mlcore.curves.report import evaluate_models
    >>> fig = report_figure(evaluate_models([1, 0, 1, 0], {"a": [.9, .8, .7, .1], "b": [.1, .2, .3, .4]}))
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1]
    'chance (AUROC 0.5)'
    """
    from dlperf.plotting import legend, new_figure

    fig, (ax_roc, ax_pr, ax_prg) = new_figure(13, 4.6, 1, 3)
    for i, m in enumerate(report.models):
        c = f"C{i}"
        ax_roc.plot(m.roc.fpr, m.roc.tpr, color=c, label=f"{m.name} (AUROC {m.areas.auroc:.3f})")
        ax_pr.plot(m.pr.recall, m.pr.precision, color=c, label=f"{m.name} (AUPR {m.areas.aupr:.3f})")
        ax_prg.plot(
            m.prg.recall_gain, m.prg.precision_gain, color=c, label=f"{m.name} (AUPRG {m.areas.auprg:.3f})"
        )
    ap = report.all_positive
    ax_roc.plot(*ap.roc, "k*", ms=10, label="all positive")
    ax_roc.plot([0, 1], [0, 1], "k:", lw=0.8, label="chance (AUROC 0.5)")
    ax_pr.plot(*ap.pr, "k*", ms=10, label="all positive")
    ax_pr.axhline(report.positive_rate, color="k", ls=":", lw=0.8,
                  label=f"chance: precision = pi = {report.positive_rate:.3f}")
    ax_prg.plot(*ap.prg, "k*", ms=10, label="all positive (1, 0)")
    ax_prg.axhline(0, color="k", lw=0.6, label="precision gain 0 (= pi)")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    ax_prg.set(
        xlabel="recall gain",
        ylabel="precision gain",
        title="precision-recall-gain",
        xlim=(0, 1),
        ylim=(-0.5, 1.02),
    )
    for ax in (ax_roc, ax_pr, ax_prg):
        legend(ax, fontsize=7, loc="lower left" if ax is not ax_roc else "lower right")
    fig.suptitle(f"{report.dataset}: {report.n_positive} positives / {report.n_negative} negatives")
    return fig


def plot_report(report: CurvesReport, path) -> None:
    """Save :func:`report_figure` as a PNG."""
    from dlperf.validate import check_type
    check_type("report", report, CurvesReport, "a CurvesReport (evaluate_models)")
    from dlperf.plotting import save

    save(report_figure(report), path)
