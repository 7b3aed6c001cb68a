"""Bias-variance: fits against exact rational arithmetic, the decomposition identity, the Monte Carlo."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlcore.biasvar import (
    BiasVarianceConfig,
    bias_variance_study,
    bootstrap_predictions,
    decompose_predictions,
    parse_degrees,
    polynomial_predictions,
    true_function,
)


def _solve(a, b):
    """Gaussian elimination in exact rationals."""
    n = len(a)
    m = [row[:] + [rhs] for row, rhs in zip(a, b, strict=True)]
    for i in range(n):
        piv = next(k for k in range(i, n) if m[k][i] != 0)
        m[i], m[piv] = m[piv], m[i]
        for k in range(i + 1, n):
            if m[k][i]:
                f = m[k][i] / m[i][i]
                m[k] = [u - f * v for u, v in zip(m[k], m[i], strict=True)]
    x = [Fraction(0)] * n
    for i in reversed(range(n)):
        x[i] = (m[i][n] - sum(m[i][j] * x[j] for j in range(i + 1, n))) / m[i][i]
    return x


def _exact_fit(x, y, x_eval, degree, alpha=0):
    """Exact solution of min ||y - b - F w||^2 + alpha ||w||^2, F = raw monomials x^1..x^degree.

    Every float is converted exactly (Fraction(float)); the intercept is unpenalised, so centring F and
    y removes it. alpha = 0 is ordinary least squares (whose predictions do not depend on the basis)."""
    xs = [Fraction(v) for v in x]
    f = [[v**k for k in range(1, degree + 1)] for v in xs]
    n = len(xs)
    mu = [sum(r[k] for r in f) / n for k in range(degree)]
    fc = [[r[k] - mu[k] for k in range(degree)] for r in f]
    ybar = sum(Fraction(v) for v in y) / n
    yc = [Fraction(v) - ybar for v in y]
    a = [
        [sum(r[i] * r[j] for r in fc) + (Fraction(alpha) if i == j else 0) for j in range(degree)]
        for i in range(degree)
    ]
    b = [sum(r[i] * v for r, v in zip(fc, yc, strict=True)) for i in range(degree)]
    w = _solve(a, b)
    return np.array(
        [float(ybar + sum(w[k] * (Fraction(v) ** (k + 1) - mu[k]) for k in range(degree))) for v in x_eval]
    )


def _data(n_train=24, seed=7):
    rng = np.random.default_rng(seed)
    pool = np.linspace(0, 10, 1000)
    idx = rng.choice(1000, n_train + 6, replace=False)
    x, xe = pool[idx[:n_train]], pool[idx[n_train:]]
    return x, true_function(x) + rng.normal(0, 0.3, n_train), xe


@pytest.mark.parametrize("degree", [1, 5, 10, 15])
def test_least_squares_matches_exact_rational_solution(degree):
    # raw monomials to x^15 on [0, 10] have condition number ~1e19; a cut-off solver drifts from degree 5
    x, y, xe = _data()
    got = polynomial_predictions(x[None], y[None], xe, degree, domain=(0.0, 10.0))[0]
    exact = _exact_fit(x, y, xe, degree)
    np.testing.assert_allclose(got, exact, rtol=1e-8, atol=0)


@pytest.mark.parametrize(
    ("degree", "alpha"), [(1, 1.0), (5, 1.0), (10, 1.0), (15, 1.0), (15, 1e-3), (15, 1e4)]
)
def test_ridge_raw_monomials_matches_exact_rational_solution(degree, alpha):
    # the same x with features rounded to double would already be off by ~1e-8 at degree 15, alpha 1
    x, y, xe = _data(seed=11)
    got = polynomial_predictions(x[None], y[None], xe, degree, ridge_alpha=alpha)[0]
    exact = _exact_fit(x, y, xe, degree, alpha=Fraction(alpha))
    np.testing.assert_allclose(got, exact, rtol=1e-8, atol=0)


@pytest.mark.parametrize("degree", [5, 15])
def test_ridge_standardised_matches_high_precision_solution(degree):
    # standardising needs a square root, so the oracle is 60-digit mpmath instead of Fraction
    import mpmath

    x, y, xe = _data(seed=3)
    alpha = 0.5
    with mpmath.workdps(60):
        xs = [mpmath.mpf(Fraction(v).numerator) / Fraction(v).denominator for v in x]
        xe_m = [mpmath.mpf(Fraction(v).numerator) / Fraction(v).denominator for v in xe]
        n = len(xs)
        f = [[v**k for k in range(1, degree + 1)] for v in xs]
        mu = [mpmath.fsum(r[k] for r in f) / n for k in range(degree)]
        sd = [mpmath.sqrt(mpmath.fsum((r[k] - mu[k]) ** 2 for r in f) / n) for k in range(degree)]
        z = mpmath.matrix([[(r[k] - mu[k]) / sd[k] for k in range(degree)] for r in f])
        ybar = mpmath.fsum(mpmath.mpf(v) for v in y) / n
        yc = mpmath.matrix([mpmath.mpf(v) - ybar for v in y])
        u = mpmath.lu_solve(z.T * z + alpha * mpmath.eye(degree), z.T * yc)
        exact = [
            float(ybar + mpmath.fsum(u[k] * (v ** (k + 1) - mu[k]) / sd[k] for k in range(degree)))
            for v in xe_m
        ]
    got = polynomial_predictions(x[None], y[None], xe, degree, ridge_alpha=alpha, standardize=True)[0]
    np.testing.assert_allclose(got, exact, rtol=1e-8, atol=0)


def test_agrees_with_scikit_learn_where_scikit_learn_is_well_conditioned():
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    x, y, xe = _data(seed=5)
    lr = make_pipeline(PolynomialFeatures(2), LinearRegression()).fit(x[:, None], y).predict(xe[:, None])
    np.testing.assert_allclose(polynomial_predictions(x[None], y[None], xe, 2)[0], lr, rtol=1e-10)
    rd = make_pipeline(PolynomialFeatures(3), Ridge(alpha=2.0)).fit(x[:, None], y).predict(xe[:, None])
    np.testing.assert_allclose(
        polynomial_predictions(x[None], y[None], xe, 3, ridge_alpha=2.0)[0], rd, rtol=1e-9
    )
    sd = make_pipeline(PolynomialFeatures(8, include_bias=False), StandardScaler(), Ridge(alpha=1.0))
    sd = sd.fit(x[:, None], y).predict(xe[:, None])
    got = polynomial_predictions(x[None], y[None], xe, 8, ridge_alpha=1.0, standardize=True)[0]
    np.testing.assert_allclose(got, sd, rtol=1e-9)


def test_batched_fits_equal_one_at_a_time():
    # the stack of 5 data sets gives the same answers as 5 separate calls (no cross-talk in the batch)
    rng = np.random.default_rng(2)
    x = np.sort(rng.uniform(0, 10, (5, 30)), axis=1)
    y = true_function(x) + rng.normal(0, 0.3, x.shape)
    xe = np.array([0.5, 5.0, 9.5])
    for kw in ({}, {"ridge_alpha": 1.0}):
        batch = polynomial_predictions(x, y, xe, 9, domain=(0.0, 10.0), **kw)
        single = np.vstack(
            [
                polynomial_predictions(x[i : i + 1], y[i : i + 1], xe, 9, domain=(0.0, 10.0), **kw)
                for i in range(5)
            ]
        )
        np.testing.assert_allclose(batch, single, rtol=1e-12)


@given(arrays(np.float64, st.tuples(st.integers(2, 8), st.integers(1, 6)), elements=st.floats(-100, 100)))
def test_bias2_plus_variance_is_mean_squared_distance_to_f(g):
    # for the empirical distribution over rounds: mean_r (g - f)^2 = (gbar - f)^2 + var_r(g), exactly
    f = np.linspace(-1, 1, g.shape[1])
    d = decompose_predictions(g, f, noise_var=0.09)
    direct = float(((g - f) ** 2).mean())
    assert d.bias2 + d.variance == pytest.approx(direct, rel=1e-9, abs=1e-9)
    assert d.mse == pytest.approx(direct + 0.09, rel=1e-9, abs=1e-9)
    assert d.variance >= 0 and d.bias2 >= 0


def test_monte_carlo_mse_matches_decomposition_within_error():
    # bias^2 + variance + noise vs mean (y - g)^2 over fresh noisy targets: the gap is pure noise,
    # so it must be within a few standard errors, for every degree and several seeds
    zs = []
    for seed in range(4):
        s = bias_variance_study(degrees=range(1, 11), n_datasets=200, seed=seed)
        zs += [r.z_score for r in s.rows]
    assert max(abs(z) for z in zs) < 4.5
    assert abs(np.mean(zs)) < 1.0  # 40 z-scores, mean has sd ~ 0.16 if they were independent


def test_fixed_draw_variant_folds_the_test_noise_into_the_bias():
    # fixed_draw_bias2 - bias2 = mean_t[e0^2 - 2 e0 (gbar - f)] with e0 the fixed test draw: expectation sigma^2
    gaps = []
    for seed in range(40):
        s = bias_variance_study(degrees=(3,), n_datasets=20, noise_std=0.3, seed=seed)
        r = s.rows[0]
        gbar = s.predictions[0].mean(axis=0)
        assert r.fixed_draw_bias2 == pytest.approx(float(((gbar - s.y_test_fixed) ** 2).mean()), rel=1e-12)
        assert r.fixed_draw_mse == pytest.approx(
            float(((s.predictions[0] - s.y_test_fixed) ** 2).mean()), rel=1e-12
        )
        gaps.append(r.fixed_draw_bias2 - r.bias2)
    assert np.mean(gaps) == pytest.approx(0.09, abs=0.04)  # sd of the mean ~ 0.008


def test_study_layout_and_sampling():
    s = bias_variance_study(degrees=(1, 2), n_datasets=5, train_size=20, test_size=4, seed=1)
    assert s.predictions.shape == (2, 5, 4)
    assert s.x_test.shape == (4,) and np.all(np.isin(s.x_test, np.linspace(0, 10, 1000)))
    np.testing.assert_allclose(s.f_test, s.x_test + np.sin(1.5 * s.x_test))
    assert [r.noise for r in s.rows] == [pytest.approx(0.09)] * 2
    with pytest.raises(ValueError):
        s.predictions[0, 0, 0] = 1.0
    again = bias_variance_study(degrees=(1, 2), n_datasets=5, train_size=20, test_size=4, seed=1)
    assert again.rows == s.rows  # deterministic for a seed


def test_noise_free_study_monte_carlo_is_exact():
    # noise 0: fresh targets are f itself, so the Monte-Carlo MSE equals bias^2 + variance exactly;
    # its standard error is 0 and the z-score 0/0 is reported as NaN
    with pytest.warns(RuntimeWarning, match="z_score"):
        s = bias_variance_study(degrees=(2, 15), n_datasets=3, noise_std=0.0, seed=0)
    for r in s.rows:
        assert r.noise == 0.0 and np.isnan(r.z_score) and r.mse_monte_carlo_se == 0.0
        assert r.mse_monte_carlo == pytest.approx(r.bias2 + r.variance, rel=1e-12)
        assert r.fixed_draw_bias2 == r.bias2  # the "noisy" test draw is noise-free too


def test_bootstrap_helper_with_a_known_estimator():
    # bootstrap means of y: Var = var(y) / n (population variance), here 1.25 / 4 = 0.3125
    x = np.arange(4.0)
    y = np.array([0.0, 1.0, 2.0, 3.0])
    preds = bootstrap_predictions(
        lambda xb, yb, xt: np.full(len(xt), yb.mean()), x, y, [0.0], rounds=4000, seed=0
    )
    d = decompose_predictions(preds, [1.5])
    assert d.variance == pytest.approx(0.3125, rel=0.06) and d.bias2 < 1e-3
    # the resamples are rng.integers(0, n, n) draws of default_rng(seed), in order
    rng = np.random.default_rng(9)
    first = y[rng.integers(0, 4, 4)].mean()
    p = bootstrap_predictions(lambda xb, yb, xt: np.full(len(xt), yb.mean()), x, y, [0.0], rounds=2, seed=9)
    assert p[0, 0] == first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"degrees": ()}, "^degrees: "),
        ({"n_datasets": 0}, "^n_datasets: got 0"),
        ({"n_datasets": 1}, "^n_datasets: got 1"),
        ({"train_size": -3}, "^train_size: got -3"),
        ({"test_size": 0}, "^test_size: got 0"),
        ({"noise_std": -0.1}, "^noise_std: got -0.1"),
        ({"noise_std": float("nan")}, "^noise_std: "),
        ({"ridge_alpha": 0.0}, "^ridge_alpha: got 0.0"),
        ({"train_size": 10, "degrees": (12,)}, "needs at least 13"),
        ({"train_size": 995, "test_size": 10}, "pool"),
    ],
)
def test_bad_config_raises_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        BiasVarianceConfig(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["", "a-b", "5-1", "0-3", "1-", "1,,2", "-3"])
def test_malformed_degree_ranges(text):
    with pytest.raises(ValueError, match="^degrees: got"):
        parse_degrees(text)


def test_degree_ranges():
    assert parse_degrees("1-15") == tuple(range(1, 16))
    assert parse_degrees(" 10, 1-3 ,3") == (1, 2, 3, 10)


def test_decompose_and_bootstrap_bad_input():
    with pytest.raises(ValueError, match="predictions"):
        decompose_predictions([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="f_true"):
        decompose_predictions([[1.0], [2.0]], [1.0, 2.0])
    with pytest.raises(ValueError, match="noise_var: got -1"):
        decompose_predictions([[1.0], [2.0]], [1.0], noise_var=-1)
    with pytest.raises(ValueError, match="NaN"):
        decompose_predictions([[np.nan], [2.0]], [1.0])
    with pytest.raises(ValueError, match="y_noisy"):
        decompose_predictions([[1.0], [2.0]], [1.0], y_noisy=[1.0])
    with pytest.raises(ValueError, match="rounds: got 1"):
        bootstrap_predictions(lambda a, b, c: c, [1.0], [1.0], [0.0], rounds=1)
    with pytest.raises(ValueError, match="fit_predict"):
        bootstrap_predictions(lambda a, b, c: [1.0, 2.0], [1.0], [1.0], [0.0], rounds=2)
    with pytest.raises(ValueError, match="ridge_alpha"):
        polynomial_predictions([[0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0]], [1.0], 1, ridge_alpha=-1.0)
    with pytest.raises(ValueError, match="degree"):
        polynomial_predictions([[0.0, 1.0]], [[0.0, 1.0]], [1.0], 2)
