"""Batched, cut-off-free polynomial least squares and ridge regression (one LAPACK call per stack).

Least squares: the fitted polynomial does not depend on the basis, so the fit is done in the Legendre
basis of ``t = (2x - lo - hi) / (hi - lo)`` on the data domain, whose Vandermonde matrix is well
conditioned (raw monomials x^0..x^15 on [0, 10] have a condition number near 1e19, past double
precision). One Householder QR of the degree-``max`` Legendre-Vandermonde stack gives every lower degree
too: the first ``d + 1`` columns of ``Q`` and the leading block of ``R`` are the QR factors of the
degree-``d`` matrix. No singular value is ever cut off.

Ridge is not basis independent, so it is defined on the documented features, raw monomials x^1..x^d
(optionally standardised to mean 0 and population standard deviation 1 over the training set), with an
unpenalised intercept: ``min ||y - b - F w||^2 + alpha ||w||^2``, scikit-learn's ``Ridge(alpha)`` on
``PolynomialFeatures(d)`` (optionally after ``StandardScaler``). Centring removes the intercept; the
centred problem is solved as the augmented least-squares problem ``[F_c D; sqrt(alpha) D^-1 ...]`` with
column equilibration and Householder QR, which never forms the squared-condition normal equations.
"""

from __future__ import annotations

import numpy as np


def to_unit_interval(x: np.ndarray, domain: tuple[float, float]) -> np.ndarray:
    lo, hi = domain
    return (2.0 * x - (lo + hi)) / (hi - lo)


def legendre_ls_predictions(
    x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, degrees, domain: tuple[float, float]
) -> np.ndarray:
    """Least-squares polynomial predictions for every degree in ``degrees``.

    ``x_train``, ``y_train``: (D, n) training sets; ``x_eval``: (T,) shared or (D, T) per-set points.
    Returns an array (len(degrees), D, T); ``out[k, r, t]`` is the degree ``degrees[k]`` fit on data set
    ``r`` evaluated at point ``t``.
    """
    degrees = list(degrees)
    d_max = max(degrees)
    v = np.polynomial.legendre.legvander(to_unit_interval(x_train, domain), d_max)  # (D, n, d_max+1)
    q, r = np.linalg.qr(v)  # Householder QR on the whole stack
    qty = np.einsum("dnk,dn->dk", q, y_train)  # (D, d_max+1)
    t_eval = to_unit_interval(np.asarray(x_eval, dtype=np.float64), domain)
    v_eval = np.polynomial.legendre.legvander(t_eval, d_max)  # (T, k) or (D, T, k)
    if v_eval.ndim == 2:
        v_eval = np.broadcast_to(v_eval, (x_train.shape[0],) + v_eval.shape)
    out = np.empty((len(degrees), x_train.shape[0], v_eval.shape[1]))
    for k, d in enumerate(degrees):  # one batched triangular solve per degree, never per data set
        m = d + 1
        coef = np.linalg.solve(r[:, :m, :m], qty[:, :m, None])[..., 0]
        out[k] = np.einsum("dtk,dk->dt", v_eval[:, :, :m], coef)
    return out


def _monomials(x: np.ndarray, degree: int) -> np.ndarray:
    return x[..., None] ** np.arange(1, degree + 1)


def ridge_predictions(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    degree: int,
    alpha: float,
    standardize: bool,
    max_refine_steps: int = 10,
) -> np.ndarray:
    """Ridge predictions (D, T) on monomial features x^1..x^degree with an unpenalised intercept.

    Raw monomials to degree 15 make the ridge answer sensitive to the last bits of the features
    (rounding x^k to double alone moves predictions by ~1e-8 at alpha = 1 and ~1e-6 at alpha = 1e-6), so the features, the centring and the
    normal-equation residual are carried in ``np.longdouble`` (80-bit on x86) and the double-precision
    Householder QR of the augmented matrix is used as the solver of iterative refinement (until the
    correction reaches longdouble rounding, at most ``max_refine_steps`` rounds). Where ``longdouble`` is plain double, refinement is harmless and gains nothing.
    """
    ld = np.longdouble
    n_sets = x_train.shape[0]
    f = _monomials(x_train.astype(ld), degree)  # (D, n, d)
    mu = f.mean(axis=1, keepdims=True)
    fc = f - mu
    y_ld = y_train.astype(ld)
    y_mean = y_ld.mean(axis=1, keepdims=True)
    yc = y_ld - y_mean
    x_eval = np.asarray(x_eval, dtype=np.float64)
    if x_eval.ndim == 1:
        x_eval = np.broadcast_to(x_eval, (n_sets,) + x_eval.shape)
    fe = _monomials(x_eval.astype(ld), degree)
    if standardize:
        c = np.sqrt((fc * fc).mean(axis=1, keepdims=True))  # population std, as StandardScaler
        c = np.where(c == 0.0, ld(1.0), c)
        p = np.ones_like(c)  # the penalty acts on the standardised coefficients
    else:
        # equilibrate columns: F_c w = (F_c / c)(c w) = Z u, and alpha ||w||^2 = alpha ||u / c||^2
        c = np.sqrt((fc * fc).sum(axis=1, keepdims=True))
        c = np.where(c == 0.0, ld(1.0), c)
        p = 1.0 / c
    z = fc / c  # (D, n, d) longdouble
    pen2 = alpha * (p[:, 0, :] ** 2)  # (D, d): penalty weights a * p_k^2 on u
    a = np.concatenate(
        [z.astype(np.float64), np.sqrt(pen2).astype(np.float64)[:, :, None] * np.eye(degree)], axis=1
    )
    _, r = np.linalg.qr(a)  # R^T R = Z^T Z + diag(pen2), in double

    def solve_normal(rhs: np.ndarray) -> np.ndarray:
        t = np.linalg.solve(np.swapaxes(r, 1, 2), rhs.astype(np.float64)[..., None])
        return np.linalg.solve(r, t)[..., 0]

    u = np.zeros((n_sets, degree), dtype=ld)
    tiny = 16 * np.finfo(ld).eps
    previous = np.inf
    for _ in range(1 + max_refine_steps):
        # Z^T (y - Z u) - pen u, with the data residual formed first (no cancellation of two big terms)
        resid = np.einsum("dnk,dn->dk", z, yc - np.einsum("dnk,dk->dn", z, u)) - pen2 * u
        delta = solve_normal(resid).astype(ld)
        u = u + delta
        size = float(np.max(np.abs(delta) / np.maximum(np.abs(u).max(axis=1, keepdims=True), tiny)))
        # stop at longdouble rounding, or once refinement stagnates at the problem's noise floor
        if size <= tiny or size > 0.5 * previous:
            break
        previous = size
    pred = y_mean + np.einsum("dtk,dk->dt", (fe - mu) / c, u)
    return pred.astype(np.float64)
