"""Bias-variance decomposition of any estimator from its predictions over repeated training sets.

For predictions ``g[r, t]`` (round ``r`` = one training set, test point ``t``) and the noise-free truth
``f[t]``::

    bias2    = mean_t (mean_r g[r, t] - f[t])^2
    variance = mean_t mean_r (g[r, t] - mean_r g[r, t])^2      (population variance over rounds)
    noise    = sigma^2
    mse      = bias2 + variance + noise  = E_{D, eps}[(f + eps - g)^2]  averaged over test points

The identity holds exactly for the empirical distribution over rounds when the noise is independent
of the training set and has mean zero (see :func:`mlcore.biasvar.derive_bias_variance`). Bias is
measured against ``f``, never against one noisy draw of the targets, which would add the noise to it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlperf.errors import ArgumentError
from dlperf.results import Result

__all__ = ["Decomposition", "decompose_predictions", "bootstrap_predictions"]


@dataclass(frozen=True, repr=False)
class Decomposition(Result):
    """Averages over test points; ``*_per_point[t]`` are the same quantities at test point ``t``.

    ``mse_monte_carlo`` (with standard error ``mse_monte_carlo_se``) is the mean of ``(y - g)^2`` over
    fresh noisy targets ``y[r, t] = f[t] + eps[r, t]`` when they were given, else NaN; ``z_score`` is
    ``(mse_monte_carlo - mse) / mse_monte_carlo_se``: |z| of a few means the parts add up within the
    Monte-Carlo error.
    """

    bias2: float
    variance: float
    noise: float
    mse: float
    mse_monte_carlo: float
    mse_monte_carlo_se: float
    z_score: float
    bias2_per_point: np.ndarray
    variance_per_point: np.ndarray
    n_rounds: int


def _as_matrix(predictions) -> np.ndarray:
    g = np.asarray(predictions, dtype=np.float64)
    if g.ndim != 2:
        raise ArgumentError("predictions", what=f"got shape {g.shape}", fix="give a (rounds, test points) matrix")
    if g.shape[0] < 2 or g.shape[1] < 1:
        raise ArgumentError("predictions", what=f"got shape {g.shape}", fix="give at least 2 rounds and 1 test point")
    if not np.isfinite(g).all():
        raise ArgumentError("predictions", what="got NaN or infinite values", fix="every prediction must be finite")
    return g


def decompose_predictions(predictions, f_true, noise_var: float = 0.0, y_noisy=None) -> Decomposition:
    """Decompose the expected squared error of an estimator from its predictions.

    Parameters
    ----------
    predictions : array (R, T)
        ``predictions[r, t]``: the model trained on data set ``r`` evaluated at test point ``t``.
    f_true : array (T,)
        The noise-free target function at the test points.
    noise_var : float
        sigma^2, the variance of the zero-mean target noise (>= 0).
    y_noisy : array (R, T), optional
        Fresh noisy targets ``f[t] + eps[r, t]``, independent of the training sets, for the
        Monte-Carlo check of the identity.

    Examples
    --------
    >>> g = [[1.0, 2.0], [3.0, 2.0]]            # two rounds, two test points
    >>> d = decompose_predictions(g, [1.0, 1.0], noise_var=0.25)
    >>> d.bias2, d.variance, d.mse               # ((2-1)^2 + (2-1)^2)/2, (1 + 0)/2, 1 + 0.5 + 0.25
    (1.0, 0.5, 1.75)
    """
    g = _as_matrix(predictions)
    f = np.asarray(f_true, dtype=np.float64)
    if f.shape != (g.shape[1],):
        raise ArgumentError("f_true", what=f"got shape {f.shape}", fix=f"give one true value per test point ({g.shape[1]})")
    if not np.isfinite(f).all():
        raise ArgumentError("f_true", what="got NaN or infinite values", fix="give finite true function values")
    noise_var = float(noise_var)
    if not noise_var >= 0.0:
        raise ArgumentError("noise_var", noise_var, "give a variance >= 0")
    mean_g = g.mean(axis=0)
    b2 = (mean_g - f) ** 2
    var = ((g - mean_g) ** 2).mean(axis=0)
    bias2, variance = float(b2.mean()), float(var.mean())
    mse = bias2 + variance + noise_var
    mc = se = z = float("nan")
    if y_noisy is not None:
        y = np.asarray(y_noisy, dtype=np.float64)
        if y.shape != g.shape:
            raise ArgumentError("y_noisy", what=f"got shape {y.shape}", fix=f"give the predictions' shape {g.shape}")
        per_round = ((y - g) ** 2).mean(axis=1)
        mc = float(per_round.mean())
        # the gap to the identity comes only from the noise terms eps^2 - sigma^2 + 2 eps (f - g)
        gap = per_round - ((f - g) ** 2).mean(axis=1) - noise_var
        se = float(gap.std(ddof=1) / np.sqrt(g.shape[0]))
        if se > 0:
            z = (mc - mse) / se
        else:  # valid input (e.g. noise 0), undefined quantity: warn and return NaN, as scikit-learn does
            warnings.warn(
                "z_score: the Monte-Carlo standard error is 0 (noise-free targets); undefined (NaN, null in JSON)",
                RuntimeWarning,
                stacklevel=2,
            )
    b2.setflags(write=False)
    var.setflags(write=False)
    return Decomposition(bias2, variance, noise_var, mse, mc, se, z, b2, var, g.shape[0])


def bootstrap_predictions(
    fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    x_train,
    y_train,
    x_test,
    rounds: int = 100,
    seed: int | None = 0,
) -> np.ndarray:
    """Predictions (rounds, T) of a user's model refitted on bootstrap resamples of one training set.

    ``fit_predict(x, y, x_test)`` trains on ``(x, y)`` and returns the predictions at ``x_test``. The
    result feeds :func:`decompose_predictions`. A bootstrap estimates the variance over training sets
    drawn from the empirical distribution of one set (as mlxtend does); pass the true ``f`` at
    ``x_test`` to the decomposition, not noisy targets.

    >>> def mean_model(x, y, xt):
    ...     return np.full(len(xt), y.mean())
    >>> p = bootstrap_predictions(mean_model, np.arange(4.0), np.array([0., 0., 4., 4.]), [0.0], 3, seed=1)
    >>> p.shape
    (3, 1)
    """
    rounds = int(rounds)
    if rounds < 2:
        raise ArgumentError("rounds", rounds, "give an integer >= 2")
    x = np.asarray(x_train)
    y = np.asarray(y_train)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x_train/y_train: got {len(x)} and {len(y)} samples; give equal, non-zero lengths")
    rng = np.random.default_rng(seed)
    n_test = len(x_test)
    out = np.empty((rounds, n_test))
    for r in range(rounds):  # the user's estimator is opaque: one fit per round
        idx = rng.integers(0, len(x), len(x))
        pred = np.asarray(fit_predict(x[idx], y[idx], np.asarray(x_test)), dtype=np.float64).reshape(-1)
        if pred.shape != (n_test,):
            raise ValueError(
                f"fit_predict: returned {pred.shape[0]} predictions; return one per test point ({n_test})"
            )
        out[r] = pred
    return out
