"""ROC / PR / PRG curves: reference values, scikit-learn agreement, an exact rational PRG oracle."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from strategies import labels_and_tied_scores

from mlcore.curves import confusion_at_thresholds, curve_areas, pr_curve, prg_curve, roc_curve

# Worked values of the authors' reference implementation (meeliskull/prg), ../shared/references/mlcore.md
REFERENCE_AUPRG = [
    ([1, 1, 0, 0, 1, 0], [0.8, 0.8, 0.6, 0.4, 0.4, 0.2], 0.7083333333333334),
    ([1, 0, 1, 1, 0, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.1], 0.4305555555555556),
]


@pytest.mark.parametrize(("labels", "scores", "expected"), REFERENCE_AUPRG)
def test_auprg_matches_reference_implementation(labels, scores, expected):
    assert abs(prg_curve(labels, scores).auprg - expected) <= 1e-12
    assert abs(curve_areas(labels, scores).auprg - expected) <= 1e-12


def test_first_reference_example_by_hand():
    # P = N = 3, pi = 1/2. Thresholds .8 .6 .4 .2 give (TP, FP) = (2,0) (2,1) (3,2) (3,3).
    # recall gain 1 - FN/TP: 1/2, 1/2, 1, 1; precision gain 1 - FP/TP: 1, 1/2, 1/3, 0.
    # Recall gain crosses 0 at TP = P^2/n = 3/2 on the segment (0,0)-(2,0): FP = 0, precision gain 1.
    # Area: 1/2 * (1 + 1)/2 + 0 + 1/2 * (1/2 + 1/3)/2 + 0 = 1/2 + 5/24 = 17/24 = 0.708333...
    c = prg_curve([1, 1, 0, 0, 1, 0], [0.8, 0.8, 0.6, 0.4, 0.4, 0.2])
    assert c.auprg == pytest.approx(17 / 24, abs=1e-15)
    assert c.recall_gain.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert c.is_crossing.tolist() == [True, False, False, False, False]
    assert c.positive_rate == 0.5


def test_ties_are_one_point():
    th, tp, fp = confusion_at_thresholds([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1])
    assert th.tolist() == [0.5, 0.1] and tp.tolist() == [2, 2] and fp.tolist() == [1, 2]
    # a tie of one positive and one negative is a diagonal ROC segment: area 1/2 of that cell
    assert roc_curve([1, 0], [0.3, 0.3]).auroc == 0.5


def _exact_auprg(labels, scores) -> Fraction:
    """Independent exact oracle: PRG points in rational arithmetic, the recall-gain-0 crossing found by
    linear interpolation in (TP, FP) count space, trapezoids over recall gain >= 0. (Crossings of the
    precision-gain axis lie on the straight segments, so they do not change a trapezoid sum.)"""
    order = sorted(set(scores), reverse=True)
    p = sum(labels)
    n_neg = len(labels) - p
    n = p + n_neg
    pts = [(Fraction(0), Fraction(0))]
    for s in order:
        tp = sum(1 for y, v in zip(labels, scores, strict=True) if v >= s and y == 1)
        fp = sum(1 for y, v in zip(labels, scores, strict=True) if v >= s and y == 0)
        pts.append((Fraction(tp), Fraction(fp)))

    def gains(tp, fp):
        if tp == p and fp == n_neg:
            return Fraction(0), Fraction(1)
        r = Fraction(p, n_neg)
        return 1 - r * fp / tp, 1 - r * (p - tp) / tp

    curve = []
    for k, (tp, fp) in enumerate(pts):
        if tp == 0:
            continue
        pg, rg = gains(tp, fp)
        if rg > 0 and not curve:
            tp0, fp0 = pts[k - 1]
            a = (Fraction(p * p, n) - tp0) / (tp - tp0)
            curve.append((Fraction(0), gains(tp0 + a * (tp - tp0), fp0 + a * (fp - fp0))[0]))
        if rg >= 0:
            curve.append((rg, pg))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(curve[:-1], curve[1:], strict=True))


@given(labels_and_tied_scores())
def test_auprg_matches_exact_rational_oracle_and_is_at_most_one(data):
    labels, scores = data
    got = prg_curve(labels, scores).auprg
    exact = _exact_auprg(labels.tolist(), scores.tolist())
    assert abs(got - float(exact)) <= 1e-12
    assert got <= 1.0
    c = prg_curve(labels, scores)
    assert np.all(np.diff(c.recall_gain) >= 0) and c.recall_gain[0] >= 0 and c.recall_gain[-1] == 1.0
    assert np.all(c.precision_gain <= 1.0)


@given(labels_and_tied_scores())
def test_roc_pr_areas_match_scikit_learn(data):
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

    labels, scores = data
    a = curve_areas(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    assert abs(a.auroc - roc_auc_score(labels, scores)) <= 1e-12
    assert abs(a.aupr - auc(recall, precision)) <= 1e-12
    assert abs(a.average_precision - average_precision_score(labels, scores)) <= 1e-12
    # the same points as scikit-learn's curve, read in the opposite direction
    p = pr_curve(labels, scores)
    np.testing.assert_allclose(p.precision, precision[::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p.recall, recall[::-1], rtol=0, atol=1e-15)


def test_roc_curve_matches_scikit_learn_points():
    from sklearn.metrics import roc_curve as sk_roc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = rng.integers(0, 40, 500) / 40
    fpr, tpr, thr = sk_roc(y, s, drop_intermediate=False)
    r = roc_curve(y, s)
    np.testing.assert_array_equal(r.fpr, fpr)
    np.testing.assert_array_equal(r.tpr, tpr)
    np.testing.assert_array_equal(r.thresholds[1:], thr[1:])


def test_scores_are_rank_invariant():
    # AUROC / AUPR / AP / AUPRG depend on the order of the scores only: a monotone map changes nothing
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = rng.normal(size=300)
    a, b = curve_areas(y, s), curve_areas(y, np.exp(3 * s) + 1)
    assert (a.auroc, a.aupr, a.average_precision, a.auprg) == pytest.approx(
        (b.auroc, b.aupr, b.average_precision, b.auprg), abs=1e-15
    )


def test_perfect_and_reversed_rankings():
    y = [1, 1, 0, 0, 0]
    perfect = curve_areas(y, [5, 4, 3, 2, 1])
    assert (perfect.auroc, perfect.aupr, perfect.average_precision, perfect.auprg) == (1.0, 1.0, 1.0, 1.0)
    worst = curve_areas(y, [1, 2, 3, 4, 5])
    assert worst.auroc == 0.0 and worst.auprg <= 0.0


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "only positives"),
        ([0, 0], [0.1, 0.2], "only negatives"),
        ([1, 0], [0.1, np.nan], "NaN at index 1"),
        ([1, 0, 1], [0.1, 0.2], "3 labels and 2 scores"),
        ([1, 2], [0.1, 0.2], "give 0/1"),
        ([], [], "no samples"),
        ([[1, 0]], [[0.1, 0.2]], "one-dimensional"),
        ([1, 0], ["high", "low"], "non-numeric"),
        (["yes", "no"], [0.1, 0.2], "give 0/1"),
    ],
)
def test_bad_input_raises_one_line_value_error(labels, scores, message):
    for fn in (roc_curve, pr_curve, prg_curve, curve_areas):
        with pytest.raises(ValueError, match=message) as info:
            fn(labels, scores)
        assert "\n" not in str(info.value)


def test_bool_labels_and_infinite_scores():
    a = curve_areas(np.array([True, False, True]), [np.inf, -np.inf, np.inf])
    assert a.auroc == 1.0 and a.auprg == 1.0


def test_result_arrays_are_read_only():
    c = prg_curve([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    with pytest.raises(ValueError):
        c.precision_gain[0] = 2.0


def test_lazy_package_exports():
    import mlcore
    import mlcore.curves

    assert mlcore.prg_curve is mlcore.curves.prg_curve
    assert {"prg_curve", "bias_variance_study", "load_blood_transfusion"} <= set(mlcore.__all__)
    with pytest.raises(AttributeError):
        mlcore.no_such_name  # noqa: B018
