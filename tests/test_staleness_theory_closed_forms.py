"""The closed forms added for k-async, ssp with bound 0, Pareto order statistics and mean staleness under
any distribution: exact values against independent computations (numerical integration of the order
statistic's density with scipy, exact fractions, mpmath), and against simulation in batch-means intervals.
"""

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy import integrate

from staleness import SimConfig, simulate
from staleness.theory import PRODUCT_EXACT_MAX, pareto_order_statistic, theory
from staleness.validate import Case, batch_means_ci, validate


def _order_stat_mean(pdf, cdf, p, k, lo, hi=np.inf):
    """E[X_(k:p)] = int x p C(p-1, k-1) F^(k-1) (1 - F)^(p-k) f dx, by adaptive quadrature."""
    c = p * comb(p - 1, k - 1)
    val, err = integrate.quad(lambda x: x * c * cdf(x) ** (k - 1) * (1 - cdf(x)) ** (p - k) * pdf(x), lo, hi,
                              epsabs=0, epsrel=1e-12, limit=500)
    return val


def test_k_async_exponential_time_exact():
    # P = 8, K = 2, Exp(1): H_8 - H_6 = 1/8 + 1/7 = 15/56; P = 8, K = 4: 1/8 + 1/7 + 1/6 + 1/5 = 533/840
    assert theory("k-async", 8, 2).get("time_per_update").exact == "15/56"
    assert theory("k-async", 8, 4).get("time_per_update").exact == "533/840"
    # mean 2 (mu = 1/2): twice that; and the expected K-th order statistic of exponentials by quadrature
    f = theory("k-async", 8, 4, mean=2.0).get("time_per_update")
    quad = _order_stat_mean(lambda x: 0.5 * np.exp(-x / 2), lambda x: -np.expm1(-x / 2), 8, 4, 0.0)
    assert f.exact == "533/420" and f.value == pytest.approx(quad, rel=1e-10)


def test_k_async_and_batch_async_mean_staleness_any_distribution():
    # (P - K) / K: 8, 3 -> 5/3; k-batch-async (P - 1) / K: 7/3; both for every distribution
    for dist in ("exp", "uniform", "lognormal", "pareto", "constant", "shifted-exp"):
        assert theory("k-async", 8, 3, dist=dist).get("staleness_mean").exact == "5/3"
        assert theory("k-batch-async", 8, 3, dist=dist).get("staleness_mean").exact == "7/3"
    assert theory("k-async", 4, 4).get("staleness_mean").exact == "0"  # K = P is sync


@pytest.mark.parametrize("p, k, alpha", [(8, 4, 3.0), (4, 4, 3.0), (16, 1, 2.5), (5, 3, 1.5), (8, 8, 1.2)])
def test_pareto_order_statistic_against_quadrature(p, k, alpha):
    xm = (alpha - 1) / alpha  # mean 1
    quad = _order_stat_mean(lambda x: alpha * xm**alpha / x ** (alpha + 1), lambda x: 1 - (xm / x) ** alpha,
                            p, k, xm)
    exact, value = pareto_order_statistic(p, k, Fraction(str(alpha)), Fraction(1))
    assert value == pytest.approx(quad, rel=1e-8)
    assert float(exact) == value


def test_pareto_k_sync_exact_value():
    # P = 8, K = 4, alpha = 3, mean 1: x_m = 2/3; prod_{i=5}^{8} i / (i - 1/3) = 1680 / (14*17*20*23 / 81)
    # = 136080/109480; times 2/3 = 324/391
    f = theory("k-sync", 8, 4, dist="pareto").get("time_per_update")
    assert f.exact == "324/391" and "beta" in f.formula
    # sync, P = 4: x_m * 4!/prod(i - 1/3) = 2/3 * 24 * 81 / (2*5*8*11) = 81/55 (= 1.4727...)
    assert theory("sync", 4, dist="pareto").get("time_per_update").exact == "81/55"


def test_pareto_large_k_mpmath_path_equals_the_product():
    # K = PRODUCT_EXACT_MAX + 1 goes through Gamma ratios; the exact product is the oracle
    p, k, alpha = 1500, PRODUCT_EXACT_MAX + 1, Fraction(5, 2)
    assert pareto_order_statistic(p, k, alpha, Fraction(1))[0] is None
    e = Fraction(3, 5)
    for i in range(p - k + 1, p + 1):
        e *= Fraction(i) / (i - 1 / alpha)
    assert pareto_order_statistic(p, k, alpha, Fraction(1))[1] == pytest.approx(float(e), rel=1e-14)
    assert theory("sync", 10**6, dist="pareto").get("time_per_update").value > 0


