"""Result objects of a simulation: columnar per-gradient records, the steady-state summary.

The records are columns (numpy arrays, read-only), one entry per gradient in the order the server
applied or discarded them. Row r describes gradient ``g[L{learner+1},{index+1}]``:

- ``learner``, ``index``: who computed it, and it was that learner's ``index``-th gradient (0-based);
- ``read_time``, ``read_version``: when the learner's parameters were fixed for it, and their version;
- ``compute_start``: when the learner started computing it (``read_time`` + pull latency, or
  ``read_time`` for a k-batch-sync continuation); ``compute_time``: seconds it spent on it (up to
  the discard for a discarded one); ``push_time``: when it reached the server;
- ``apply_time``: when the update using it finished (for a discarded gradient: when it was discarded);
- ``version_before_apply``: server version just before that update (for a discarded one: at discard);
- ``staleness`` = ``version_before_apply - read_version``;
- ``applied``: False when the server discarded it (k-sync / k-batch-sync stragglers);
- ``update``: the version the server produced with it (``version_before_apply + 1``), -1 if discarded.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> res = simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]]))
>>> [res.gradients.name(r) for r in range(len(res.gradients))]
['g[L1,1]', 'g[L1,2]', 'g[L2,1]', 'g[L1,3]', 'g[L1,4]', 'g[L2,2]']
>>> res.gradients.staleness.tolist()
[0, 0, 2, 1, 0, 2]
>>> [res.gradients.name(r) for r in res.gradients.intervening(5)]
['g[L1,3]', 'g[L1,4]']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from dlperf.errors import ArgumentError
from dlperf.results import Result
from staleness.config import SimConfig

__all__ = ["Gradients", "Summary", "SimulationResult", "summarize", "steady_state_warmup"]

#: JSON rows list the gradients in between ("between") for runs up to this many gradients.
BETWEEN_MAX_GRADIENTS = 10_000
_INT_COLUMNS = ("learner", "index", "read_version", "version_before_apply", "staleness", "update")
_FLOAT_COLUMNS = ("read_time", "compute_start", "push_time", "compute_time", "apply_time")


@dataclass(frozen=True, repr=False)
class Gradients(Result):
    """Columnar per-gradient records (read-only numpy arrays of equal length); see the module docstring."""

    _table_columns = ("learner", "index", "read_time", "read_version", "compute_start", "push_time",
                      "compute_time", "apply_time", "version_before_apply", "staleness", "applied", "update")

    learner: np.ndarray
    index: np.ndarray
    read_time: np.ndarray
    read_version: np.ndarray
    compute_start: np.ndarray
    push_time: np.ndarray
    compute_time: np.ndarray
    apply_time: np.ndarray
    version_before_apply: np.ndarray
    staleness: np.ndarray
    applied: np.ndarray
    update: np.ndarray

    @classmethod
    def from_columns(cls, **cols) -> Gradients:
        """Build from array-likes, fixing dtypes (int64 / float64 / bool) and making them read-only."""
        out = {}
        for f in fields(cls):
            dtype = np.int64 if f.name in _INT_COLUMNS else bool if f.name == "applied" else np.float64
            arr = np.ascontiguousarray(cols[f.name], dtype=dtype)
            arr.setflags(write=False)
            out[f.name] = arr
        return cls(**out)

    def __len__(self) -> int:
        return len(self.learner)

    def name(self, row: int) -> str:
        """Name of row ``row``: ``g[Li,j]`` with 1-based learner and gradient numbers."""
        return f"g[L{int(self.learner[row]) + 1},{int(self.index[row]) + 1}]"

    def intervening(self, row: int) -> list[int]:
        """Rows of the gradients whose updates came between row ``row``'s read and its own update.

        Those are the gradients that produced versions ``read_version + 1 .. version_before_apply``.
        """
        return self.intervening_all([row])[0]

    def intervening_all(self, rows=None) -> list[list[int]]:
        """:meth:`intervening` for each of ``rows`` (default: every row), sharing one index.

        Applied rows are in update order, so each answer is a slice found by binary search.
        """
        ok = np.flatnonzero(self.applied)
        upd = self.update[ok]
        rows = range(len(self)) if rows is None else rows
        lo = np.searchsorted(upd, self.read_version[list(rows)], side="right")
        hi = np.searchsorted(upd, self.version_before_apply[list(rows)], side="right")
        return [ok[a:b].tolist() if b > a else [] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Gradients):
            return NotImplemented
        return all(np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, repr=False)
class Summary(Result):
    """Steady-state statistics of one run.

    The staleness figures use the gradients applied in the window ``(warmup_updates, updates]``, i.e.
    updates ``warmup_updates + 1 .. updates`` (``window`` says it in words). The warm-up is
    max(10% of the updates, 10 * P) updates; runs shorter than twice that use every update. Gradients
    are grouped by the update that applied them, so gradients still in flight at the end (which would
    be the stalest) never enter; the first updates of a run are fresher than steady state (everyone
    starts on version 0), which is what the warm-up removes. ``mean_staleness_all`` is the plain mean
    over the whole run, for comparison. ``utilisation[i]`` is the share of ``end_time`` learner i spent
    computing, including work the server later discarded. The time series has one point per
    ``series_every`` updates: point i covers the gradients applied in updates up to ``series_update[i]``
    (after the previous point), ``series_time[i]`` is when that update finished and
    ``series_mean_staleness[i]`` their mean staleness (the warm-up included: it shows the warm-up).
    Staleness figures are exact: counts are integers, the mean and standard deviation come from exact
    sums (no rounding before the final division).
    """

    updates: int
    gradients_applied: int
    gradients_discarded: int
    end_time: float
    time_to_updates: float
    warmup_updates: int
    window: str
    mean_staleness: float
    std_staleness: float
    p50_staleness: float
    p95_staleness: float
    max_staleness: float
    histogram: tuple[int, ...]
    mean_staleness_all: float
    updates_per_time: float
    time_per_update: float
    updates_per_time_all: float
    utilisation: tuple[float, ...]
    mean_utilisation: float
    series_every: int = 1
    series_update: tuple[int, ...] = ()
    series_time: tuple[float, ...] = ()
    series_mean_staleness: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        """Plain-JSON view (NaN becomes None)."""
        out = {}
        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [clean(x) for x in v] if isinstance(v, tuple) else clean(v)
        return out


@dataclass(frozen=True, repr=False)
class SimulationResult(Result):
    """One simulation: its configuration, gradient records, update times and summary.

    ``update_times[v - 1]`` is the time version v was produced (v = 1 .. ``summary.updates``);
    ``inflight_busy[i]`` is the compute time learner i spent on gradients not in the records (still in
    flight or waiting in a server batch at the end); ``engine`` is ``"event"`` or ``"vectorised"``.
    A streamed run (``simulate(..., stream=True)``) keeps no records: ``gradients`` and ``update_times``
    are None and the summary (with its time series) is the result.
    """

    def _table(self) -> Any:
        """The gradient records (one row each); a streamed run's summary when it kept none."""
        return self.gradients._table() if self.gradients is not None else [self.summary.to_dict()]

    config: SimConfig
    gradients: Gradients | None
    update_times: np.ndarray | None
    end_time: float
    inflight_busy: np.ndarray
    summary: Summary
    engine: str

    def time_to(self, updates: int) -> float:
        """Time at which the server finished its ``updates``-th update (NaN, with a warning, if it never did).

        >>> from staleness import SimConfig, simulate
        >>> simulate(SimConfig(times=[[1, 1, 1, 1], [2.5, 2.5]])).time_to(3)
        2.5
        """
        if not isinstance(updates, int) or updates < 1:
            raise ArgumentError("updates", updates, "give an integer >= 1")
        if updates > len(self.update_times):
            import warnings

            warnings.warn(f"the run made only {len(self.update_times)} updates, not {updates}", stacklevel=2)
            return math.nan
        return float(self.update_times[updates - 1])

    def to_dict(self, gradients: bool = True) -> dict:
        """JSON-ready dict: ``config``, ``gradients`` (list of rows, unless ``gradients=False``; each row has
        ``between``, the names of the gradients whose updates came in between, in runs of at most
        :data:`BETWEEN_MAX_GRADIENTS` gradients), ``update_times``, ``summary``."""
        out: dict = {"config": self.config.to_dict(), "engine": self.engine,
                     "gradients_listed": bool(gradients and self.gradients is not None)}
        if gradients and self.gradients is not None:
            g = self.gradients
            cols = {f.name: getattr(g, f.name).tolist() for f in fields(g)}
            out["gradients"] = [
                {"name": g.name(r), **{k: v[r] for k, v in cols.items()}} for r in range(len(g))
            ]
            if len(g) <= BETWEEN_MAX_GRADIENTS:
                for row, between in zip(out["gradients"], g.intervening_all(), strict=True):
                    row["between"] = [g.name(x) for x in between]
        out["update_times"] = self.update_times.tolist() if out["gradients_listed"] else None
        out["summary"] = self.summary.to_dict()
        return out


