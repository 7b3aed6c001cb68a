"""ROC, precision-recall and precision-recall-gain curves over one confusion-counts kernel.

Conventions (element ``i`` of every array is one point of the curve):

* ROC: the first point is ``(fpr, tpr) = (0, 0)`` at threshold ``+inf``; then one point per distinct
  score, highest first. AUROC is the trapezoid area, computed from integer counts.
* PR: the first point is ``(recall, precision) = (0, 1)`` (threshold ``+inf``, scikit-learn's end point);
  then one point per distinct score. AUPR is the trapezoid area over that polyline (scikit-learn's
  ``auc(recall, precision)``); average precision is the step sum ``sum (R_i - R_{i-1}) P_i``.
* PRG (Flach & Kull, NIPS 2015): gains from counts, ``precision gain = 1 - (P/N) FP/TP`` and
  ``recall gain = 1 - (P/N) FN/TP``. As in the authors' reference implementation, the curve is the part
  with recall gain >= 0: a point is inserted where recall gain crosses 0 (interpolated linearly in
  (TP, FP) count space) and where precision gain changes sign; AUPRG is the trapezoid area over recall
  gain in [0, 1] and may be negative, but never exceeds 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlperf.results import Result
from mlcore.curves._kernel import confusion_at_thresholds


def _frozen(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


@dataclass(frozen=True, repr=False)
class RocCurve(Result):
    """ROC curve: ``fpr[i]``, ``tpr[i]`` at ``thresholds[i]`` (decreasing; ``thresholds[0] = inf``)."""

    _table_columns = ("fpr", "tpr", "thresholds")

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auroc: float


@dataclass(frozen=True, repr=False)
class PrCurve(Result):
    """PR curve: ``recall[i]``, ``precision[i]`` at ``thresholds[i]`` (decreasing; first is ``inf``)."""

    _table_columns = ("recall", "precision", "thresholds")

    recall: np.ndarray
    precision: np.ndarray
    thresholds: np.ndarray
    aupr: float
    average_precision: float


@dataclass(frozen=True, repr=False)
class PrgCurve(Result):
    """Precision-recall-gain curve over recall gain in [0, 1] (the part the area integrates).

    ``recall_gain[i]``, ``precision_gain[i]`` with the (possibly interpolated, hence float) counts
    ``tp[i]``, ``fp[i]``; ``is_crossing[i]`` marks inserted crossing points, whose ``thresholds[i]`` is NaN.
    ``positive_rate`` is pi = P / (P + N), the baseline both gains are measured against.
    """

    _table_columns = ("recall_gain", "precision_gain", "tp", "fp", "thresholds", "is_crossing")

    recall_gain: np.ndarray
    precision_gain: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    thresholds: np.ndarray
    is_crossing: np.ndarray
    positive_rate: float
    auprg: float


@dataclass(frozen=True, repr=False)
class CurveAreas(Result):
    """The four areas of one score vector, with the class counts they were computed from."""

    auroc: float
    aupr: float
    average_precision: float
    auprg: float
    n_positive: int
    n_negative: int


def _counts(labels, scores):
    th, tp, fp = confusion_at_thresholds(labels, scores)
    return th, tp, fp, int(tp[-1]), int(fp[-1])


def roc_curve(labels, scores) -> RocCurve:
    """ROC curve and AUROC from 0/1 labels and real scores (higher = more positive).

    >>> r = roc_curve([1, 1, 0, 0, 1, 0], [.8, .8, .6, .4, .4, .2])
    >>> r.fpr.tolist(), r.tpr.tolist()
    ([0.0, 0.0, 0.333..., 0.666..., 1.0], [0.0, 0.666..., 0.666..., 1.0, 1.0])
    >>> round(r.auroc, 6)   # sum dFP*(TP_i + TP_i-1) / (2PN) = (1*4 + 1*5 + 1*6) / (2*3*3) = 15/18
    0.833333
    """
    th, tp, fp, n_pos, n_neg = _counts(labels, scores)
    return _roc_from_counts(th, tp, fp, n_pos, n_neg)


def _roc_from_counts(th, tp, fp, n_pos, n_neg) -> RocCurve:
    tp0 = np.concatenate(([0], tp))
    fp0 = np.concatenate(([0], fp))
    # twice the area in count units is an exact integer: sum dFP * (TP_i + TP_{i-1})
    twice_area = int(np.sum(np.diff(fp0) * (tp0[1:] + tp0[:-1])))
    fpr = fp0 / n_neg
    tpr = tp0 / n_pos
    thresholds = np.concatenate(([np.inf], th))
    _frozen(fpr, tpr, thresholds)
    return RocCurve(fpr, tpr, thresholds, twice_area / (2.0 * n_pos * n_neg))


def _pr_from_counts(th, tp, fp, n_pos) -> PrCurve:
    precision = np.concatenate(([1.0], tp / (tp + fp)))
    recall = np.concatenate(([0.0], tp / n_pos))
    d_recall = np.diff(recall)
    aupr = float(np.sum(d_recall * (precision[1:] + precision[:-1]) / 2.0))
    ap = float(np.sum(d_recall * precision[1:]))
    thresholds = np.concatenate(([np.inf], th))
    _frozen(precision, recall, thresholds)
    return PrCurve(recall, precision, thresholds, aupr, ap)


def pr_curve(labels, scores) -> PrCurve:
    """Precision-recall curve with AUPR (trapezoid) and average precision (step sum).

    >>> p = pr_curve([1, 1, 0, 0, 1, 0], [.8, .8, .6, .4, .4, .2])
    >>> p.recall.tolist(), p.precision.round(4).tolist()
    ([0.0, 0.666..., 0.666..., 1.0, 1.0], [1.0, 1.0, 0.6667, 0.6, 0.5])
    >>> round(p.average_precision, 6)   # 2/3 * 1 + 0 * 2/3 + 1/3 * 3/5 + 0 * 1/2 = 13/15
    0.866667
    """
    th, tp, fp, n_pos, _ = _counts(labels, scores)
    return _pr_from_counts(th, tp, fp, n_pos)


def _gains(tp, fn, fp, tn):
    """Reference-implementation gains from (possibly interpolated) counts; TP > 0 here."""
    ratio = (tp + fn) / (fp + tn)
    return 1.0 - ratio * (fp / tp), 1.0 - ratio * (fn / tp)


def _prg_from_counts(th, tp_i, fp_i, n_pos, n_neg) -> PrgCurve:
    n = n_pos + n_neg
    tp = np.concatenate(([0.0], tp_i.astype(np.float64)))
    fp = np.concatenate(([0.0], fp_i.astype(np.float64)))
    thr = np.concatenate(([np.inf], th))
    fn, tn = n_pos - tp, n_neg - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        pg, rg = _gains(tp, fn, fp, tn)
    # all-positive point: precision gain 0 and recall gain 1 by definition (FN = TN = 0)
    pg[-1], rg[-1] = 0.0, 1.0
    rg[tp == 0] = -np.inf  # FN / 0
    j = int(np.argmax(rg >= 0))  # first point with recall gain >= 0; exists (the last point)
    keep = slice(j, None)
    out_tp, out_fp, out_pg, out_rg, out_thr = tp[keep], fp[keep], pg[keep], rg[keep], thr[keep]
    out_cross = np.zeros(out_tp.shape[0], dtype=bool)
    if rg[j] > 0:
        # recall gain is 0 at TP = P^2 / n; interpolate the counts between points j-1 and j
        d_tp, d_fp = tp[j] - tp[j - 1], fp[j] - fp[j - 1]
        alpha = (n_pos * n_pos / n - tp[j - 1]) / d_tp
        c_tp, c_fp = tp[j - 1] + alpha * d_tp, fp[j - 1] + alpha * d_fp
        c_fn, c_tn = fn[j - 1] - alpha * d_tp, tn[j - 1] - alpha * d_fp
        c_pg, _ = _gains(c_tp, c_fn, c_fp, c_tn)
        out_tp = np.concatenate(([c_tp], out_tp))
        out_fp = np.concatenate(([c_fp], out_fp))
        out_pg = np.concatenate(([c_pg], out_pg))
        out_rg = np.concatenate(([0.0], out_rg))
        out_thr = np.concatenate(([np.nan], out_thr))
        out_cross = np.concatenate(([True], out_cross))
    # precision gain changes sign between consecutive points: insert the crossing of the x axis
    x, y = out_rg, out_pg
    idx = np.flatnonzero(y[1:] * y[:-1] < 0) + 1
    if idx.size:
        x0, x1, y0, y1 = x[idx - 1], x[idx], y[idx - 1], y[idx]
        cross_x = x0 + (-y0) / (y1 - y0) * (x1 - x0)
        tp0, fp0 = out_tp[idx - 1], out_fp[idx - 1]
        d_tp, d_fp = out_tp[idx] - tp0, out_fp[idx] - fp0
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(
                d_tp > 0,
                (n_pos * n_pos / (n - n_neg * cross_x) - tp0) / d_tp,
                (n_neg / n_pos * tp0 - fp0) / d_fp,
            )
        c_tp, c_fp = tp0 + alpha * d_tp, fp0 + alpha * d_fp
        _, c_rg = _gains(c_tp, n_pos - c_tp, c_fp, n_neg - c_fp)
        out_tp = np.insert(out_tp, idx, c_tp)
        out_fp = np.insert(out_fp, idx, c_fp)
        out_pg = np.insert(out_pg, idx, 0.0)
        out_rg = np.insert(out_rg, idx, c_rg)
        out_thr = np.insert(out_thr, idx, np.nan)
        out_cross = np.insert(out_cross, idx, True)
    auprg = float(np.sum(np.diff(out_rg) * (out_pg[1:] + out_pg[:-1]) / 2.0))
    _frozen(out_rg, out_pg, out_tp, out_fp, out_thr, out_cross)
    return PrgCurve(out_rg, out_pg, out_tp, out_fp, out_thr, out_cross, n_pos / n, auprg)


def prg_curve(labels, scores) -> PrgCurve:
    """Precision-recall-gain curve and AUPRG, computed as the authors' reference implementation does.

    >>> c = prg_curve([1, 1, 0, 0, 1, 0], [.8, .8, .6, .4, .4, .2])
    >>> c.auprg   # reference implementation (meeliskull/prg): 0.7083333333333334
    0.708333...
    >>> c.recall_gain.tolist(), c.precision_gain.tolist()
    ([0.0, 0.5, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.333..., 0.0])
    >>> c.is_crossing.tolist()   # recall gain crosses 0 between (TP, FP) = (0, 0) and (2, 0)
    [True, False, False, False, False]
    """
    th, tp, fp, n_pos, n_neg = _counts(labels, scores)
    return _prg_from_counts(th, tp, fp, n_pos, n_neg)


def curve_areas(labels, scores) -> CurveAreas:
    """AUROC, AUPR, average precision and AUPRG from a single sort of the scores.

    >>> a = curve_areas([1, 0, 1, 1, 0, 0, 1, 0], [.9, .8, .7, .6, .55, .4, .3, .1])
    >>> round(a.auroc, 4), round(a.auprg, 10)   # AUROC = 11/16; reference AUPRG 0.4305555555555556
    (0.6875, 0.4305555556)
    """
    th, tp, fp, n_pos, n_neg = _counts(labels, scores)
    roc = _roc_from_counts(th, tp, fp, n_pos, n_neg)
    pr = _pr_from_counts(th, tp, fp, n_pos)
    prg = _prg_from_counts(th, tp, fp, n_pos, n_neg)
    return CurveAreas(
        auroc=roc.auroc,
        aupr=pr.aupr,
        average_precision=pr.average_precision,
        auprg=prg.auprg,
        n_positive=n_pos,
        n_negative=n_neg,
    )
