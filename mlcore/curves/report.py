"""Curves and areas for several models on one labelled test set.

:func:`evaluate_models` works on any scores, e.g. read from files with :func:`read_values`; the
blood-transfusion study in :mod:`mlcore.curves.blood_transfusion` is one user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlperf.errors import ArgumentError, ref
from dlperf.results import Result
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
    "read_labels",
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


@dataclass(frozen=True, repr=False)
class CurvesReport(Result):
    """Curves of every model on one test set, with the class counts and the all-positive points."""

    _table_field = "models"

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
        raise ArgumentError("scores", what="got no models", fix="give at least one name -> score vector")
    models = tuple(_model_curves(name, labels, s) for name, s in scores.items())
    n_pos, n_neg = models[0].areas.n_positive, models[0].areas.n_negative
    pi = n_pos / (n_pos + n_neg)
    return CurvesReport(
        dataset, n_pos, n_neg, pi, models, AllPositivePoints((1.0, 1.0), (1.0, pi), (1.0, 0.0)), tuple(notes)
    )


def _read_lines(path, name: str) -> list[tuple[int, str]]:
    """Numbered stripped lines of a text file; one-line errors naming ``name`` and the file.

    Scores and labels are paired by line, so a blank line before the last value is an error naming its
    line (dropping it would pair every later score with the label one row down, and dropping blanks in
    both files at once would still guess); blank lines after the last value are ignored.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"{name}: file {str(p)!r} does not exist; give a text file with one value per line"
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {str(p)!r} ({exc.strerror}); give a readable text file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ValueError(f"{name}: {str(p)!r} is a binary file, not text; give a text file with one value per line")
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)]
    while lines and not lines[-1][1]:
        lines.pop()
    if not lines:
        raise ValueError(f"{name}: {str(p)!r} holds no values; give one value per line")
    for i, line in lines:
        if not line:
            raise ValueError(f"{name}: line {i} of {str(p)!r} is blank; values pair with the other file's by line: "
                             "give one value on every line (remove the line, or fill it)")
    return lines


def read_values(path, name: str) -> np.ndarray:
    """Read one number per line from a text file (blank lines only after the last value); ``name`` labels
    errors.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "scores.txt"
    >>> _ = f.write_text("0.9\\n0.25\\n\\n")
    >>> read_values(f, "scores").tolist()
    [0.9, 0.25]
    >>> _ = f.write_text("0.9\\n\\n0.25\\n")
    >>> read_values(f, "scores")
    Traceback (most recent call last):
    ...
    ValueError: scores: line 2 of '...scores.txt' is blank; values pair with the other file's by line: give one value on every line (remove the line, or fill it)
    """
    values = []
    for i, text in _read_lines(path, name):
        try:
            values.append(float(text))
        except ValueError:
            raise ValueError(
                f"{name}: line {i} of {str(path)!r} is {text!r}; give one number per line"
            ) from None
    return np.asarray(values)


_TRUE, _FALSE = ("1", "1.0", "true"), ("0", "0.0", "false")


def read_labels(path, name: str = "labels", pos_label: str | None = None) -> np.ndarray:
    """Read one label per line as 0/1 (int64): ``1``/``0`` or ``True``/``False`` (any case), or, with
    ``pos_label``, 1 where the line equals it (as text, or as a number: ``2`` matches ``2.0``) and 0 elsewhere.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "labels.txt"
    >>> _ = f.write_text("True\\nfalse\\n1\\n")
    >>> read_labels(f).tolist()
    [1, 0, 1]
    >>> _ = f.write_text("cat\\ndog\\ncat\\n")
    >>> read_labels(f, pos_label="dog").tolist()
    [0, 1, 0]
    """
    lines = _read_lines(path, name)
    if pos_label is not None:
        def is_pos(text: str) -> bool:
            if text == pos_label:
                return True
            try:
                return float(text) == float(pos_label)
            except ValueError:
                return False

        return np.array([int(is_pos(t)) for _, t in lines], dtype=np.int64)
    out = []
    for i, text in lines:
        low = text.lower()
        if low not in _TRUE + _FALSE:
            raise ArgumentError(name, what=f"line {i} of {str(path)!r} is {text!r}", fix="give 0/1 or True/False "
                                f"labels, or name the positive class with {ref('pos_label')}")
        out.append(int(low in _TRUE))
    return np.array(out, dtype=np.int64)