def test_pareto_refuses_an_infinite_order_statistic():
    with pytest.raises(ValueError, match=r"shape: got alpha = 1/2 with P - K \+ 1 = 2"):
        pareto_order_statistic(4, 3, Fraction(1, 2), Fraction(1))


def test_ssp_bound_zero_exact():
    # P = 8, Exp(1): H_8 / 8 = (761/280) / 8 = 761/2240; staleness uniform on 0..7: mean 7/2,
    # variance (64 - 1) / 12 = 21/4, P(tau = s) = 1/8
    got = {f.quantity: f.exact for f in theory("ssp", 8, bound=0).formulas}
    assert got == {"time_per_update": "761/2240", "staleness_mean": "7/2", "staleness_var": "21/4",
                   "staleness_pmf_0": "1/8", "staleness_pmf_1": "1/8", "staleness_pmf_2": "1/8"}
    # P = 2: P(tau = 2) = 0; uniform on [0, 2] of P = 2: E[max] = 4/3, per update 2/3
    got = {f.quantity: f.exact for f in theory("ssp", 2, dist="uniform", bound=0).formulas}
    assert got["staleness_pmf_2"] == "0" and got["time_per_update"] == "2/3"
    assert theory("ssp", 4, bound=3).formulas == ()
    with pytest.raises(ValueError, match="bound: missing for policy ssp"):
        theory("ssp", 4)


def test_ssp_bound_zero_rounds_have_staleness_zero_to_p_minus_one():
    # the identity holds per round, whatever the speeds and latencies: every block of P applied gradients
    # (in apply order) has staleness 0..P-1
    cfg = SimConfig(learners=5, policy="ssp", bound=0, speeds=[1, 2, 0.5, 3, 1], pull_latency=0.2,
                    push_latency=[0, 0.1, 0.3, 0, 1.0], updates=5000, seed=3)
    g = simulate(cfg).gradients
    stale = g.staleness[g.applied][np.argsort(g.update[g.applied], kind="stable")]
    assert (np.sort(stale.reshape(-1, 5), axis=1) == np.arange(5)).all()


@pytest.mark.parametrize("policy, k, kw", [
    ("k-async", 3, {"speeds": [1, 2, 0.5, 1, 3, 0.25, 1, 1], "pull_latency": 0.3, "push_latency": 0.1}),
    ("k-async", 3, {"apply_time": 0.05}),
    ("k-batch-async", 3, {"speeds": [1, 2, 0.5, 1, 3, 0.25, 1, 1], "push_latency": [0.1, 0.5, 0, 0, 0, 1, 0, 0.2]}),
])
def test_mean_staleness_identity_beyond_identical_learners(policy, k, kw):
    # the telescoping proof (staleness.theory) uses neither the distribution nor the speeds nor latencies
    res = simulate(SimConfig(learners=8, policy=policy, k=k, dist="lognormal", updates=20_000, seed=7, **kw))
    g, s = res.gradients, res.summary
    est, half, _ = batch_means_ci(g.staleness[g.applied & (g.update > s.warmup_updates)])
    target = theory(policy, 8, k).get("staleness_mean").value  # 5/3 or 7/3
    assert abs(est - target) <= half, (est, half, target)


def test_new_closed_forms_against_simulation():
    grid = [Case("k-async", 8, 2, "exp"), Case("k-async", 8, 3, "pareto"), Case("k-sync", 8, 4, "pareto"),
            Case("sync", 4, None, "pareto"), Case("ssp", 8, None, "exp", bound=0),
            Case("ssp", 4, None, "pareto", bound=0), Case("k-batch-async", 8, 3, "lognormal")]
    v = validate(grid, updates=20_000, seed=11)
    assert v.all_ok, [(c.case.label, c.quantity, c.theory, c.estimate, c.half_width) for c in v.checks if not c.ok]
    assert {(c.case.policy, c.quantity) for c in v.checks} >= {
        ("k-async", "time_per_update"), ("k-async", "staleness_mean"), ("k-sync", "time_per_update"),
        ("ssp", "time_per_update"), ("ssp", "staleness_var"), ("ssp", "staleness_pmf_2")}
    # the intervals are tight: k-sync Pareto within 1% of 324/391
    ks = next(c for c in v.checks if c.case.policy == "k-sync" and c.quantity == "time_per_update")
    assert ks.half_width < 0.01 * ks.theory
