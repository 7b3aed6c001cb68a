"""Vectorised simulation, equal to the event engine: ``async`` / ``k-batch-async``, and ``sync`` / ``k-sync``
(drawn compute times), with no latencies. The k-sync path is described in :func:`_run_k_sync`; below, the
async one.

With zero pull / push / apply times a learner reads at the instant its previous gradient reaches the
server, so its push times are the cumulative sum of its compute times. The server's order is then one
sort of all push times with the tie-break as the secondary key:

- ``learner``: (time, learner); ``fifo``: (time, time the computation was scheduled = the learner's
  previous push, learner); ``random``: (time, the gradient's uniform tie key, learner).

Gradient n in that order (0-based) is in update n // K + 1, so ``version_before_apply = n // K``; it
was read right after its learner's previous push, at rank m, when (m + 1) // K updates were done, so
``staleness = n // K - (m + 1) // K`` (for K = 1: pushes applied before it minus pushes applied before
its read).

The order equals the event engine's only when every compute time is > 0 (then all pushes at one
instant are in the heap before the first of them is served); :func:`vectorised_eligible` checks the
configuration and :func:`run_vectorised` returns None when a drawn time is 0, so the caller falls back.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=3, dist="exp", updates=6, seed=1)
>>> simulate(cfg, engine="vectorised").gradients == simulate(cfg, engine="event").gradients
True
"""

from __future__ import annotations

import math

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.result import Gradients

__all__ = ["vectorised_eligible", "run_vectorised"]


def vectorised_eligible(cfg: SimConfig) -> bool:
    """True when a vectorised path applies: no latencies, no apply time, and either (k-batch-)async, or
    sync / k-sync with drawn (not traced) compute times."""
    if not cfg.zero_latency:
        return False
    return cfg.policy in ("async", "k-batch-async") or (cfg.policy in ("sync", "k-sync") and cfg.times is None)


def _draw(streams: LearnerStreams, counts: list[int]) -> tuple[list[np.ndarray], list[bool]]:
    """Per-learner compute times (first counts[i]) and whether the learner's trace is used up."""
    out, exhausted = [], []
    for i, n in enumerate(counts):
        x = streams.times_array(i, n)
        out.append(x)
        exhausted.append(streams.traces is not None and len(x) < n)
    return out, exhausted


