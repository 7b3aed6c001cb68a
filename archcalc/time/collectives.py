"""Ring collectives in the alpha-beta model: ``n`` ranks, ``size`` bytes per rank, link bandwidth ``B``
(bytes/s, one direction), latency ``alpha`` (seconds per step).

- all-reduce (reduce-scatter, then all-gather): ``2 (n - 1) / n * size / B + 2 (n - 1) alpha``;
- all-gather and reduce-scatter: ``(n - 1) / n * size / B + (n - 1) alpha`` (``size``: the full tensor).

One rank (``n = 1``) communicates nothing: 0 s. The arithmetic is plain, so exact ``Fraction`` inputs give
exact results.

Examples
--------
>>> from fractions import Fraction
>>> ring_all_reduce(Fraction(10**9), 8, Fraction(450 * 10**9))   # 2 * 7/8 * 1e9 / 450e9 = 7/1800 s
Fraction(7, 1800)
>>> ring_all_gather(10**9, 1, 450e9)
0
"""

from __future__ import annotations

from typing import Any

from dlperf.errors import ArgumentError
from dlperf.validate import check_int

__all__ = ["ring_all_reduce", "ring_all_gather", "ring_reduce_scatter"]


def _steps(ranks: int, size: Any, bandwidth: Any, alpha: Any) -> None:
    check_int("ranks", ranks)
    if not size >= 0:
        raise ArgumentError("size", size, "give the bytes each rank holds (>= 0)")
    if not bandwidth > 0 or not alpha >= 0:
        raise ArgumentError(("bandwidth", "alpha"), (bandwidth, alpha), "give a positive bandwidth and alpha >= 0")


def ring_all_reduce(size: Any, ranks: int, bandwidth: Any, alpha: Any = 0) -> Any:
    """Seconds of a ring all-reduce of ``size`` bytes over ``ranks`` ranks."""
    _steps(ranks, size, bandwidth, alpha)
    if ranks == 1:
        return 0
    return 2 * (ranks - 1) * size / (ranks * bandwidth) + 2 * (ranks - 1) * alpha


def ring_all_gather(size: Any, ranks: int, bandwidth: Any, alpha: Any = 0) -> Any:
    """Seconds of a ring all-gather whose gathered tensor has ``size`` bytes."""
    _steps(ranks, size, bandwidth, alpha)
    if ranks == 1:
        return 0
    return (ranks - 1) * size / (ranks * bandwidth) + (ranks - 1) * alpha


def ring_reduce_scatter(size: Any, ranks: int, bandwidth: Any, alpha: Any = 0) -> Any:
    """Seconds of a ring reduce-scatter of a ``size``-byte tensor (each rank keeps ``1 / ranks``)."""
    return ring_all_gather(size, ranks, bandwidth, alpha)
