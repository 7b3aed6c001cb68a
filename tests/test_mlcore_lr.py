"""LR range test: schedule, smoothing, stop rule and suggestions against independent re-implementations of
torch-lr-finder's and fastai's rules, plus a real (tiny) run."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings

from mlcore.lr_range import (
    lr_range_json,
    lr_range_test,
    lr_schedule,
    range_test_curve,
    smooth_losses,
    suggest_minimum,
    suggest_steepest,
    suggest_valley,
)
from tests.strategies import lr_loss_curves


def torch_lr_finder_reference(lrs, raw, smooth_f=0.05, diverge_th=5, skip_start=10, skip_end=5):
    """torch-lr-finder's range_test loop and plot() suggestion, re-derived from its documented behaviour:
    the first loss is kept as is, later ones smoothed; best updated before the divergence check; the
    diverging point is recorded; suggestion = lrs[argmin(np.gradient(losses))] on [skip_start:-skip_end]."""
    hist_lr, hist_loss = [], []
    best = None
    for i, (lr, loss) in enumerate(zip(lrs, raw, strict=True)):
        hist_lr.append(lr)
        if i == 0:
            best = loss
        else:
            loss = smooth_f * loss + (1 - smooth_f) * hist_loss[-1]
            if loss < best:
                best = loss
        hist_loss.append(loss)
        if loss > diverge_th * best:
            break
    lr_w = hist_lr[skip_start:-skip_end] if skip_end else hist_lr[skip_start:]
    loss_w = hist_loss[skip_start:-skip_end] if skip_end else hist_loss[skip_start:]
    suggestion = lr_w[np.gradient(np.array(loss_w)).argmin()] if len(loss_w) >= 2 else math.nan
    return hist_lr, hist_loss, suggestion


def fastai_reference(lrs, losses):
    """fastai lr_find's suggestion functions on [n // 10 : -5]: minimum / 10 and valley (double loop)."""
    n_all = len(losses)
    lrs, losses = list(lrs[n_all // 10: n_all - 5]), list(losses[n_all // 10: n_all - 5])
    if not losses:
        return math.nan, math.nan
    minimum = lrs[int(np.argmin(losses))] / 10
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return minimum, lrs[max_start + int(sections) + int(sections / 2)]


def _fixed_curve():
    # A U-shaped noisy loss over 1e-6 .. 10 that blows up at the end: 100 points, divergence near the end.
    rng = np.random.default_rng(42)
    lrs = lr_schedule(1e-6, 10.0, 100, "exp")
    x = np.log10(lrs)
    raw = 2.3 - 1.6 / (1 + np.exp(-(x + 3) * 2)) + np.exp(4.0 * (x + 0.5)) + rng.normal(0, 0.08, 100)
    return lrs, np.abs(raw)


def test_steepest_suggestion_equals_torch_lr_finder_on_fixed_curve():
    lrs, raw = _fixed_curve()
    res = range_test_curve(lrs, raw)
    ref_lr, ref_loss, ref_suggestion = torch_lr_finder_reference(lrs, raw)
    assert res.stopped_early and len(res.lrs) == len(ref_lr) < 100
    np.testing.assert_allclose(res.losses, ref_loss, rtol=1e-12)
    assert res.suggestion == ref_suggestion
    minimum, valley = fastai_reference(res.lrs, res.losses)
    assert (res.suggestion_min10, res.suggestion_valley) == (minimum, valley)
    # the suggestions sit on the descending part, before the minimum of the smoothed loss
    lr_at_min = res.lrs[int(np.argmin(res.losses))]
    assert res.suggestion < lr_at_min and res.suggestion_valley < lr_at_min


@settings(max_examples=60)
@given(lr_loss_curves(min_size=2, max_size=80))
def test_suggestions_equal_references_on_any_curve(curve):
    lrs, raw = curve
    with warnings.catch_warnings():  # curves cut short by divergence warn "no suggestion" (NaN): expected
        warnings.simplefilter("ignore", UserWarning)
        res = range_test_curve(lrs, raw)
    ref_lr, ref_loss, ref_suggestion = torch_lr_finder_reference(lrs, raw)
    assert res.lrs.tolist() == ref_lr
    np.testing.assert_allclose(res.losses, ref_loss, rtol=1e-12)
    assert res.suggestion == ref_suggestion or (math.isnan(res.suggestion) and math.isnan(ref_suggestion))
    minimum, valley = fastai_reference(res.lrs, res.losses)
    for ours, theirs in ((res.suggestion_min10, minimum), (res.suggestion_valley, valley)):
        assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))


