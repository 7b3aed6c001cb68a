"""Summary statistics against numpy / exact arithmetic; closed forms against their published values."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from staleness import SimConfig, simulate
from staleness.result import _percentile, steady_state_warmup
from staleness.theory import theory
from staleness.validate import batch_means_ci, t_quantile


@given(st.lists(st.integers(0, 30), min_size=1, max_size=200), st.sampled_from([1, 5, 50, 95, 99, 100]))
def test_histogram_percentile_is_numpy_inverted_cdf(data, q):
    hist = np.bincount(np.array(data))
    assert _percentile(hist, q) == np.percentile(data, q, method="inverted_cdf")


def test_exercise_1_summary_by_hand():
    res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
    s = res.summary
    # staleness 0, 0, 2, 1, 0, 2: mean 5/6, histogram {0: 3, 1: 1, 2: 2}; too short for a warm-up
    assert s.mean_staleness == pytest.approx(5 / 6) and s.histogram == (3, 1, 2)
    assert s.warmup_updates == 0 and "too short" in s.window
    assert (s.p50_staleness, s.p95_staleness, s.max_staleness) == (0.0, 2.0, 2.0)
    # 6 updates in 5 s; L1 busy 4 of 5 s, L2 5 of 5 s
    assert s.updates_per_time == pytest.approx(6 / 5) and s.utilisation == (0.8, 1.0)


def test_steady_state_window_rule():
    # warm-up = max(ceil(U / 10), 10 P): U = 1000, P = 4 -> max(100, 40) = 100; U = 100, P = 8 -> 80 > 50: none
    assert steady_state_warmup(1000, 4) == 100 and steady_state_warmup(100, 8) == 0
    res = simulate(SimConfig(learners=4, updates=1000, seed=1))
    g, s = res.gradients, res.summary
    window = g.staleness[g.update > 100]
    assert len(window) == 900 and s.mean_staleness == window.mean()
    assert s.window == "updates 101..1000 (warm-up of 100 updates dropped)"
    # time per update over the window: (t_1000 - t_100) / 900
    assert s.time_per_update == pytest.approx((res.update_times[-1] - res.update_times[99]) / 900)


def test_finite_runs_bias_the_mean_low():
    # everyone starts on version 0, so the first gradients are fresher than steady state (P - 1 = 15)
    s = simulate(SimConfig(learners=16, updates=400, seed=0)).summary
    assert s.mean_staleness_all < s.mean_staleness


def test_k_sync_closed_form_exact():
    # E[X_(8:16)] for Exp(1) = H_16 - H_8 = sum_{i=9}^{16} 1/i = 95549/144144
    exact = sum(Fraction(1, i) for i in range(9, 17))
    assert exact == Fraction(95549, 144144)
    f = theory("k-sync", learners=16, k=8, dist="exp").get("time_per_update")
    assert f.exact == "95549/144144" and f.value == float(exact)


def test_closed_forms_exact_values():
    # sync, P = 8, Exp(mean 2): H_8 * 2 = 761/280 * 2 = 761/140
    assert theory("sync", 8, dist="exp", mean=2.0).get("time_per_update").exact == "761/140"
    # shifted exp, mean 1, shift 0.5 -> delta = 1/2, mu = 2: 1/2 + H_4 / 2 = 1/2 + 25/24 = 37/24
    assert theory("sync", 4, dist="shifted-exp", shape=0.5).get("time_per_update").exact == "37/24"
    # uniform on [0, 2], K = 3 of P = 5: 0 + 2 * 3/6 = 1
    assert theory("k-sync", 5, 3, dist="uniform").get("time_per_update").exact == "1"
    # k-batch-sync exp: K / (P mu) = 3 / 8; k-batch-async any: K m / P = 3 * 2 / 8 = 3/4
    assert theory("k-batch-sync", 8, 3).get("time_per_update").exact == "3/8"
    assert theory("k-batch-async", 8, 3, dist="pareto", mean=2.0).get("time_per_update").exact == "3/4"
    # async exp P = 4: mean 3, variance 12, P(0) = 1/4, P(2) = (1/4)(3/4)^2 = 9/64, speed-up 4 H_4 = 25/3
    th = theory("async", 4)
    got = {f.quantity: f.exact for f in th.formulas}
    assert got["staleness_mean"] == "3" and got["staleness_var"] == "12"
    assert got["staleness_pmf_0"] == "1/4" and got["staleness_pmf_2"] == "9/64"
    assert got["speedup_async_over_sync"] == "25/3"
    # k-batch-async exp: (P - 1) / K = 7/2
    assert theory("k-batch-async", 8, 2).get("staleness_mean").exact == "7/2"
    # k-async: only the mean staleness (P - K) / K = 1 for uniform times; ssp with a bound > 0: none
    assert [f.quantity for f in theory("k-async", 4, 2, dist="uniform").formulas] == ["staleness_mean"]
    assert theory("ssp", 4, bound=1).formulas == ()


def test_t_quantile_against_tables():
    # Student t tables: t_{0.975, 10} = 2.2281, t_{0.995, 5} = 4.0321, t_{0.9995, 31} = 3.6335,
    # t_{0.975, 1000} = 1.9623; z_{0.975} = 1.95996
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert t_quantile(0.995, 5) == pytest.approx(4.0321, abs=1e-4)
    assert t_quantile(0.9995, 31) == pytest.approx(3.6335, abs=1e-4)
    assert t_quantile(0.975, 1000) == pytest.approx(1.9623, abs=1e-4)
    assert t_quantile(0.975, 10**6) == pytest.approx(1.95996, abs=1e-4)  # normal quantile beyond df = 1000


def test_batch_means_ci_covers_iid_mean():
    x = np.random.default_rng(0).normal(5.0, 2.0, 32_000)
    mean, half, var = batch_means_ci(x, 32, 0.999)
    assert abs(mean - 5.0) < half
    # i.i.d.: the variance of the mean is about sigma^2 / n = 4 / 32000
    assert var == pytest.approx(4 / 32_000, rel=0.6)
    with pytest.raises(ValueError, match="simulate longer"):
        batch_means_ci(x[:10], 32)


def test_nan_summary_for_an_empty_run():
    s = simulate(SimConfig(learners=2, until=0.0)).summary
    assert s.updates == 0 and math.isnan(s.mean_staleness) and s.histogram == ()
    assert s.to_dict()["mean_staleness"] is None


def test_time_to_updates():
    res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
    assert [res.time_to(n) for n in (1, 3, 6)] == [1.0, 2.5, 5.0]
    with pytest.warns(UserWarning, match="only 6 updates"):
        assert math.isnan(res.time_to(7))
    with pytest.raises(ValueError, match="updates: got 0"):
        res.time_to(0)
