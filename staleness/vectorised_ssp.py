"""Vectorised SSP (bounded staleness, Ho et al. 2013) with drawn compute times and no latencies, equal to
the event engine (see :func:`iter_ssp`).

SSP's blocking couples the learners, but only through one number per clock value: with zero latencies
learner i's n-th gradient (0-based) pushes at ``E[n, i] = S[n, i] + X[n, i]`` and its next one starts at

    S[n + 1, i] = max(E[n, i], M[n - s])      (M[l] = max_j E[l, j]; the max is E[n, i] alone when n < s)

because after its (n + 1)-th push the learner may go on only when the slowest learner has pushed
n + 1 - s gradients, that is when the last of the gradients number n - s arrives. So the times are
computed level by level (one clock value for every learner at once: P-wide numpy operations; s + 1
levels never wait on each other), exactly as the engine adds them (``start + x``). Which version a
gradient read follows in the same way from the global push order (ranks): the read happens at the
push of rank ``R = max(rank[n, i], max_j rank[n - s, j])``, so ``read_version = R + 1`` and
``staleness = rank - R - 1``.

A chunk is every push up to the earliest last computed push of any learner (every push before it is
computed); pushes are ordered by (time, the tie-break's key, learner) as in :mod:`staleness.vectorised`.
A compute time of exactly 0 raises :class:`~staleness.vectorised.ZeroComputeTime` (the caller falls
back to the engine).

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=4, policy="ssp", bound=1, updates=50, seed=2)
>>> simulate(cfg, engine="vectorised", chunk=8).gradients == simulate(cfg, engine="event").gradients
True
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.pushes import merge_order
from staleness.stream import Block, make_block
from staleness.vectorised import ZeroComputeTime

__all__ = ["iter_ssp"]


def iter_ssp(cfg: SimConfig, streams: LearnerStreams, chunk: int, full: bool) -> Iterator[Block]:
    """Blocks of records in apply order; the generator returns (end_time, inflight_busy)."""
    return (yield from _SspRun(cfg, streams, chunk, full).run())


class _SspRun:
    def __init__(self, cfg: SimConfig, streams: LearnerStreams, chunk: int, full: bool) -> None:
        self.cfg, self.streams, self.full = cfg, streams, full
        p = self.p = cfg.learners
        self.s = cfg.bound
        self.levels = max(1, int(chunk) // p)  # levels computed per chunk
        self.target = cfg.updates  # pushes to process (K = 1)
        self.random = cfg.tie_break == "random"
        self.ids = np.arange(p, dtype=np.uint8 if p <= 1 << 8 else np.uint16 if p <= 1 << 16 else np.int64)
        # a window of levels base .. base + rows - 1 (level-major): start, push time, tie key, rank (-1 until
        # the push is processed); and per level the latest push time M
        self.base = 0
        self.S = np.empty((0, p))
        self.E = np.empty((0, p))
        self.T = np.empty((0, p))
        self.rank = np.empty((0, p), dtype=np.int64)
        self.m = np.empty(0)
        self.done = np.zeros(p, dtype=np.int64)  # pushes processed per learner (its next level)
        self.n_done = 0
        self.last_t = 0.0

    def _extend(self) -> None:
        """Compute the next ``levels`` levels for every learner."""
        p, b, s = self.p, self.levels, self.s
        x = np.empty((b, p))
        for i in range(p):
            x[:, i] = self.streams.take_times(i, b)
        if x.min() <= 0:
            raise ZeroComputeTime
        n0 = self.base + len(self.E)  # the first new level
        start, push, m = np.empty((b, p)), np.empty((b, p)), np.empty(b)
        prev = self.E[-1] if len(self.E) else None
        old = self.m.tolist()
        if s == 0:  # everyone waits for the last push of the level before: one start time per level
            self._extend_bound0(x, start, push, m, 0.0 if prev is None else old[-1])
        r = 0 if s else b
        while r < b:
            # levels r .. r + s wait on levels before r only: compute them, then their latest pushes at once
            span = min(s + 1, b - r)
            for q in range(r, r + span):
                if prev is None:
                    start[q] = 0.0
                else:
                    w = n0 + q - 1 - s - self.base  # the level whose last push lets this one start
                    if w < -self.base:  # before level 0: no wait
                        start[q] = prev
                    else:
                        np.maximum(prev, old[w] if w < len(old) else m[w - len(old)], out=start[q])
                np.add(start[q], x[q], out=push[q])
                prev = push[q]
            push[r : r + span].max(axis=1, out=m[r : r + span])
            r += span
        self.S = np.concatenate([self.S, start])
        self.E = np.concatenate([self.E, push])
        self.m = np.concatenate([self.m, m])
        self.rank = np.concatenate([self.rank, np.full((b, p), -1, dtype=np.int64)])
        if self.random:
            t = np.empty((b, p))
            for i in range(p):
                t[:, i] = self.streams.take_ties(i, b)
            self.T = np.concatenate([self.T, t])

    @staticmethod
    def _extend_bound0(x: np.ndarray, start: np.ndarray, push: np.ndarray, m: np.ndarray, before: float) -> None:
        """Bound 0: S[n + 1] = M[n] for everyone, so M[n + 1] = M[n] + max_i X[n + 1, i] (rounding is monotonic:
        the largest of M + X_i is M + the largest X_i, bit for bit): one running sum gives every level."""
        c = x.max(axis=1)
        c[0] += before  # the same additions in the same order as level after level
        np.cumsum(c, out=m)
        start[0] = before
        start[1:] = m[:-1, None]
        np.add(start, x, out=push)

    def _trim(self) -> None:
        """Forget levels no unprocessed push can look back to (own previous level, level n - 1 - s)."""
        keep = int(self.done.min()) - self.s - 2 - self.base
        if keep > 0:
            self.base += keep
            self.S, self.E, self.T = self.S[keep:], self.E[keep:], self.T[keep:] if self.random else self.T
            self.rank, self.m = self.rank[keep:], self.m[keep:]

    def run(self) -> Iterator[Block]:
        cfg = self.cfg
        until = cfg.until
        while True:
            self._extend()
            low = float(self.E[-1].min())  # every push at or before it is computed
            horizon = low if until is None else min(low, float(until))
            block = self._chunk(horizon)
            if block is not None:
                yield block
            stopped = self.target is not None and self.n_done >= self.target
            if stopped or (until is not None and low >= until):
                return self._finish(stopped)
            self._trim()

    def _chunk(self, horizon: float) -> Block | None:
        p, s, base = self.p, self.s, self.base
        level = np.arange(base, base + len(self.E))[:, None]
        new = (horizon >= self.E) & (level >= self.done[None, :])
        new_lm = new.T  # learner-major: learner i's new pushes in level order
        t = self.E.T[new_lm]
        total = len(t)
        if not total:
            return None
        learner = np.repeat(self.ids, new_lm.sum(axis=1))
        lv = np.broadcast_to(level.T, new_lm.shape)[new_lm]
        start = self.S.T[new_lm]
        # fifo's key is (time scheduled, learner): a gradient is scheduled when it starts
        sec = start if self.cfg.tie_break == "fifo" else self.T.T[new_lm] if self.random else None
        _, rank, order = merge_order(t, learner, sec, p)
        if order is None:
            order = np.empty(total, dtype=np.int64)
            order[rank] = np.arange(total)
        n0 = self.n_done
        rank += n0
        self.rank.T[new_lm] = rank
        # the read: right after the learner's own previous push, or after the last push of level n - 1 - s
        # (processed already: it came before this gradient started)
        w = lv - base
        first = lv == 0
        own = np.where(first, -1, self.rank[np.maximum(w - 1, 0), learner])
        gate = lv - 1 - s
        m_rank = self.rank.max(axis=1)
        read = np.where(gate >= 0, np.maximum(own, m_rank[np.maximum(gate - base, 0)]), own)
        take = total if self.target is None else min(total, self.target - n0)
        o = order[:take]
        learner_o, t_o = learner[o].astype(np.int64), t[o]
        stale = rank[o] - read[o] - 1
        ct = t_o - start[o]
        self.done += np.bincount(learner_o, minlength=p)
        self.n_done += take
        if take < total:  # the run stops: forget the ranks of pushes it never processes
            self.rank.T[new_lm] = np.where(rank < n0 + take, rank, -1)
        self.last_t = float(t_o[-1])
        if self.full:
            cols = {"learner": learner_o, "compute_time": ct, "staleness": stale, "push_time": t_o,
                    "index": lv[o], "read_time": start[o], "read_version": read[o] + 1}
            return make_block(cols, n0, 1)
        t_o.setflags(write=False)
        return Block(learner_o, ct, stale, np.arange(n0 + 1, n0 + take + 1), None, n0 + 1, take,
                     lambda v: float(t_o[v - 1 - n0]), True, None, t_o)

    def _finish(self, stopped: bool) -> tuple[float, np.ndarray]:
        """End time; compute time of the gradients in flight (started, not pushed by the end)."""
        cfg, s = self.cfg, self.s
        end = float(cfg.until) if cfg.until is not None else self.last_t
        while int(self.done.max()) >= self.base + len(self.E):  # every learner's next gradient computed
            self._extend()
        busy = np.zeros(self.p)
        m_rank = self.rank.max(axis=1)
        for i in range(self.p):
            n = int(self.done[i])
            w = n - self.base
            if n > 0:
                gate = n - 1 - s
                if gate >= 0 and int(self.done.min()) <= gate:
                    continue  # waiting for the slowest: nothing in flight
                read = int(self.rank[w - 1, i])
                if gate >= 0:
                    read = max(read, int(m_rank[gate - self.base]))
                if stopped and read == self.n_done - 1:
                    continue  # the push that ended the run started nothing
            busy[i] = max(0.0, min(end, float(self.E[w, i])) - float(self.S[w, i]))
        busy.setflags(write=False)
        return end, busy
