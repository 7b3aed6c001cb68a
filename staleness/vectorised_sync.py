"""Vectorised sync / k-sync in chunks of iterations, equal to the event engine (see :func:`iter_k_sync`).

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=3, policy="k-sync", k=2, updates=5, seed=1)
>>> simulate(cfg, engine="vectorised", chunk=4).gradients == simulate(cfg, engine="event").gradients
True
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.result import Gradients
from staleness.stream import Block, block_of
from staleness.vectorised import ZeroComputeTime

__all__ = ["iter_k_sync"]


def iter_k_sync(cfg: SimConfig, streams: LearnerStreams, chunk: int, full: bool) -> Iterator[Block]:
    """k-sync / sync: iteration j starts everyone at u_j on version j; learner i's push is u_j + X[j, i]
    (its j-th draw); u_{j+1} is the K-th smallest push (ties: learner order, or the random key). Records
    per iteration: the P - K discarded gradients in learner order, then the K applied in arrival order.
    Iterations are taken ``chunk // P`` at a time; returns (end_time, inflight_busy)."""
    p, k = cfg.learners, cfg.effective_k
    rows = max(1, chunk // p)
    u0, done = 0.0, 0  # start of the next iteration, iterations finished
    while True:
        r = rows if cfg.updates is None else min(rows, cfg.updates - done)
        x = np.stack([streams.take_times(i, r) for i in range(p)], axis=1)  # (r, P)
        if x.min() <= 0:
            raise ZeroComputeTime
        kth = np.partition(x, k - 1, axis=1)[:, k - 1]
        kth[0] += u0  # u_{j+1} = u_j + X_(K), the same additions in the same order as one long cumsum
        ends = np.cumsum(kth)
        starts = np.concatenate([[u0], ends[:-1]])
        n_it = r if cfg.until is None else int(np.searchsorted(ends, cfg.until, side="right"))
        push = starts[:, None] + x
        if cfg.tie_break == "random":
            ties = np.stack([streams.take_ties(i, r) for i in range(p)], axis=1)
        if cfg.tie_break == "random" and np.any(np.diff(np.sort(push, axis=1), axis=1) == 0):
            order = np.lexsort((np.broadcast_to(np.arange(p), push.shape), ties, push), axis=1)
        else:  # fifo and learner agree: every push of an iteration was scheduled at the same instant
            order = np.argsort(push, axis=1, kind="stable")
        if n_it:
            yield _k_sync_block(push[:n_it], order[:n_it], starts[:n_it], ends[:n_it], done, k, full)
        done += n_it
        if n_it < r:  # stopped by `until` inside iteration n_it (in progress)
            end = float(cfg.until)
            busy = np.maximum(0.0, np.minimum(end, push[n_it]) - starts[n_it])
            break
        u0 = float(ends[-1])
        if cfg.updates is not None and done >= cfg.updates:
            end, busy = u0, np.zeros(p)
            break
    busy.setflags(write=False)
    return end, busy


def _k_sync_block(push, order, start, next_u, first, k, full) -> Block:
    n_it, p = push.shape
    applied_l = order[:, :k]
    discarded_l = np.sort(order[:, k:], axis=1)
    who = np.concatenate([discarded_l, applied_l], axis=1)  # (n_it, P) in record order
    it = np.repeat(np.arange(first, first + n_it), p).reshape(n_it, p)
    pushed = np.take_along_axis(push, who, axis=1)
    applied = np.zeros((n_it, p), dtype=bool)
    applied[:, p - k :] = True
    start, next_u = start[:, None], next_u[:, None]
    busy = np.where(applied, pushed - start, np.maximum(0.0, np.minimum(next_u, pushed) - start))
    start_b = np.broadcast_to(start, (n_it, p))
    grads = Gradients.from_columns(
        learner=who.ravel(), index=it.ravel(), read_time=start_b.ravel(), read_version=it.ravel(),
        compute_start=start_b.ravel(), push_time=pushed.ravel(), compute_time=busy.ravel(),
        apply_time=np.broadcast_to(next_u, (n_it, p)).ravel(), version_before_apply=it.ravel(),
        staleness=np.zeros(n_it * p, dtype=np.int64), applied=applied.ravel(),
        update=np.where(applied, it + 1, -1).ravel(),
    )
    ut = next_u.ravel().copy()
    ut.setflags(write=False)
    return block_of(grads, ut, first + 1)