def steady_state_warmup(updates: int, learners: int) -> int:
    """Updates dropped as warm-up: max(ceil(updates / 10), 10 * learners), or 0 if that leaves < half.

    >>> steady_state_warmup(100_000, 16), steady_state_warmup(50, 4)
    (10000, 0)
    """
    warm = max(math.ceil(updates / 10), 10 * learners)
    return 0 if 2 * warm > updates else warm


def _percentile(hist: np.ndarray, q: float) -> float:
    """The q-th percentile of integer data given by its histogram: the smallest s with F(s) >= q / 100.

    This is numpy's ``method="inverted_cdf"`` (tested against it), without sorting the data.
    """
    n = int(hist.sum())
    if n == 0:
        return math.nan
    cum = np.cumsum(hist)
    return float(np.searchsorted(cum, q / 100.0 * n, side="left"))


def summarize(cfg: SimConfig, g: Gradients, update_times: np.ndarray, end_time: float,
              inflight_busy: np.ndarray) -> Summary:
    """Summary statistics of a run kept in memory (see :class:`Summary` for the window rule); the same
    reduction as a streamed run (:class:`staleness.stream.SummaryBuilder`)."""
    from staleness.stream import SummaryBuilder, block_of

    builder = SummaryBuilder(cfg.learners, len(update_times))
    builder.add(block_of(g, update_times, 1))
    return builder.finish(end_time, inflight_busy)
