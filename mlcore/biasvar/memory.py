"""Memory a bias-variance study will need, checked before anything large is allocated.

The study holds every data set at once (the fits are batched), so memory grows as data sets x pool
(the sampling keys), data sets x points x degree (the Vandermonde stack and its QR) and degrees x data
sets x test points (the predictions). :func:`estimate_study_bytes` adds the arrays that are alive at
the same time in each phase, in float64 (8 bytes) and longdouble (``np.longdouble().itemsize``, the
ridge refinement), and takes the larger phase; :func:`check_memory` refuses a study whose estimate
exceeds the memory available now, unless forced.

Examples
--------
>>> from mlcore.biasvar.study import BiasVarianceConfig
>>> estimate_study_bytes(BiasVarianceConfig()) < 50 * 2**20   # the seed's study: well under 50 MiB
True
"""

from __future__ import annotations

import numpy as np

from dlperf.errors import ArgumentError, ref
from dlperf.resources import available_memory_bytes
from mlcore.biasvar.study import BiasVarianceConfig

__all__ = ["estimate_study_bytes", "available_memory_bytes", "check_memory", "format_bytes"]

_F8 = 8


def estimate_study_bytes(cfg: BiasVarianceConfig) -> int:
    """Peak bytes of :func:`~mlcore.biasvar.study.bias_variance_study` for ``cfg`` (an upper estimate).

    Sampling: random keys and their argsort, D x (pool - T) each, beside the data. Fitting (least squares):
    the Legendre-Vandermonde stack, LAPACK's copy of it and Q (D x n x M each, M = max degree + 1), R and
    a solve (D x M x M), and the predictions (K x D x T). Ridge, per degree: five longdouble feature
    stacks (D x n x M), two evaluation stacks (D x T x M), the augmented matrix and its copy
    (D x (n + M) x M) and R. Decomposition: a few D x T arrays. Checked against ``tracemalloc``'s peak
    in the tests (within -20 % .. +50 % for studies above 10 MiB).
    """
    d, n, t, k = cfg.n_datasets, cfg.train_size, cfg.test_size, len(cfg.degrees)
    m = max(cfg.degrees) + 1
    data = _F8 * d * (3 * n + t)  # x_train, y_train, the noise draw, fresh test targets
    sampling = 2 * _F8 * d * (cfg.pool_size - t)
    predictions = _F8 * k * d * t
    if cfg.ridge_alpha is None:  # V, LAPACK's copy of it, Q; R and one triangular solve
        fitting = 3 * _F8 * d * n * m + 2 * _F8 * d * m * m
    else:  # f, fc, z and two temporaries; two evaluation stacks; the augmented matrix, its copy, R
        ld = np.dtype(np.longdouble).itemsize
        fitting = 5 * ld * d * n * m + 2 * ld * d * t * m + 2 * _F8 * d * (n + m) * m + _F8 * d * m * m
    decomposition = 6 * _F8 * d * t
    return int(data + max(sampling, fitting + predictions + decomposition))


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``.

    >>> format_bytes(3 * 2**30)
    '3.0 GiB'
    """
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(cfg: BiasVarianceConfig, force: bool = False, available: int | None = None) -> int:
    """Return the estimate; raise ``ValueError`` (one line: the estimate, what is available, the way out)
    when it exceeds the available memory and ``force`` is False. ``available`` defaults to
    :func:`available_memory_bytes` (a study is never refused when that is unknown)."""
    need = estimate_study_bytes(cfg)
    have = available_memory_bytes() if available is None else available
    if not force and have is not None and need > have:
        raise ArgumentError(
            ("n_datasets", "degrees", "test_size"),
            what=f"this study needs about {format_bytes(need)} but {format_bytes(have)} is available "
            f"({cfg.n_datasets} data sets x {len(cfg.degrees)} degrees x {cfg.test_size} test points)",
            fix=f"ask for fewer, or give {ref('force')} to try anyway",
        )
    return need
