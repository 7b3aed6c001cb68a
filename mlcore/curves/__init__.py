"""ROC, precision-recall and precision-recall-gain curves with their areas, from one sort of the scores.

>>> from mlcore.curves import curve_areas
>>> a = curve_areas([1, 1, 0, 0, 1, 0], [.8, .8, .6, .4, .4, .2])
>>> round(a.auprg, 12)
0.708333333333
"""

from mlcore.curves._kernel import confusion_at_thresholds
from mlcore.curves._ranking import (
    CurveAreas,
    PrCurve,
    PrgCurve,
    RocCurve,
    curve_areas,
    pr_curve,
    prg_curve,
    roc_curve,
)
from mlcore.curves.blood_transfusion import blood_transfusion_experiment
from mlcore.curves.render import plot_report, report_json, report_table
from mlcore.curves.report import (
    AllPositivePoints,
    CurvesReport,
    ModelCurves,
    evaluate_models,
    read_labels,
    read_values,
)

__all__ = [
    "AllPositivePoints",
    "CurveAreas",
    "CurvesReport",
    "ModelCurves",
    "blood_transfusion_experiment",
    "evaluate_models",
    "plot_report",
    "read_labels",
    "read_values",
    "report_json",
    "report_table",
    "PrCurve",
    "PrgCurve",
    "RocCurve",
    "confusion_at_thresholds",
    "curve_areas",
    "pr_curve",
    "prg_curve",
    "roc_curve",
]
