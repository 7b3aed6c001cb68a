"""Curves and areas for several models on one labelled test set.

:func:`evaluate_models` works on any scores, e.g. read from files with :func:`read_values`; the
blood-transfusion study in :mod:`mlcore.curves.blood_transfusion` is one user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.curves._kernel import confusion_at_thresholds
from mlcore.curves._ranking import (
    CurveAreas,
    PrCurve,
    PrgCurve,
    RocCurve,
    _pr_from_counts,
    _prg_from_counts,
    _roc_from_counts,
)

__all__ = [
    "AllPositivePoints",
    "ModelCurves",
    "CurvesReport",
    "evaluate_models",
    "read_values",
]


@dataclass(frozen=True)
class AllPositivePoints:
    """Where the classifier that calls everything positive sits on each curve (pi = positive rate).

    ROC ``(fpr, tpr) = (1, 1)``; PR ``(recall, precision) = (1, pi)``; PRG ``(recall gain, precision
    gain) = (1, 0)``: it is the PRG baseline, which is why PRG areas are relative to it.
    """

    roc: tuple[float, float]
    pr: tuple[float, float]
    prg: tuple[float, float]


@dataclass(frozen=True)
class ModelCurves:
    """One model's three curves and four areas."""

    name: str
    roc: RocCurve
    pr: PrCurve
    prg: PrgCurve
    areas: CurveAreas


@dataclass(frozen=True)
class CurvesReport:
    """Curves of every model on one test set, with the class counts and the all-positive points."""

    dataset: str
    n_positive: int
    n_negative: int
    positive_rate: float
    models: tuple[ModelCurves, ...]
    all_positive: AllPositivePoints
    notes: tuple[str, ...] = ()


def _model_curves(name: str, labels, scores) -> ModelCurves:
    th, tp, fp = confusion_at_thresholds(labels, scores)  # one sort serves all three curves
    n_pos, n_neg = int(tp[-1]), int(fp[-1])
    roc = _roc_from_counts(th, tp, fp, n_pos, n_neg)
    pr = _pr_from_counts(th, tp, fp, n_pos)
    prg = _prg_from_counts(th, tp, fp, n_pos, n_neg)
    areas = CurveAreas(roc.auroc, pr.aupr, pr.average_precision, prg.auprg, n_pos, n_neg)
    return ModelCurves(name, roc, pr, prg, areas)


def evaluate_models(
    labels, scores: Mapping[str, object], dataset: str = "user scores", notes=()
) -> CurvesReport:
    """Curves and areas for each named score vector against the same 0/1 labels.

    >>> r = evaluate_models([1, 0, 1, 0], {"m": [0.9, 0.8, 0.7, 0.1]})
    >>> r.models[0].areas.auroc, r.all_positive.pr    # 3 of 4 pairs ranked right; precision pi = 1/2
    (0.75, (1.0, 0.5))
    """
    if not scores:
        raise ValueError("scores: got no models; give at least one name -> score vector")
    models = tuple(_model_curves(name, labels, s) for name, s in scores.items())
    n_pos, n_neg = models[0].areas.n_positive, models[0].areas.n_negative
    pi = n_pos / (n_pos + n_neg)
    return CurvesReport(
        dataset, n_pos, n_neg, pi, models, AllPositivePoints((1.0, 1.0), (1.0, pi), (1.0, 0.0)), tuple(notes)
    )


def read_values(path, name: str) -> np.ndarray:
    """Read one number per line from a text file (blank lines skipped); ``name`` labels errors.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "scores.txt"
    >>> _ = f.write_text("0.9\\n\\n0.25\\n")
    >>> read_values(f, "--scores").tolist()
    [0.9, 0.25]
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"{name}: file {str(p)!r} does not exist; give a text file with one value per line"
        )
    values = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        try:
            values.append(float(text))
        except ValueError:
            raise ValueError(
                f"{name}: line {i} of {str(p)!r} is {text!r}; give one number per line"
            ) from None
    if not values:
        raise ValueError(f"{name}: {str(p)!r} holds no values; give one number per line")
    return np.asarray(values)
