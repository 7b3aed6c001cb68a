"""Monte Carlo against the closed forms: every formula of :mod:`staleness.theory` over a grid of cases.

For each case one long run is simulated; each quantity is estimated over the steady-state window
(:class:`staleness.Summary`) with a confidence interval from batch means: the window's sequence
(time between updates, or each gradient's staleness, or an indicator) is cut into B equal batches;
the interval is mean +- t_{B-1, 1-(1-c)/2} * sd(batch means) / sqrt(B). Batches absorb the correlation
between neighbouring updates. The async-over-sync speed-up pairs the async run with a sync run of the
same learners and distribution (delta method on the ratio). A check passes when the closed form lies
in the interval (plus 1e-9 relative, for rounding in deterministic cases whose interval is empty).

Examples
--------
>>> v = validate([Case("k-sync", 4, 2, "exp")], updates=2000, seed=1)
>>> [(c.quantity, c.ok) for c in v.checks]
[('time_per_update', True), ('staleness_mean', True)]
>>> round(v.checks[0].theory, 6)  # (H_4 - H_2) / 1 = 1/3 + 1/4
0.583333
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlperf.errors import ArgumentError
from dlperf.results import Result
from dlperf.validate import check_int
from staleness.config import SimConfig
from staleness.simulation import simulate
from staleness.theory import theory

__all__ = ["Case", "Check", "PolicyChecks", "Validation", "validate", "batch_means_ci", "t_quantile", "DEFAULT_GRID"]


@dataclass(frozen=True)
class Case:
    """One point of the grid: policy, learners P, K (None: the policy's own), distribution, mean, shape,
    and the staleness bound of ssp."""

    policy: str
    learners: int
    k: int | None = None
    dist: str = "exp"
    mean: float = 1.0
    shape: float | None = None
    bound: int | None = None

    @property
    def label(self) -> str:
        k = "" if self.k is None else f", K={self.k}"
        s = "" if self.bound is None else f", s={self.bound}"
        return f"{self.policy} (P={self.learners}{k}{s}, {self.dist})"


#: The default grid: every closed form, each distribution where a formula holds for it.
DEFAULT_GRID = (
    Case("async", 4, None, "exp"), Case("async", 16, None, "exp"), Case("async", 8, None, "uniform"),
    Case("async", 8, None, "lognormal"), Case("async", 8, None, "pareto"), Case("async", 8, None, "constant"),
    Case("async", 8, None, "shifted-exp"),
    Case("k-batch-async", 8, 2, "exp"), Case("k-batch-async", 8, 4, "exp"), Case("k-batch-async", 8, 4, "uniform"),
    Case("sync", 8, None, "exp"), Case("sync", 8, None, "shifted-exp"),
    Case("k-sync", 8, 4, "exp"), Case("k-sync", 8, 2, "shifted-exp"), Case("k-sync", 8, 6, "uniform"),
    Case("k-sync", 4, 2, "constant"),
    Case("k-batch-sync", 8, 4, "exp"), Case("k-batch-sync", 4, 2, "exp"),
    Case("k-sync", 8, 4, "pareto"), Case("sync", 4, None, "pareto"),
    Case("k-async", 8, 2, "exp"), Case("k-async", 8, 4, "exp"), Case("k-async", 8, 3, "pareto"),
    Case("k-async", 8, 3, "uniform"), Case("k-batch-async", 8, 3, "lognormal"),
    Case("ssp", 8, None, "exp", bound=0), Case("ssp", 4, None, "uniform", bound=0),
    Case("ssp", 8, None, "pareto", bound=0), Case("ssp", 4, None, "constant", bound=0),
)


@dataclass(frozen=True)
class Check:
    """Simulation against one closed form: ``ok`` when ``theory`` is within ``estimate +- half_width``."""

    case: Case
    quantity: str
    formula: str
    theory: float
    estimate: float
    half_width: float
    ok: bool

    @property
    def distance(self) -> float:
        """``|estimate - theory|`` in half-widths: at most 1 inside the interval (a zero-width interval, as
        under constant times: 0 when ``ok``, else infinity)."""
        if self.half_width > 0:
            return abs(self.estimate - self.theory) / self.half_width
        return 0.0 if self.ok else math.inf


@dataclass(frozen=True)
class PolicyChecks:
    """The checks of one policy's cases: how many cases and checks, how many within their interval, and
    the largest :attr:`Check.distance`."""

    policy: str
    cases: int
    checks: int
    within: int
    worst: float


@dataclass(frozen=True, repr=False)
class Validation(Result):
    """All checks of one :func:`validate` call."""

    _table_field = "checks"

    checks: tuple[Check, ...]
    updates: int
    seed: int
    confidence: float
    batches: int

    @property
    def all_ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def by_policy(self) -> tuple[PolicyChecks, ...]:
        """One :class:`PolicyChecks` per policy, in the order the grid first names it.

        Examples
        --------
        >>> c = Case("sync", 4)
        >>> v = Validation((Check(c, "time_per_update", "m", 2.0, 2.1, 0.2, True),
        ...                 Check(c, "staleness_mean", "0", 0.0, 0.0, 0.0, True)), 1000, 0, 0.999, 32)
        >>> [(p.policy, p.cases, p.checks, p.within, round(p.worst, 3)) for p in v.by_policy()]
        [('sync', 1, 2, 2, 0.5)]
        """
        groups: dict[str, list[Check]] = {}
        for check in self.checks:
            groups.setdefault(check.case.policy, []).append(check)
        return tuple(PolicyChecks(policy, len({c.case for c in checks}), len(checks), sum(c.ok for c in checks),
                                  max(c.distance for c in checks)) for policy, checks in groups.items())


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (bisection on the exact CDF via mpmath).

    For ``df > 1000`` the normal quantile is returned (it differs from t's by < 0.5% there).

    >>> round(t_quantile(0.975, 10), 4), round(t_quantile(0.9995, 31), 3)
    (2.2281, 3.633)
    """
    import mpmath

    if df > 1000:
        from statistics import NormalDist

        return NormalDist().inv_cdf(p)

    def cdf(t: float) -> float:
        tail = 0.5 * float(mpmath.betainc(df / 2.0, 0.5, 0, df / (df + t * t), regularized=True))
        return 1.0 - tail if t >= 0 else tail

    lo, hi = -1e3, 1e3
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return 0.5 * (lo + hi)


def batch_means_ci(x: np.ndarray, batches: int = 32, confidence: float = 0.999) -> tuple[float, float, float]:
    """(mean, half-width, variance of the mean) of sequence ``x`` by ``batches`` batch means."""
    n = len(x) // batches * batches
    if n < batches or batches < 2:
        raise ArgumentError("updates", len(x), "simulate longer", what=f"got {len(x)!r} samples in the window for {batches} batches")
    means = np.asarray(x[:n], dtype=float).reshape(batches, -1).mean(axis=1)
    var_mean = float(means.var(ddof=1)) / batches
    half = t_quantile(1 - (1 - confidence) / 2, batches - 1) * math.sqrt(var_mean)
    return float(means.mean()), half, var_mean


def _series(res, quantity: str, target: float) -> np.ndarray:
    s = res.summary
    g = res.gradients
    if quantity == "time_per_update":
        return np.diff(np.concatenate([[0.0], res.update_times]))[s.warmup_updates:]
    stale = g.staleness[g.applied & (g.update > s.warmup_updates)]
    if quantity == "staleness_mean":
        return stale
    if quantity == "staleness_var":
        return (stale - target) ** 2
    if quantity.startswith("staleness_pmf_"):
        return (stale == int(quantity.rsplit("_", 1)[1])).astype(float)
    raise ArgumentError("quantity", quantity, "no estimator for it")


def validate(grid: Sequence[Case] = DEFAULT_GRID, updates: int = 20_000, seed: int = 0,
             confidence: float = 0.999, batches: int = 32,
             progress: Callable[[Case], None] | None = None) -> Validation:
    """Simulate each case of ``grid`` for ``updates`` updates and check every closed form that applies.

    ``progress(case)`` is called after each case (for a progress bar).
    """
    if not 0.5 <= confidence <= 1 - 1e-12:  # below 0.5 an interval shrinks to a point and every check fails
        raise ArgumentError("confidence", confidence, "give a level in [0.5, 1 - 1e-12], e.g. 0.999")
    if not isinstance(batches, int) or batches < 2:
        raise ArgumentError("batches", batches, "give an integer >= 2 (32 is a good choice)")
    check_int("seed", seed, minimum=0)  # case n simulates with seed + n: refused before any case runs
    checks = []
    for n, case in enumerate(grid):
        th = theory(case.policy, case.learners, case.k, case.dist, case.mean, case.shape, case.bound)
        cfg = SimConfig(learners=case.learners, policy=case.policy, k=case.k, dist=case.dist, mean=case.mean,
                        shape=case.shape, bound=case.bound, updates=updates, seed=seed + n)
        res = simulate(cfg)
        for f in th.formulas:
            if f.quantity == "speedup_async_over_sync":
                sync = simulate(SimConfig(learners=case.learners, policy="sync", dist=case.dist, mean=case.mean,
                                          shape=case.shape, updates=updates, seed=seed + 1000 + n))
                a, _, va = batch_means_ci(_series(res, "time_per_update", 0.0), batches, confidence)
                b, _, vb = batch_means_ci(_series(sync, "time_per_update", 0.0), batches, confidence)
                est = b / a
                half = t_quantile(1 - (1 - confidence) / 2, batches - 1) * est * math.sqrt(va / a**2 + vb / b**2)
            else:
                mean_f = th.get("staleness_mean")  # staleness_var is E[(tau - mean)^2] about the closed-form mean
                target = mean_f.value if mean_f is not None else 0.0
                est, half, _ = batch_means_ci(_series(res, f.quantity, target), batches, confidence)
            ok = abs(est - f.value) <= half + 1e-9 * max(1.0, abs(f.value))
            checks.append(Check(case, f.quantity, f.formula, f.value, est, half, ok))
        if progress is not None:
            progress(case)
    return Validation(tuple(checks), updates, seed, confidence, batches)
