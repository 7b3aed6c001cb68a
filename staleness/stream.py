"""The record stream of a run and its on-the-fly reduction to a :class:`~staleness.result.Summary`.

Every engine yields :class:`Block` s: consecutive pieces of the per-gradient records in apply / discard
order, with the times of the updates they completed. :class:`SummaryBuilder` reduces them with memory
O(P + largest staleness + series points): integer counts (exact, so the order of pieces cannot change
them), and per-learner busy time summed with ``np.add.at`` (one addition per row, in row order, so the
float sums are the same however the records are cut into blocks). A run kept in memory and a
streamed run therefore give identical summaries.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=4, updates=2_000, seed=3)
>>> simulate(cfg).summary == simulate(cfg, stream=True, chunk=100).summary
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlperf.errors import ArgumentError
from staleness.result import Gradients, Summary, steady_state_warmup
from staleness.result import _percentile as percentile

__all__ = ["Block", "make_block", "SummaryBuilder", "SERIES_POINTS"]

#: Default number of points of the staleness time series (one per ``ceil(updates / points)`` updates).
SERIES_POINTS = 100


@dataclass(frozen=True)
class Block:
    """Consecutive records: the columns the summary needs, and all of them when kept (``gradients``).

    Updates ``first_update .. first_update + n_updates - 1`` are completed in this block and
    ``time_of(v)`` is when update v finished. ``applied`` is None when no row was discarded. With
    ``ordered`` False the rows are grouped by learner (each learner's rows still in their order), which
    is all the summary needs: the vectorised path then skips putting them in apply order.
    """

    learner: np.ndarray
    compute_time: np.ndarray
    staleness: np.ndarray
    update: np.ndarray
    applied: np.ndarray | None
    first_update: int
    n_updates: int
    time_of: Callable[[int], float]
    ordered: bool = True
    gradients: Gradients | None = None
    update_times: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.learner)


def make_block(cols: dict, first: int, k: int) -> Block:
    """A block of applied gradients of ranks ``first ..`` in arrival order, K to an update (async family)."""
    n = len(cols["learner"])
    before = (np.arange(first, first + n, dtype=np.int64)) // k
    update_times = cols["push_time"][k - 1 :: k].copy()
    update_times.setflags(write=False)
    grads = Gradients.from_columns(
        learner=cols["learner"], index=cols["index"], read_time=cols["read_time"],
        read_version=cols["read_version"], compute_start=cols["read_time"], push_time=cols["push_time"],
        compute_time=cols["compute_time"], apply_time=np.repeat(update_times, k),
        version_before_apply=before, staleness=cols["staleness"], applied=np.ones(n, dtype=bool),
        update=before + 1,
    )
    return block_of(grads, update_times, first // k + 1)


def block_of(grads: Gradients, update_times: np.ndarray, first_update: int) -> Block:
    """A block from full records in apply / discard order."""
    applied = None if bool(grads.applied.all()) else grads.applied
    return Block(grads.learner, grads.compute_time, grads.staleness, grads.update, applied, first_update,
                 len(update_times), lambda v: float(update_times[v - first_update]), True, grads, update_times)


class SummaryBuilder:
    """Reduce blocks to a :class:`Summary`; ``updates`` (total, when known in advance) fixes the window.

    With ``updates=None`` (a run on traces, whose number of updates is known only at the end) the blocks
    are kept until :meth:`finish` (memory O(records)); with it, nothing is kept. :func:`staleness.simulate`
    counts the updates of a run stopped by ``until`` in a first pass, so those stream too.
    """

    def __init__(self, learners: int, updates: int | None, series_points: int = SERIES_POINTS) -> None:
        if not isinstance(series_points, int) or isinstance(series_points, bool) or series_points < 1:
            raise ArgumentError("series_points", series_points, "give an integer >= 1")
        self.p, self.points = learners, series_points
        self.kept: list[Block] | None = None if updates is not None else []
        self._start(updates)

    def _start(self, updates: int | None) -> None:
        self.total = updates
        self.warm = steady_state_warmup(updates, self.p) if updates is not None else 0
        self.every = max(1, math.ceil(updates / self.points)) if updates else 1
        n_pts = math.ceil(updates / self.every) if updates else 0
        self.hist = np.zeros(0, dtype=np.int64)
        self.busy = np.zeros(self.p)
        self.applied = self.discarded = self.sum_all = 0
        self.n_updates = 0
        self.t_warm, self.t_last = (0.0 if self.warm == 0 else math.nan), math.nan
        self.s_sum = np.zeros(n_pts, dtype=np.int64)
        self.s_cnt = np.zeros(n_pts, dtype=np.int64)
        self.s_time = np.full(n_pts, math.nan)

    def add(self, b: Block) -> None:
        """Reduce one block (or keep it, when the window is not known yet)."""
        if self.kept is not None:
            self.kept.append(b)
            return
        np.add.at(self.busy, b.learner, b.compute_time)
        st, up = (b.staleness, b.update) if b.applied is None else (b.staleness[b.applied], b.update[b.applied])
        self.applied += len(st)
        self.discarded += len(b) - len(st)
        if len(st):
            # the applied rows of a block are those of its updates, first .. last
            first, last = b.first_update, b.first_update + b.n_updates - 1
            total = int(st.sum())
            self.sum_all += total
            win = st if first > self.warm else st[up > self.warm]
            if len(win):
                h = np.bincount(win)
                if len(h) > len(self.hist):
                    self.hist = np.concatenate([self.hist, np.zeros(len(h) - len(self.hist), dtype=np.int64)])
                self.hist[: len(h)] += h
            lo, hi = (first - 1) // self.every, (last - 1) // self.every
            if lo == hi:
                sums, counts = total, len(st)
            elif b.ordered:  # applied rows come in update order: each point is a contiguous run
                edges = np.searchsorted(up, np.arange(lo, hi + 2) * self.every + 1)
                counts = np.diff(edges)
                sums = np.where(counts > 0, np.add.reduceat(st, np.minimum(edges[:-1], len(st) - 1)), 0)
            else:
                bucket = (up - 1) // self.every - lo
                counts = np.bincount(bucket, minlength=hi - lo + 1)
                sums = np.bincount(bucket, weights=st, minlength=hi - lo + 1).astype(np.int64)  # exact < 2^53
            self.s_sum[lo : hi + 1] += sums
            self.s_cnt[lo : hi + 1] += counts
        if b.n_updates:
            first, last = b.first_update, b.first_update + b.n_updates - 1
            assert first == self.n_updates + 1, "blocks must come in order"
            if first <= self.warm <= last:
                self.t_warm = b.time_of(self.warm)
            for point in range((first - 1) // self.every, (last - 1) // self.every + 1):
                v = min((point + 1) * self.every, self.total)  # the last update of this point
                if v <= last:
                    self.s_time[point] = b.time_of(v)
            self.n_updates = last
            self.t_last = b.time_of(last)

    def finish(self, end_time: float, inflight_busy: np.ndarray) -> Summary:
        """The summary of everything added, given the run's end time and the busy time not in the records."""
        if self.kept is not None:
            blocks, self.kept = self.kept, None
            self._start(sum(b.n_updates for b in blocks))
            for b in blocks:
                self.add(b)
        n, warm = self.n_updates, self.warm
        assert self.total is None or n == self.total, "the run made another number of updates than announced"
        if warm:
            window = f"updates {warm + 1}..{n} (warm-up of {warm} updates dropped)"
        else:
            window = f"all {n} updates (run too short for a warm-up; the mean is biased low)"
        hist = self.hist
        cnt = int(hist.sum())
        s = np.arange(len(hist), dtype=object)
        s1, s2 = int((s * hist).sum()) if cnt else 0, int((s * s * hist).sum()) if cnt else 0
        mean = s1 / cnt if cnt else math.nan
        # exact integers, one correctly rounded division (Python's int / int), as Fraction's float() does
        std = math.sqrt((cnt * s2 - s1 * s1) / (cnt * cnt)) if cnt else math.nan
        span = self.t_last - self.t_warm
        rate = (n - warm) / span if n and span > 0 else math.nan
        rate_all = n / self.t_last if n and self.t_last > 0 else math.nan
        busy = self.busy + inflight_busy
        util = busy / end_time if end_time > 0 else np.full(self.p, math.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            s_mean = np.where(self.s_cnt > 0, self.s_sum / np.maximum(self.s_cnt, 1), math.nan)
        upd = np.minimum((np.arange(len(s_mean)) + 1) * self.every, n)
        return Summary(
            updates=n, gradients_applied=self.applied, gradients_discarded=self.discarded,
            end_time=float(end_time), time_to_updates=self.t_last, warmup_updates=warm, window=window,
            mean_staleness=mean, std_staleness=std, p50_staleness=percentile(hist, 50),
            p95_staleness=percentile(hist, 95), max_staleness=float(len(hist) - 1) if cnt else math.nan,
            histogram=tuple(hist.tolist()), mean_staleness_all=self.sum_all / self.applied if self.applied else math.nan,
            updates_per_time=rate, time_per_update=1.0 / rate if rate == rate and rate > 0 else math.nan,
            updates_per_time_all=rate_all, utilisation=tuple(float(u) for u in util),
            mean_utilisation=float(util.mean()), series_every=self.every,
            series_update=tuple(int(u) for u in upd), series_time=tuple(float(t) for t in self.s_time),
            series_mean_staleness=tuple(float(m) for m in s_mean),
        )
