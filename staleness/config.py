"""Simulation configuration: one frozen, validated value object for every way to run the simulator.

Every check a user can trip lives here, so notebooks and the command line get the same one-line
messages. They speak of parameters (``learners: got 0; give an integer >= 1``); the command line
shows the same message with its flag (``--learners: got 0; ...``).

Examples
--------
>>> cfg = SimConfig(learners=4, policy="k-sync", k=2, dist="exp", mean=1.0, updates=10)
>>> cfg.effective_k, cfg.learners
(2, 4)
>>> SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]).learners
2
>>> SimConfig(learners=0, updates=5)
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: learners: got 0; give an integer >= 1
>>> SimConfig(learners=4, policy="k-sync", updates=5)
Traceback (most recent call last):
...
dlperf.errors.ArgumentError: k: missing for policy k-sync; give an integer 1 <= k <= 4
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

from dlperf.errors import ArgumentError, ref

__all__ = ["SimConfig", "POLICIES", "DISTS", "TIE_BREAKS", "DEFAULT_SHAPE", "UNITS"]

#: Server policies (see docs/staleness.md and the module docstring of :mod:`staleness._event_system`).
POLICIES = ("async", "sync", "k-sync", "k-batch-sync", "k-async", "k-batch-async", "ssp")
#: Compute-time distributions; every one is parameterised by its mean (and ``shape``, see DEFAULT_SHAPE).
DISTS = ("constant", "exp", "shifted-exp", "uniform", "lognormal", "pareto")
#: Order of gradient pushes that reach the server at the same instant.
TIE_BREAKS = ("fifo", "learner", "random")
#: What ``shape`` means per distribution, and its default.
#: shifted-exp: shift / mean in [0, 1); uniform: half-width / mean in [0, 1]; lognormal: sigma > 0 of
#: log X; pareto: tail index alpha > 1 (Pareto type I).
DEFAULT_SHAPE = {"shifted-exp": 0.5, "uniform": 1.0, "lognormal": 0.5, "pareto": 3.0}

_K_POLICIES = ("k-sync", "k-batch-sync", "k-async", "k-batch-async")
#: Time units a run may be expressed in (a label: the simulator computes in whatever unit it is given).
UNITS = ("s", "ms", "us")


#: Times (mean, traces, latencies, apply time, until) and speed factors are 0 or inside this range, so that
#: sums over 10^12 pushes and products of two stay finite and a time over a speed is never subnormal.
FINITE_RANGE = (1e-100, 1e100)
#: Largest lognormal sigma: the mean is exp(sigma^2 / 2) = 2.7e5 times the median at 5; beyond, a run's
#: windows cover almost nothing and its cost grows without a practical bound (sigma 7: 35 s for 10^4 updates).
MAX_LOGNORMAL_SIGMA = 5.0
#: Largest apply time or latency, in mean compute times (a float has 16 digits: the clock must still advance).
MAX_TIME_RATIO = 1e9


def _is_number(x: object) -> bool:
    return (isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))
            and (float(x) == 0 or FINITE_RANGE[0] <= abs(float(x)) <= FINITE_RANGE[1]))


def _per_learner(name: str, value: float | Sequence[float], learners: int) -> tuple[float, ...]:
    if _is_number(value):  # one value for everyone: check it once (P may be 10^7)
        if float(value) < 0:  # type: ignore[arg-type]
            raise ArgumentError(name, value, "give 0 or a number in [1e-100, 1e100]")
        return (float(value),) * learners  # type: ignore[arg-type]
    if isinstance(value, numbers.Real):  # nan, inf or a bool: one value, not a list
        raise ArgumentError(name, value, "give 0 or a number in [1e-100, 1e100]")
    values = list(value)  # type: ignore[arg-type]
    if len(values) != learners:
        raise ArgumentError(name, what=f"got {len(values)} values for {learners} learners",
                            fix="give one value or one per learner")
    out = []
    for v in values:
        if not _is_number(v) or float(v) < 0:
            raise ArgumentError(name, v, "give 0 or a number in [1e-100, 1e100]")
        out.append(float(v))
    return tuple(out)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate: learners, server policy, compute times, latencies, stopping rule, seed.

    Parameters
    ----------
    learners : int
        Number of learners P (>= 1). With ``times`` it follows from the traces and may be left at None.
    policy : str
        One of :data:`POLICIES`. ``async`` is ``k-batch-async`` with K = 1; ``sync`` is ``k-sync`` with K = P.
    k : int or None
        K of the ``k-*`` policies (1 <= K <= P), required there. async and ssp use K = 1 and sync K = P
        (None or that value).
    bound : int or None
        Staleness bound s of ``ssp`` (required there): a learner may be at most s clocks ahead of the slowest.
    dist, mean, shape : str, float, float or None
        Compute-time distribution (:data:`DISTS`), its mean in seconds and its shape parameter
        (:data:`DEFAULT_SHAPE`; None = default; must be None for ``constant`` and ``exp``).
    times : sequence of sequences of float, optional
        Explicit traces: ``times[i][j]`` is learner i's j-th compute time. Replaces ``dist``; the run ends
        when the traces are used up (or at ``updates`` / ``until``).
    speeds : float or sequence of float
        Speed factor per learner: a drawn compute time is divided by it (2.0 = twice as fast).
    pull_latency, push_latency : float or sequence of float
        Seconds per learner for the parameters to reach the learner and the gradient to reach the server.
    apply_time : float
        Seconds the server needs for one update (updates are applied one at a time).
    updates, until : int or float, optional
        Stop after ``updates`` server updates, or at simulated time ``until`` (at most one of them).
    seed : int
        Seed of the per-learner random streams (same seed, same trace).
    unit : str
        The time unit of every time given and reported (:data:`UNITS`): a label for tables, JSON and plots.
    tie_break : str
        ``fifo`` (default): of pushes arriving at the same instant, the one whose computation was
        scheduled first goes first (then the lower learner index); ``learner``: lower learner index first;
        ``random``: a uniform key drawn per gradient from the learner's own stream.
    """

    learners: int | None = None
    policy: str = "async"
    k: int | None = None
    bound: int | None = None
    dist: str = "exp"
    mean: float = 1.0
    shape: float | None = None
    times: Sequence[Sequence[float]] | None = None
    speeds: float | Sequence[float] = 1.0
    pull_latency: float | Sequence[float] = 0.0
    push_latency: float | Sequence[float] = 0.0
    apply_time: float = 0.0
    updates: int | None = None
    until: float | None = None
    seed: int = 0
    tie_break: str = "fifo"
    unit: str = "s"
    _speeds: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _pull: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _push: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if self.times is not None:
            traces = self._check_traces(self.times)
            put(self, "times", traces)
            if self.learners is not None and self.learners != len(traces):
                raise ArgumentError("learners", self.learners, "leave it out: the traces give the learners",
                                    what=f"got {self.learners} but {ref('times')} has {len(traces)} traces")
            put(self, "learners", len(traces))
        if self.learners is None:
            raise ArgumentError("learners", what="missing", fix=f"give an integer >= 1 (or traces in {ref('times')})")
        if not isinstance(self.learners, int) or isinstance(self.learners, bool) or self.learners < 1:
            raise ArgumentError("learners", self.learners, "give an integer >= 1")
        if self.policy not in POLICIES:
            raise ArgumentError("policy", self.policy, f"choose one of {', '.join(POLICIES)}")
        self._check_k()
        self._check_bound()
        if self.times is None:
            self._check_dist()
        if self.tie_break not in TIE_BREAKS:
            raise ArgumentError("tie_break", self.tie_break, f"choose one of {', '.join(TIE_BREAKS)}")
        speeds = _per_learner("speeds", self.speeds, self.learners)
        if any(s <= 0 for s in speeds):
            raise ArgumentError("speeds", list(speeds), "give factors in [1e-100, 1e100]")
        if self.times is not None and any(s != 1.0 for s in speeds):
            raise ArgumentError("speeds", what=f"traces ({ref('times')}) are already per learner", fix="leave it out (1.0)")
        put(self, "_speeds", speeds)
        put(self, "_pull", _per_learner("pull_latency", self.pull_latency, self.learners))
        put(self, "_push", _per_learner("push_latency", self.push_latency, self.learners))
        if not _is_number(self.apply_time) or self.apply_time < 0:
            raise ArgumentError("apply_time", self.apply_time, "give 0 or a number in [1e-100, 1e100]")
        if self.times is None:  # the clock must still move by a compute time after the slowest step
            for name, values in (("apply_time", (self.apply_time,)), ("pull_latency", self._pull),
                                 ("push_latency", self._push)):
                if max(values) > MAX_TIME_RATIO * self.mean:
                    raise ArgumentError(name, max(values), f"give at most {MAX_TIME_RATIO * self.mean:g} or a larger "
                                        f"{ref('mean')}", what=f"got {max(values)!r}, more than {MAX_TIME_RATIO:g} "
                                        f"times the mean compute time {self.mean!r}: the simulated clock would stop "
                                        "moving (t + mean == t)")
        self._check_stop()
        if self.unit not in UNITS:
            raise ArgumentError("unit", self.unit, f"choose one of {', '.join(UNITS)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ArgumentError("seed", self.seed, "give an integer >= 0")

    @staticmethod
    def _check_traces(times: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
        if isinstance(times, (str, bytes)) or len(times) == 0:
            raise ArgumentError("times", what="got no traces", fix="give one comma-separated list per learner")
        traces = []
        for i, trace in enumerate(times):
            if isinstance(trace, (str, bytes)) or len(trace) == 0:
                raise ArgumentError("times", what=f"trace {i + 1} is empty", fix="give at least one compute time")
            for x in trace:
                if not _is_number(x) or float(x) < 0:
                    raise ArgumentError("times", x, "give 0 or numbers in [1e-100, 1e100]", what=f"got {x!r} in trace {i + 1}")
            traces.append(tuple(float(x) for x in trace))
        return tuple(traces)

    def _check_k(self) -> None:
        if self.k is None:
            if self.policy in _K_POLICIES:
                raise ArgumentError("k", what=f"missing for policy {self.policy}", fix=f"give an integer 1 <= k <= {self.learners}")
            return
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise ArgumentError("k", self.k, "give an integer >= 1")
        if self.policy in _K_POLICIES and self.k > self.learners:
            raise ArgumentError("k", self.k, "give 1 <= K <= P", what=f"got {self.k!r} > {self.learners} learners")
        if self.policy in ("async", "ssp") and self.k != 1:
            raise ArgumentError("k", self.k, f"use {ref('policy')} k-batch-async", what=f"got {self.k!r} with policy {self.policy} (K = 1)")
        if self.policy == "sync" and self.k != self.learners:
            raise ArgumentError("k", self.k, f"use {ref('policy')} k-sync", what=f"got {self.k!r} with policy sync (K = P = {self.learners})")

    def _check_bound(self) -> None:
        if self.policy == "ssp":
            if self.bound is None:
                raise ArgumentError("bound", what="missing for policy ssp", fix="give the staleness bound s (integer >= 0)")
            if not isinstance(self.bound, int) or isinstance(self.bound, bool) or self.bound < 0:
                raise ArgumentError("bound", self.bound, "give an integer >= 0")
        elif self.bound is not None:
            raise ArgumentError("bound", what=f"given with policy {self.policy}", fix=f"it only applies to {ref('policy')} ssp")

    def _check_dist(self) -> None:
        if self.dist not in DISTS:
            raise ArgumentError("dist", self.dist, f"choose one of {', '.join(DISTS)}")
        if not _is_number(self.mean) or self.mean <= 0:
            raise ArgumentError("mean", self.mean, "give a number in [1e-100, 1e100]")
        if self.shape is None:
            return
        if self.dist not in DEFAULT_SHAPE:
            raise ArgumentError("shape", self.shape, "leave it out", what=f"got {self.shape!r} for dist {self.dist}, which has no shape")
        s = self.shape
        ok = _is_number(s) and {
            "shifted-exp": lambda: 0 <= s < 1,
            "uniform": lambda: 0 <= s <= 1,
            "lognormal": lambda: 0 < s <= MAX_LOGNORMAL_SIGMA,
            "pareto": lambda: s > 1,
        }[self.dist]()
        if not ok:
            need = {"shifted-exp": "0 <= shift/mean < 1", "uniform": "0 <= half-width/mean <= 1",
                    "lognormal": f"0 < sigma <= {MAX_LOGNORMAL_SIGMA:g} (beyond, the mean is more than "
                    "exp(12.5) times the median and a run's cost has no practical bound)", "pareto": "alpha > 1 (finite mean)"}[self.dist]
            raise ArgumentError("shape", s, f"give {need}", what=f"got {s!r} for dist {self.dist}")

    def _check_stop(self) -> None:
        if self.updates is not None and self.until is not None:
            raise ArgumentError(("updates", "until"), what="got both", fix="give one stopping rule")
        if self.updates is not None and (
            not isinstance(self.updates, int) or isinstance(self.updates, bool) or self.updates < 1
        ):
            raise ArgumentError("updates", self.updates, "give an integer >= 1")
        if self.until is not None and (not _is_number(self.until) or self.until < 0):
            raise ArgumentError("until", self.until, "give 0 or a time in [1e-100, 1e100]")
        if self.times is None and self.updates is None and self.until is None:
            raise ArgumentError(("updates", "until"), what="missing",
                                fix="random compute times never run out; give a stopping rule")

    @property
    def effective_k(self) -> int:
        """The K the server uses: 1 for async and ssp, P for sync, ``k`` otherwise."""
        if self.policy == "sync":
            return self.learners  # type: ignore[return-value]
        if self.policy in ("async", "ssp"):
            return 1
        return 1 if self.k is None else self.k

    @property
    def effective_shape(self) -> float | None:
        """``shape`` with the distribution's default filled in (None for constant / exp / traces)."""
        if self.times is not None or self.dist not in DEFAULT_SHAPE:
            return None
        return DEFAULT_SHAPE[self.dist] if self.shape is None else float(self.shape)

    @property
    def zero_latency(self) -> bool:
        """True when pulls, pushes and updates take no time (the setting of the closed forms)."""
        return self.apply_time == 0 and not any(self._pull) and not any(self._push)

    def to_dict(self) -> dict:
        """Plain-JSON view (effective K and shape included)."""
        return {
            "learners": self.learners, "policy": self.policy, "k": self.effective_k, "bound": self.bound,
            "dist": None if self.times is not None else self.dist,
            "mean": None if self.times is not None else self.mean,
            "shape": self.effective_shape,
            "times": None if self.times is None else [list(t) for t in self.times],
            "speeds": list(self._speeds), "pull_latency": list(self._pull), "push_latency": list(self._push),
            "apply_time": self.apply_time, "updates": self.updates, "until": self.until, "seed": self.seed,
            "tie_break": self.tie_break, "unit": self.unit,
        }