def test_schedules_closed_form():
    # exp: 1e-3 * (1e4) ** (i / 4) = 1e-3, 1e-2, 1e-1, 1, 10
    np.testing.assert_allclose(lr_schedule(1e-3, 10, 5, "exp"), [1e-3, 1e-2, 1e-1, 1, 10], rtol=1e-12)
    # linear: 0.1 + i * (1.0 - 0.1) / 3 = 0.1, 0.4, 0.7, 1.0
    np.testing.assert_allclose(lr_schedule(0.1, 1.0, 4, "linear"), [0.1, 0.4, 0.7, 1.0], rtol=1e-12)


def test_smoothing_closed_form():
    # s0 = 4; s1 = 0.5*2 + 0.5*4 = 3; s2 = 0.5*0 + 0.5*3 = 1.5
    assert smooth_losses([4.0, 2.0, 0.0], 0.5).tolist() == [4.0, 3.0, 1.5]


def test_hand_made_suggestions():
    lrs = np.arange(1, 31, dtype=float)
    losses = np.array([5.0] * 12 + [4.0, 3.0, 1.0, 0.5] + [0.4] * 14)
    # window [10:25], central differences: index 13 (loss 3.0) (1.0 - 4.0) / 2 = -1.5 beats index 14
    # (0.5 - 3.0) / 2 = -1.25 and index 12 (3.0 - 5.0) / 2 = -1.0 -> lr 14
    assert suggest_steepest(lrs, losses) == 14.0
    # fastai window [3:25]: first minimum 0.4 at lr 17 -> 1.7
    assert suggest_minimum(lrs, losses) == pytest.approx(1.7)
    # fastai window [3:25]; longest decreasing run 5 > 4 > 3 > 1 > 0.5 > 0.4 is 6 long and ends at window
    # index 13, so start = 13 - 6 = 7, d = 6 / 3 = 2, index 7 + 2 + 1 = 10 -> global 13 -> lr 14
    assert suggest_valley(lrs, losses) == 14.0


def test_range_test_curve_drops_non_finite_points():
    with pytest.warns(UserWarning, match="no suggestion"):
        res = range_test_curve([1e-3, 1e-2, 1e-1], [2.0, 1.9, float("nan")])
    assert res.stopped_early and res.raw_losses.tolist() == [2.0, 1.9]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"start_lr": 0}, "^start_lr: got 0"), ({"end_lr": 1e-7}, "^end_lr: got 1e-07"), ({"num_iter": 1}, "^num_iter: got 1"),
    ({"step_mode": "cos"}, "^step_mode: got 'cos'")])
def test_bad_schedule(kwargs, match):
    args = {"start_lr": 1e-6, "end_lr": 1.0, "num_iter": 10, "step_mode": "exp"} | kwargs
    with pytest.raises(ValueError, match=match):
        lr_schedule(**args)


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_real_range_test_is_deterministic_and_follows_the_rule():
    from mlcore.images import load_images

    data = load_images("digits", subset=120, seed=0)
    kwargs = {"start_lr": 1e-4, "end_lr": 10.0, "num_iter": 24, "batch_size": 16, "device": "cpu",
              "show_progress": False}
    res = lr_range_test(data, **kwargs)
    again = lr_range_test(data, **kwargs)
    np.testing.assert_array_equal(res.raw_losses, again.raw_losses)
    # the recorded learning rates are the schedule's first len(lrs) values
    np.testing.assert_allclose(res.lrs, lr_schedule(1e-4, 10.0, 24)[: len(res.lrs)], rtol=1e-15)
    ref_lr, ref_loss, ref_suggestion = torch_lr_finder_reference(res.lrs, res.raw_losses)
    assert len(ref_lr) == len(res.lrs) and res.suggestion == ref_suggestion
    # a fresh model's first loss is close to ln(10) = 2.303 (10 balanced classes, near-uniform outputs)
    assert 1.5 < res.raw_losses[0] < 3.5
    text = lr_range_json(res)
    assert '"suggestion"' in text and '"lrs"' in text


def test_table_without_a_steepest_suggestion_shows_a_dash():
    # found by tests/test_cli_fuzz.py (mlcore lr-range-test --num-iter 8): with 8 points, skipping 10 at the
    # start and 5 at the end leaves none, so suggest_steepest warns and returns nan; the table printed "nan"
    import io

    from rich.console import Console

    from mlcore.lr_range import lr_range_table

    lrs = np.geomspace(1e-4, 1, 8)
    with pytest.warns(UserWarning, match="no suggestion"):
        res = range_test_curve(lrs, 2 - np.tanh(np.linspace(-2, 3, 8)))
    assert math.isnan(res.suggestion)
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(lr_range_table(res))
    row = next(line for line in console.export_text().splitlines() if "steepest" in line)
    assert "nan" not in row and row.split("│")[2].strip() == "-"
