"""Monte-Carlo bias-variance study of polynomial least squares and ridge (the original study's Problem 1).

Sampling, as the original study does it: a pool ``x = linspace(0, 10, 1000)``; ``test_size`` fixed test points
drawn from the pool without replacement; each of ``n_datasets`` training sets draws ``train_size`` points
without replacement from the rest, with targets ``f(x) + eps``, ``f(x) = x + sin(1.5 x)``,
``eps ~ N(0, noise_std^2)`` (the original study's ``N(0, 0.3)`` is a standard deviation of 0.3). All data sets are
fitted at once (batched QR), see :mod:`mlcore.biasvar._linalg`.

Per degree the study reports bias^2 against the true ``f``, the variance over data sets, the noise
sigma^2, their sum ``mse`` (the expected test MSE), a Monte-Carlo estimate of that MSE on fresh noisy test
targets with its standard error, and the original study's variant, which measures "bias" against one fixed noisy
draw of the test targets and so folds that draw's noise into the bias.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from dlperf.errors import ArgumentError
from dlperf.results import Result
from mlcore.biasvar._linalg import legendre_ls_predictions, ridge_predictions
from mlcore.biasvar.decompose import decompose_predictions

__all__ = [
    "BiasVarianceConfig",
    "BiasVarianceRow",
    "BiasVarianceStudy",
    "bias_variance_study",
    "parse_degrees",
    "polynomial_predictions",
    "true_function",
]


def true_function(x):
    """The original study's target ``f(x) = x + sin(1.5 x)``.

    >>> round(float(true_function(2.0)), 6)   # 2 + sin(3)
    2.14112
    """
    return x + np.sin(1.5 * np.asarray(x, dtype=np.float64))


_MAX_DEGREE = 10_000


def parse_degrees(text: str) -> tuple[int, ...]:
    """Parse ``"1-15"``, ``"1,3,10"`` or ``"1-5,10"`` into a sorted tuple of distinct degrees >= 1.

    >>> parse_degrees("1-3,10")
    (1, 2, 3, 10)
    """
    out: set[int] = set()
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ArgumentError("degrees", text, "give a range like 1-15 or a list like 1,3,10")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if lo < 1 or hi < lo:
            raise ArgumentError("degrees", text, "give degrees >= 1 with ranges written low-high (e.g. 1-15)")
        if hi > _MAX_DEGREE:  # before building the set: "1-100000000" must not allocate first
            raise ArgumentError("degrees", text, f"give degrees up to {_MAX_DEGREE} (each needs that many "
                                "training points plus one)")
        out.update(range(lo, hi + 1))
    return tuple(sorted(out))


@dataclass(frozen=True)
class BiasVarianceConfig:
    """Everything that determines a study; ``ridge_alpha=None`` means ordinary least squares."""

    degrees: tuple[int, ...] = tuple(range(1, 16))
    n_datasets: int = 100
    train_size: int = 40
    test_size: int = 10
    noise_std: float = 0.3
    ridge_alpha: float | None = None
    standardize: bool = False
    seed: int = 0
    pool_size: int = 1000
    domain: tuple[float, float] = (0.0, 10.0)

    def __post_init__(self) -> None:
        import numbers

        if isinstance(self.degrees, str | bytes) or not hasattr(self.degrees, "__iter__") or any(
                isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in self.degrees):
            raise ValueError(f"degrees={self.degrees!r} must be a sequence of integers >= 1, such as (1, 2, 3)")
        degrees = tuple(int(d) for d in self.degrees)
        object.__setattr__(self, "degrees", degrees)
        if not degrees or min(degrees) < 1:
            raise ArgumentError("degrees", list(degrees), "give at least one degree, all >= 1")
        for name in ("n_datasets", "train_size", "test_size", "pool_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ArgumentError(name, value, "give an integer >= 1")
        if self.n_datasets < 2:
            raise ArgumentError("n_datasets", self.n_datasets, "give an integer >= 2 (variance needs 2)")
        if not (math.isfinite(self.noise_std) and 0 <= self.noise_std <= 1e100):  # squared, summed: finite
            raise ArgumentError("noise_std", self.noise_std, "give a standard deviation in [0, 1e100]")
        if self.ridge_alpha is not None and not (math.isfinite(self.ridge_alpha) and self.ridge_alpha > 0):
            raise ArgumentError("ridge_alpha", self.ridge_alpha, "give a penalty alpha > 0 (leave it out for "
                                "least squares)")
        if self.train_size < max(degrees) + 1:
            raise ArgumentError("train_size", self.train_size, f"degree {max(degrees)} needs at least "
                                f"{max(degrees) + 1} training points")
        if self.train_size + self.test_size > self.pool_size:
            raise ArgumentError(("train_size", "test_size"), what=f"got {self.train_size} + {self.test_size} > "
                                f"pool of {self.pool_size}", fix="use fewer points")
        lo, hi = self.domain
        if not hi > lo:
            raise ArgumentError("domain", self.domain, "give (low, high) with high > low")

    def as_dict(self) -> dict:
        """Deprecated spelling of :meth:`to_dict`."""
        import warnings

        warnings.warn("BiasVarianceConfig.as_dict() is deprecated: use to_dict()", DeprecationWarning, stacklevel=2)
        return self.to_dict()

    def to_dict(self) -> dict:
        """The configuration as plain JSON-able data."""
        d = asdict(self)
        d["degrees"] = list(self.degrees)
        d["domain"] = list(self.domain)
        return d


@dataclass(frozen=True)
class BiasVarianceRow:
    """One degree: the decomposition (averaged over test points) and the original study's fixed-draw variant.

    ``mse = bias2 + variance + noise`` is the expected test MSE; ``mse_monte_carlo`` estimates it on fresh
    noisy test targets (standard error ``mse_monte_carlo_se``, ``z_score`` the gap in standard errors).
    ``fixed_draw_bias2`` and ``fixed_draw_mse`` are measured against ONE fixed noisy draw of the test targets, as the
    original study does: that draw's noise ends up inside the "bias".
    """

    degree: int
    bias2: float
    variance: float
    noise: float
    mse: float
    mse_monte_carlo: float
    mse_monte_carlo_se: float
    z_score: float
    fixed_draw_bias2: float
    fixed_draw_mse: float


@dataclass(frozen=True, repr=False)
class BiasVarianceStudy(Result):
    """Rows per degree plus the raw material: test points, true values, predictions (degree, set, point)."""

    config: BiasVarianceConfig
    rows: tuple[BiasVarianceRow, ...]
    x_test: np.ndarray
    f_test: np.ndarray
    y_test_fixed: np.ndarray
    predictions: np.ndarray

    @property
    def best_degree(self) -> int:
        """Degree with the smallest expected test MSE."""
        return min(self.rows, key=lambda r: r.mse).degree


def polynomial_predictions(
    x_train,
    y_train,
    x_eval,
    degree: int,
    ridge_alpha: float | None = None,
    standardize: bool = False,
    domain: tuple[float, float] | None = None,
) -> np.ndarray:
    """Fit one polynomial per training set (rows of ``x_train``, ``y_train``) and predict at ``x_eval``.

    Least squares (``ridge_alpha=None``) is solved in a Legendre basis on ``domain`` (default: the range
    of the data) with Householder QR, no singular-value cut-off; ridge on raw monomials x^1..x^degree
    (standardised if asked) with an unpenalised intercept. Returns (D, T).

    >>> x = np.array([[0.0, 1.0, 2.0, 3.0]])
    >>> polynomial_predictions(x, x**2, [4.0], degree=2).round(12).tolist()   # exact fit of x^2
    [[16.0]]
    """
    x = np.atleast_2d(np.asarray(x_train, dtype=np.float64))
    y = np.atleast_2d(np.asarray(y_train, dtype=np.float64))
    if x.shape != y.shape:
        raise ValueError(f"x_train/y_train: got shapes {x.shape} and {y.shape}; give equal shapes")
    degree = int(degree)
    if degree < 1 or x.shape[1] < degree + 1:
        raise ArgumentError("degree", degree, "give 1 <= degree < points", what=f"got {degree!r} with {x.shape[1]} points")
    x_eval = np.asarray(x_eval, dtype=np.float64)
    if ridge_alpha is not None:
        if not (math.isfinite(ridge_alpha) and ridge_alpha > 0):
            raise ArgumentError("ridge_alpha", ridge_alpha, "give alpha > 0 or None for least squares")
        return ridge_predictions(x, y, x_eval, degree, float(ridge_alpha), standardize)
    if domain is None:
        lo, hi = float(min(x.min(), x_eval.min())), float(max(x.max(), x_eval.max()))
        domain = (lo, hi if hi > lo else lo + 1.0)
    return legendre_ls_predictions(x, y, x_eval, [degree], domain)[0]


def _sample(cfg: BiasVarianceConfig):
    rng = np.random.default_rng(cfg.seed)
    pool = np.linspace(cfg.domain[0], cfg.domain[1], cfg.pool_size)
    test_idx = np.sort(rng.choice(cfg.pool_size, cfg.test_size, replace=False))
    rest = np.setdiff1d(np.arange(cfg.pool_size), test_idx)
    # train_size distinct pool points per data set, all sets at once (random keys, keep the smallest)
    pick = np.argsort(rng.random((cfg.n_datasets, rest.size)), axis=1)[:, : cfg.train_size]
    x_train = pool[rest[pick]]
    y_train = true_function(x_train) + rng.normal(0.0, cfg.noise_std, x_train.shape)
    x_test = pool[test_idx]
    f_test = true_function(x_test)
    y_fresh = f_test + rng.normal(0.0, cfg.noise_std, (cfg.n_datasets, cfg.test_size))
    y_fixed = f_test + rng.normal(0.0, cfg.noise_std, cfg.test_size)
    return x_train, y_train, x_test, f_test, y_fresh, y_fixed


def bias_variance_study(
    config: BiasVarianceConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    force: bool = False,
    **overrides,
) -> BiasVarianceStudy:
    """Run the Monte-Carlo bias-variance study; keyword overrides build the config.

    ``progress(done, total)`` is called after each degree (for a progress bar). Before anything large is
    allocated the memory the study needs is estimated (:mod:`mlcore.biasvar.memory`); a study that needs
    more than is available is refused with a ``ValueError`` unless ``force`` is True.

    Examples
    --------
    >>> s = bias_variance_study(degrees=(1, 3, 10), n_datasets=50, seed=0)
    >>> [(r.degree, round(r.bias2, 3), round(r.variance, 3), round(r.mse, 3)) for r in s.rows]
    [(1, 0.394, 0.029, 0.513), (3, 0.369, 0.047, 0.507), (10, 0.001, 6.603, 6.694)]
    >>> all(abs(r.z_score) < 4 for r in s.rows)   # parts add up within Monte-Carlo error
    True
    """
    cfg = BiasVarianceConfig(**overrides) if config is None else config
    if config is not None and overrides:
        raise ArgumentError("config", what="give either a BiasVarianceConfig or keyword overrides, not both")
    from mlcore.biasvar.memory import check_memory

    check_memory(cfg, force)
    x_train, y_train, x_test, f_test, y_fresh, y_fixed = _sample(cfg)
    n_deg = len(cfg.degrees)
    if cfg.ridge_alpha is None:
        preds = legendre_ls_predictions(x_train, y_train, x_test, cfg.degrees, cfg.domain)
        if progress:
            progress(n_deg, n_deg)
    else:
        preds = np.empty((n_deg, cfg.n_datasets, cfg.test_size))
        for k, d in enumerate(cfg.degrees):
            preds[k] = ridge_predictions(x_train, y_train, x_test, d, cfg.ridge_alpha, cfg.standardize)
            if progress:
                progress(k + 1, n_deg)
    noise_var = cfg.noise_std**2
    rows = []
    for k, d in enumerate(cfg.degrees):
        dec = decompose_predictions(preds[k], f_test, noise_var, y_fresh)
        fixed_dec = decompose_predictions(preds[k], y_fixed, 0.0)  # "bias" against one noisy draw
        rows.append(
            BiasVarianceRow(
                degree=d,
                bias2=dec.bias2,
                variance=dec.variance,
                noise=dec.noise,
                mse=dec.mse,
                mse_monte_carlo=dec.mse_monte_carlo,
                mse_monte_carlo_se=dec.mse_monte_carlo_se,
                z_score=dec.z_score,
                fixed_draw_bias2=fixed_dec.bias2,
                fixed_draw_mse=fixed_dec.mse,
            )
        )
    for a in (x_test, f_test, y_fixed, preds):
        a.setflags(write=False)
    return BiasVarianceStudy(cfg, tuple(rows), x_test, f_test, y_fixed, preds)
