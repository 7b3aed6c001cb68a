"""Sweeps: one simulation per (policy, learners, K, distribution), with the closed forms beside them.

Examples
--------
>>> s = sweep(policies=["async", "sync"], learners=[2, 4], dists=["exp"], updates=2000, seed=0)
>>> [(r.policy, r.learners, r.k) for r in s.rows]
[('async', 2, 1), ('async', 4, 1), ('sync', 2, 2), ('sync', 4, 4)]
>>> [round(r.theory_time_per_update, 4) for r in s.rows]  # 1/2, 1/4, H_2 = 3/2, H_4 = 25/12
[0.5, 0.25, 1.5, 2.0833]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dlperf.errors import ArgumentError
from dlperf.results import Result
from staleness.config import SimConfig
from staleness.simulation import simulate

__all__ = ["SweepRow", "SweepResult", "sweep", "sweep_configs"]

_K_POLICIES = ("k-sync", "k-batch-sync", "k-async", "k-batch-async")


@dataclass(frozen=True)
class SweepRow:
    """One configuration's steady-state figures and, where one exists, the closed form (else NaN)."""

    policy: str
    learners: int
    k: int
    dist: str
    mean_staleness: float
    p95_staleness: float
    max_staleness: float
    time_per_update: float
    updates_per_time: float
    mean_utilisation: float
    theory_time_per_update: float
    theory_mean_staleness: float
    window: str
    engine: str


@dataclass(frozen=True, repr=False)
class SweepResult(Result):
    """All rows of a sweep, in (policy, dist, K, learners) order."""

    rows: tuple[SweepRow, ...]
    updates: int
    seed: int
    unit: str = "s"


def sweep_configs(policies: Sequence[str], learners: Sequence[int], ks: Sequence[int] = (1,),
                  dists: Sequence[str] = ("exp",), updates: int = 10_000, seed: int = 0,
                  bound: int | None = None, **system) -> list[SimConfig]:
    """The configurations of a sweep: K only varies for the k-* policies; K > P is skipped."""
    cfgs = []
    for policy in policies:
        for dist in dists:
            for k in ks if policy in _K_POLICIES else (None,):
                for p in learners:
                    if k is not None and k > p:
                        continue
                    cfgs.append(SimConfig(learners=p, policy=policy, k=k, dist=dist, updates=updates, seed=seed,
                                          bound=bound if policy == "ssp" else None, **system))
    if not cfgs:
        raise ArgumentError("k", list(ks), "no configuration has K <= P", what=f"got {list(ks)!r} with learners {list(learners)}")
    return cfgs


def sweep(policies: Sequence[str], learners: Sequence[int], ks: Sequence[int] = (1,),
          dists: Sequence[str] = ("exp",), updates: int = 10_000, seed: int = 0, bound: int | None = None,
          progress: Callable[[SimConfig], None] | None = None, **system) -> SweepResult:
    """Simulate every configuration of :func:`sweep_configs` and pair it with the closed forms."""
    from staleness.theory import theory

    rows = []
    for cfg in sweep_configs(policies, learners, ks, dists, updates, seed, bound, **system):
        res = simulate(cfg, stream=True)
        s = res.summary
        th = theory(cfg.policy, cfg.learners, cfg.k, cfg.dist, cfg.mean, cfg.shape, cfg.bound)
        t, m = th.get("time_per_update"), th.get("staleness_mean")
        homogeneous = cfg.zero_latency and all(x == 1.0 for x in cfg._speeds)
        rows.append(SweepRow(
            cfg.policy, cfg.learners, cfg.effective_k, cfg.dist, s.mean_staleness, s.p95_staleness,
            s.max_staleness, s.time_per_update, s.updates_per_time, s.mean_utilisation,
            t.value if t is not None and homogeneous else math.nan,
            m.value if m is not None and homogeneous else math.nan, s.window, res.engine,
        ))
        if progress is not None:
            progress(cfg)
    return SweepResult(tuple(rows), updates, seed, system.get("unit", "s"))