def run_vectorised(cfg: SimConfig, streams: LearnerStreams) -> tuple[Gradients, np.ndarray, float, np.ndarray] | None:
    """Vectorised run; returns (gradients, update_times, end_time, inflight_busy), or None (fall back)."""
    if not vectorised_eligible(cfg):
        raise ValueError(
            f"--policy: the vectorised path needs async, k-batch-async, or sync / k-sync without traces, and no "
            f"latencies; got {cfg.policy}"
        )
    if cfg.policy in ("sync", "k-sync"):
        return _run_k_sync(cfg, streams)
    p, k = cfg.learners, cfg.effective_k
    speeds = np.asarray(cfg._speeds)
    if cfg.times is not None:
        counts = [len(t) + 1 for t in cfg.times]
    elif cfg.updates is not None:
        share = speeds / speeds.sum()
        counts = [int(math.ceil(cfg.updates * k * s * 1.05)) + 32 for s in share]
    else:
        counts = [int(math.ceil(cfg.until / cfg.mean * s * 1.05)) + 32 for s in speeds]
    while True:
        xs, exhausted = _draw(streams, counts)
        if any(len(x) and x.min() <= 0 for x in xs):
            return None  # a zero compute time makes the heap order differ from a sort: use the engine
        pushes = [np.cumsum(x) for x in xs]
        sizes = np.array([len(a) for a in pushes])
        t_all = np.concatenate(pushes)
        total = len(t_all)
        if total == 0:
            return None
        # positive float64 values order like their bit patterns read as int64, and numpy sorts those faster;
        # stable on the learner-major concatenation: ties go by learner
        order = np.argsort(t_all.view(np.int64), kind="stable")
        t_sorted = t_all[order]
        if cfg.updates is not None:
            n_pushes = min(cfg.updates * k, total)
            cutoff = t_sorted[n_pushes - 1]
        elif cfg.until is not None:
            n_pushes = int(np.searchsorted(t_sorted, cfg.until, side="right"))
            cutoff = cfg.until
        else:
            n_pushes, cutoff = total, math.inf
        short = [i for i in range(p) if not exhausted[i] and (len(pushes[i]) == 0 or pushes[i][-1] <= cutoff)]
        if not short:
            break
        for i in short:
            counts[i] *= 2
    learner = np.repeat(np.arange(p), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    index = np.arange(total) - np.repeat(starts, sizes)
    read_time = np.empty(total)  # a learner reads when its previous push is served (its first: at 0)
    read_time[1:] = t_all[:-1]
    read_time[starts] = 0.0
    if cfg.tie_break != "learner" and total > 1 and np.any(t_sorted[1:] == t_sorted[:-1]):
        if cfg.tie_break == "fifo":
            second = read_time
        else:
            second = np.concatenate([streams.ties_array(i, int(n)) for i, n in enumerate(sizes)])
        order = np.lexsort((learner, second, t_all))
        t_sorted = t_all[order]
    rank = np.empty(total, dtype=np.int64)
    rank[order] = np.arange(total)
    n_applied = n_pushes // k * k
    sel = order[:n_applied]
    pos = np.arange(n_applied)
    prev_rank = np.where(index[sel] > 0, rank[np.maximum(sel - 1, 0)], -1)
    read_version = (prev_rank + 1) // k
    before = pos // k
    update_times = t_sorted[k - 1 : n_applied : k].copy()
    rt_sel = read_time[sel]
    grads = Gradients.from_columns(
        learner=learner[sel], index=index[sel], read_time=rt_sel, read_version=read_version, compute_start=rt_sel,
        push_time=t_sorted[:n_applied], compute_time=t_sorted[:n_applied] - rt_sel,
        apply_time=np.repeat(update_times, k), version_before_apply=before, staleness=before - read_version,
        applied=np.ones(n_applied, dtype=bool), update=before + 1,
    )
    # the end, and the gradients the engine started but did not record (pending or in flight)
    if cfg.until is not None:
        end = float(cfg.until)
    elif cfg.updates is not None and n_applied == cfg.updates * k:
        end = float(update_times[-1])
    else:
        end = float(t_sorted[n_pushes - 1])
    processed = rank < n_pushes
    last_pusher = learner[order[n_pushes - 1]] if cfg.updates is not None and n_applied == cfg.updates * k else -1
    # a learner starts its next gradient after each processed push (the last pusher of a stopped run
    # does not); the first gradient is started at time 0
    next_index = np.bincount(learner[processed], minlength=p)
    started = index <= next_index[learner]
    started &= ~((learner == last_pusher) & (index == next_index[learner]))
    unrecorded = started & (rank >= n_applied)
    u = np.flatnonzero(unrecorded)  # learner-major: index order within each learner
    busy_each = np.maximum(0.0, np.minimum(end, t_all[u]) - read_time[u])
    busy = np.zeros(p)
    np.add.at(busy, learner[u], busy_each)
    update_times.setflags(write=False)
    busy.setflags(write=False)
    return grads, update_times, end, busy


def _run_k_sync(cfg: SimConfig, streams: LearnerStreams) -> tuple[Gradients, np.ndarray, float, np.ndarray] | None:
    """k-sync / sync: iteration j starts everyone at u_j on version j; learner i's push is u_j + X[j, i]
    (its j-th draw); u_{j+1} is the K-th smallest push (ties: learner order, or the random key). Records
    per iteration: the P - K discarded gradients in learner order, then the K applied in arrival order."""
    p, k = cfg.learners, cfg.effective_k
    rows = cfg.updates if cfg.updates is not None else int(math.ceil(cfg.until / cfg.mean * 1.1)) + 16
    while True:
        x = np.stack([streams.times_array(i, rows) for i in range(p)], axis=1)  # (rows, P)
        if x.min() <= 0:
            return None
        kth = np.partition(x, k - 1, axis=1)[:, k - 1]
        u = np.concatenate([[0.0], np.cumsum(kth)])  # u[j]: start of iteration j; u[j + 1] = u[j] + X_(K)
        if cfg.updates is not None or u[-1] > cfg.until:
            break
        rows *= 2
    # iterations finished (with `until`: u[n_it] <= until < u[n_it + 1], iteration n_it is in progress)
    n_it = rows if cfg.updates is not None else int(np.searchsorted(u, cfg.until, side="right")) - 1
    push = u[:-1, None] + x
    learners = np.broadcast_to(np.arange(p), push.shape)
    if cfg.tie_break == "random" and np.any(np.diff(np.sort(push, axis=1), axis=1) == 0):
        ties = np.stack([streams.ties_array(i, rows) for i in range(p)], axis=1)
        order = np.lexsort((learners, ties, push), axis=1)
    else:  # fifo and learner agree: every push of an iteration was scheduled at the same instant
        order = np.argsort(push, axis=1, kind="stable")
    done = slice(0, n_it)
    applied_l = order[done, :k]
    discarded_l = np.sort(order[done, k:], axis=1)
    who = np.concatenate([discarded_l, applied_l], axis=1)  # (n_it, P) in record order
    it = np.repeat(np.arange(n_it), p).reshape(n_it, p)
    start = u[:n_it, None]
    next_u = u[1 : n_it + 1, None]
    pushed = np.take_along_axis(push[done], who, axis=1)
    applied = np.zeros((n_it, p), dtype=bool)
    applied[:, p - k :] = True
    busy = np.where(applied, pushed - start, np.maximum(0.0, np.minimum(next_u, pushed) - start))
    start_b = np.broadcast_to(start, (n_it, p))
    grads = Gradients.from_columns(
        learner=who.ravel(), index=it.ravel(), read_time=start_b.ravel(), read_version=it.ravel(),
        compute_start=start_b.ravel(), push_time=pushed.ravel(), compute_time=busy.ravel(),
        apply_time=np.broadcast_to(next_u, (n_it, p)).ravel(), version_before_apply=it.ravel(),
        staleness=np.zeros(n_it * p, dtype=np.int64), applied=applied.ravel(),
        update=np.where(applied, it + 1, -1).ravel(),
    )
    update_times = u[1 : n_it + 1].copy()
    if cfg.updates is not None:
        end, inflight = float(update_times[-1]), np.zeros(p)
    else:
        end = float(cfg.until)
        inflight = np.maximum(0.0, np.minimum(end, push[n_it]) - u[n_it])  # the iteration in progress
    update_times.setflags(write=False)
    inflight.setflags(write=False)
    return grads, update_times, end, inflight
