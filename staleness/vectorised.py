"""Vectorised simulation in chunks, equal to the event engine: ``async`` / ``k-batch-async``, ``k-async``,
and ``sync`` / ``k-sync``, ``k-batch-sync`` and ``ssp`` (drawn compute times), with no latencies. Memory is
O(P + chunk) whatever the number of updates (ssp: O(P (chunk / P + bound))). The k-sync path is in
:mod:`staleness.vectorised_sync`, the ssp one in :mod:`staleness.vectorised_ssp`, the k-async one (batch
by batch) in :mod:`staleness.vectorised_kasync`, the k-batch-sync one (iteration by iteration) in
:mod:`staleness.vectorised_kbsync`; below, the async one.

With zero pull / push / apply times a learner reads at the instant its previous gradient reaches the
server, so its push times are the running sum of its compute times. The server's order is one merge
of the P increasing sequences with the tie-break as secondary key (``learner``: (time, learner);
``fifo``: (time, previous push of the same learner, learner); ``random``: (time, the gradient's tie key,
learner)). Gradient n in that order (0-based) is in update n // K + 1; it was read right after its
learner's previous push, at rank m, when (m + 1) // K updates were done, so
``staleness = n // K - (m + 1) // K``.

A chunk is every push up to a time horizon (about ``chunk`` pushes): pushes at one instant are never
split. The merge sorts 64-bit keys once: the push time's bit pattern (positive floats order like their
bits read as integers) with the learner id in the lowest ceil(log2 P) bits. Keys whose high bits
coincide (the same time, or times closer than those bits resolve) are put in exact order afterwards, so
the order is the exact one, ties included. The learner of sorted push n is ``key & mask``, and learner
i's j-th push in the chunk is its j-th in time, so a stable counting sort of those ids gives every
push's rank.

The order equals the event engine's only when every compute time is > 0 (then all pushes at one
instant are in the heap before the first of them is served): a drawn 0 raises :class:`ZeroComputeTime`
before anything of its chunk is emitted, and the caller falls back to the engine.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=3, dist="exp", updates=6, seed=1)
>>> simulate(cfg, engine="vectorised").gradients == simulate(cfg, engine="event").gradients
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dlperf.errors import ArgumentError, ref
from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.pushes import merge_order
from staleness.stream import Block, make_block

__all__ = ["vectorised_eligible", "iter_vectorised", "ZeroComputeTime", "DEFAULT_CHUNK"]

#: Pushes per chunk (the horizon aims at this many; k-sync takes chunk // P iterations at a time). Small
#: enough that a chunk's arrays stay in the CPU caches: 2^14 runs 2-3x faster than 2^20.
DEFAULT_CHUNK = 1 << 14
_ROWS_MAX = 64  # up to this many learners, each learner's buffered times are one array (else one 2-d array)


def _typical_time(cfg: SimConfig) -> float:
    """The smaller of the mean and the median compute time (the median of Pareto I with tail index a and
    mean m is x_m 2^(1/a), x_m = m (a - 1) / a; of a lognormal with mean m and sigma s, m exp(-s^2 / 2))."""
    shape = cfg.effective_shape
    if cfg.dist == "pareto":
        return min(cfg.mean, cfg.mean * (shape - 1) / shape * 2 ** (1 / shape))
    if cfg.dist == "lognormal":
        return cfg.mean * math.exp(-shape * shape / 2)
    return cfg.mean


class ZeroComputeTime(Exception):
    """A compute time of exactly 0 was drawn: the vectorised order may differ from the engine's."""


def vectorised_eligible(cfg: SimConfig) -> bool:
    """True when a vectorised path applies: no latencies, no apply time, and either (k-batch-)async or
    k-async, or sync / k-sync / k-batch-sync / ssp with drawn (not traced) compute times (ssp: with P (2 bound + 3) <=
    2^22, which bounds its memory). k-async runs batch by batch (:mod:`staleness.vectorised_kasync`): a
    learner's next start is the completion of its batch, so no learner has more than one known future push."""
    if not cfg.zero_latency:
        return False
    if cfg.policy == "k-async":
        return True
    if cfg.policy == "ssp":  # its window holds up to 2 s + 3 levels of P times more than a chunk
        return cfg.times is None and cfg.learners * ssp_window_levels(cfg.bound) <= SSP_WINDOW_MAX
    return cfg.policy in ("async", "k-batch-async") or (
        cfg.policy in ("sync", "k-sync", "k-batch-sync") and cfg.times is None)


#: Largest window of the ssp path, in times (P x levels; 48 bytes each): bigger bounds run on the engine.
SSP_WINDOW_MAX = 1 << 22


def ssp_window_levels(bound: int) -> int:
    """Levels the ssp path may hold beyond a chunk's: the fastest learner is at most bound + 1 clocks ahead
    of the slowest, and the slowest's next gradient looks back bound + 2 levels."""
    return 2 * bound + 3


def iter_vectorised(cfg: SimConfig, streams: LearnerStreams, chunk: int = DEFAULT_CHUNK,
              full: bool = True) -> Iterator[Block]:
    """Blocks of records in apply / discard order; the generator returns (end_time, inflight_busy)."""
    if not vectorised_eligible(cfg):
        if cfg.policy == "ssp" and cfg.times is None and cfg.zero_latency:
            raise ArgumentError("bound", cfg.bound, f"the vectorised ssp path needs learners x (2 bound + 3) <= "
                                f"{SSP_WINDOW_MAX}; use {ref('engine')} event", what=f"got {cfg.bound} at "
                                f"{cfg.learners} learners")
        raise ArgumentError("policy", cfg.policy, "the vectorised path needs async, k-batch-async, k-async, or "
                            f"sync / k-sync / k-batch-sync / ssp without traces, and no latencies; use "
                            f"{ref('engine')} event")
    if cfg.policy == "k-batch-sync" and cfg.effective_k > 1:
        from staleness.vectorised_kbsync import iter_k_batch_sync

        return (yield from iter_k_batch_sync(cfg, streams, chunk, full))
    if cfg.policy in ("sync", "k-sync", "k-batch-sync"):  # k-batch-sync with K = 1 is k-sync: nothing restarts
        from staleness.vectorised_sync import iter_k_sync

        return (yield from iter_k_sync(cfg, streams, chunk, full))
    # k-async with K = 1 is async record for record: the async path, unless a trace holds a compute time of 0
    # (which it cannot order; the batch loop can)
    if cfg.policy == "k-async" and (cfg.effective_k > 1 or cfg.times is not None and any(0 in t for t in cfg.times)):
        if cfg.effective_k == cfg.learners and cfg.times is None:  # K = P is sync, record for record
            from staleness.vectorised_sync import iter_k_sync

            return (yield from iter_k_sync(cfg, streams, chunk, full))
        from staleness.vectorised_kasync import iter_k_async

        return (yield from iter_k_async(cfg, streams, chunk, full))
    if cfg.policy == "ssp":
        from staleness.vectorised_ssp import iter_ssp

        return (yield from iter_ssp(cfg, streams, chunk, full))
    return (yield from _AsyncRun(cfg, streams, chunk, full).run())


class _AsyncRun:
    def __init__(self, cfg: SimConfig, streams: LearnerStreams, chunk: int, full: bool) -> None:
        self.cfg, self.streams, self.full = cfg, streams, full
        p = self.p = cfg.learners
        self.k = cfg.effective_k
        self.chunk = max(int(chunk), 4 * p)
        self.target = None if cfg.updates is None else cfg.updates * self.k  # pushes to process
        self.bits = (p - 1).bit_length()
        # learner ids in the narrowest type (repeated once per push in every chunk)
        self.ids = np.arange(p, dtype=np.uint8 if p <= 1 << 8 else np.uint16 if p <= 1 << 16 else np.int64)
        self.mask = (1 << self.bits) - 1
        self.buf = [np.empty(0)] * p  # drawn, not yet processed push times per learner (increasing)
        self.cum = [0.0] * p  # last push time drawn per learner
        self.exhausted = [False] * p
        self.prev_rank = np.full(p, -1, dtype=np.int64)  # global rank of each learner's last processed push
        self.last_push = np.zeros(p)  # its time (the read time of the learner's next gradient)
        self.done_count = np.zeros(p, dtype=np.int64)  # pushes processed per learner
        self.n_done = 0  # pushes processed
        self.ties: list[np.ndarray] = [np.empty(0)] * p  # random tie keys of the buffered pushes
        speeds = np.asarray(cfg._speeds)
        self.speeds = speeds
        # pushes per second: by the median time where a heavy tail puts the mean far above the bulk of the
        # draws (pareto near alpha = 1, lognormal with a large sigma), so a window holds about a chunk
        self.rate = float(speeds.sum()) / _typical_time(cfg) if cfg.times is None else math.inf
        self.carry: dict[str, np.ndarray] | None = None  # recorded rows of an incomplete batch
        self.last_t, self.last_learner = 0.0, -1  # time and learner of the last processed push
        # drawn times: a (P, width) array of buffered push times, the next unprocessed column per row, the
        # filled length per row, each row's last time, and the width of the window a chunk looks at
        self.refilled = False
        self.rows: list[np.ndarray] | None = None  # P <= _ROWS_MAX
        self.tie_rows: list[np.ndarray] | None = None
        self.b2: np.ndarray | None = None  # P > _ROWS_MAX
        self.t2: np.ndarray | None = None
        self.ptr = self.fill = np.zeros(p, dtype=np.int64)
        self.last = np.zeros(p)
        share = float(speeds.max() / speeds.sum()) if p else 1.0
        self.window = int(1.25 * self.chunk * share) + 32

    def _fill(self, i: int, horizon: float) -> None:
        """Draw learner i's compute times until its buffer passes ``horizon`` (or its trace ends)."""
        rounds = 0
        while not self.exhausted[i] and (len(self.buf[i]) == 0 or self.buf[i][-1] <= horizon):
            if self.cfg.times is not None:
                n = len(self.cfg.times[i])
            else:
                # draws for about four chunks at once: fewer, larger calls (the rest waits in the buffer);
                # doubled each round that falls short (heavy tails: typical draws far below the mean), so a
                # long gap costs O(log) rounds of copying, not one per mean-sized guess
                expect = (horizon - self.cum[i]) * self.speeds[i] / self.cfg.mean
                n = int(min(max(expect * 1.1 + 16, 16) * 2.0 ** min(rounds, 30), 1 << 24))
                rounds += 1
            x = self.streams.take_times(i, n)
            if len(x) < n:
                self.exhausted[i] = True
            if len(x) == 0:
                break
            if x.min() <= 0:
                raise ZeroComputeTime
            x[0] += self.cum[i]  # continue the running sum with the same additions, in the same order
            old = self.buf[i]
            if len(old):  # the sum goes straight behind the times still buffered: no second copy
                c = np.empty(len(old) + len(x))
                c[: len(old)] = old
                np.cumsum(x, out=c[len(old) :])
            else:
                c = np.cumsum(x)
            self.cum[i] = float(c[-1])
            self.buf[i] = c
            if self.cfg.tie_break == "random":
                t = self.streams.take_ties(i, len(x))
                self.ties[i] = np.concatenate([self.ties[i], t]) if len(self.ties[i]) else t

    def _take_lists(self, horizon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Traces: every learner's pushes up to ``horizon``, learner-major (times, sizes, tie keys)."""
        pieces, ties = [], []
        for i in range(self.p):
            self._fill(i, horizon)
            cut = int(np.searchsorted(self.buf[i], horizon, side="right"))
            pieces.append(self.buf[i][:cut])
            self.buf[i] = self.buf[i][cut:]
            if self.cfg.tie_break == "random":
                ties.append(self.ties[i][:cut])
                self.ties[i] = self.ties[i][cut:]
        sizes = np.fromiter((len(x) for x in pieces), dtype=np.int64, count=self.p)
        t = np.concatenate(pieces) if sizes.sum() else np.empty(0)
        tie = np.concatenate(ties) if ties and sizes.sum() else None if not ties else np.empty(0)
        return t, sizes, tie

    def _refill(self, horizon: float) -> None:
        """Drawn times: give every learner pushes past ``horizon`` plus up to 32 chunks (one Python call
        per learner per refill, not per chunk; at most ~4 M pushes buffered): one array per learner for
        few learners, else a (P, width) array padded with +inf for the gather."""
        p, cfg = self.p, self.cfg
        ahead = max(2, min(32, (1 << 22) // self.chunk)) * self.chunk  # pushes to draw past the horizon
        if self.target is not None:  # not far past the last push the run needs (a shortfall only refills again)
            ahead = min(ahead, int(1.02 * (self.target - self.n_done)) + 64 * p)
        target = horizon + ahead / self.rate
        rows, tie_rows = [], []
        for i in range(p):
            a = int(self.ptr[i])
            if self.rows is not None:
                self.buf[i] = self.rows[i][a:]
                if cfg.tie_break == "random":
                    self.ties[i] = self.tie_rows[i][a:]
            elif self.b2 is not None:
                self.buf[i] = self.b2[i, a : self.fill[i]]
                if cfg.tie_break == "random":
                    self.ties[i] = self.t2[i, a : self.fill[i]]
            self._fill(i, target)
            rows.append(self.buf[i])
            if cfg.tie_break == "random":
                tie_rows.append(self.ties[i])
            self.buf[i] = self.ties[i] = np.empty(0)
        self.fill = np.array([len(r) for r in rows], dtype=np.int64)
        self.ptr = np.zeros(p, dtype=np.int64)
        self.last = np.array([r[-1] for r in rows])  # drawn times never run out: every row is filled
        if p <= _ROWS_MAX:
            self.rows, self.tie_rows = rows, tie_rows or None
            return
        width = max(len(r) for r in rows)
        self.b2 = np.empty((p, width))
        self.t2 = np.empty((p, width)) if tie_rows else None
        for i, r in enumerate(rows):
            self.b2[i, : len(r)] = r
            self.b2[i, len(r) :] = np.inf
            if tie_rows:
                self.t2[i, : len(r)] = tie_rows[i]
                self.t2[i, len(r) :] = 0.0

    def _take_2d(self, horizon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Drawn times: every learner's pushes up to ``horizon``, from each row (few learners: one binary
        search per row beats any gather) or gathered from a window of each row."""
        if not self.refilled or bool((self.last <= horizon).any()):
            self._refill(horizon)
            self.refilled = True
        if self.rows is not None:
            pieces, ties, sizes = [], [], np.empty(self.p, dtype=np.int64)
            for i, (row, a) in enumerate(zip(self.rows, self.ptr.tolist(), strict=True)):
                b = int(row.searchsorted(horizon, side="right"))  # the row's times only grow: >= a
                sizes[i] = b - a
                pieces.append(row[a:b])
                if self.tie_rows is not None:
                    ties.append(self.tie_rows[i][a:b])
            self.ptr += sizes
            return np.concatenate(pieces), sizes, np.concatenate(ties) if ties else None
        width = self.b2.shape[1]
        while True:
            idx = np.minimum(self.ptr[:, None] + np.arange(self.window), width - 1)
            idx += (np.arange(self.p) * width)[:, None]  # flat positions: one 1-d take
            win = self.b2.ravel().take(idx)
            mask = win <= horizon
            sizes = mask.sum(axis=1)
            if not bool((sizes == self.window).any()):
                break
            self.window *= 2  # a row had more pushes in this chunk than the window holds
        tie = self.t2.ravel().take(idx)[mask] if self.t2 is not None else None
        self.ptr += sizes
        return win[mask], sizes.astype(np.int64), tie

    def _head(self, i: int) -> float:
        """Learner i's next unprocessed push time (nan when there is none)."""
        if self.cfg.times is None and self.refilled:
            if self.ptr[i] >= self.fill[i]:
                return math.nan
            return float(self.rows[i][self.ptr[i]] if self.rows is not None else self.b2[i, self.ptr[i]])
        return float(self.buf[i][0]) if len(self.buf[i]) else math.nan

    def run(self) -> Iterator[Block]:
        cfg = self.cfg
        until = cfg.until
        horizon = 0.0
        take = self._take_lists if cfg.times is not None else self._take_2d
        while True:
            horizon = math.inf if self.rate == math.inf else horizon + self.chunk / self.rate
            if until is not None:
                horizon = min(horizon, float(until))
            t_lm, sizes, ties = take(horizon)
            final = yield from self._chunk(t_lm, sizes, ties, horizon)
            if final is not None:
                return final

    def _order(self, t_lm: np.ndarray, learner_lm: np.ndarray, sec_lm: np.ndarray | None) -> tuple:
        return merge_order(t_lm, learner_lm, sec_lm, self.p)

    def _chunk(self, t_lm: np.ndarray, sizes: np.ndarray, ties: np.ndarray | None, horizon: float):
        cfg, p, k = self.cfg, self.p, self.k
        total = int(sizes.sum())
        learner_lm = np.repeat(self.ids, sizes)
        nonempty = np.flatnonzero(sizes)
        starts = np.cumsum(sizes) - sizes
        first_lm = starts[nonempty]  # each learner's first push of the chunk, read at its last one before

        def read_times() -> np.ndarray:  # a gradient is read at its learner's previous push
            read = np.empty(total)
            read[1:] = t_lm[:-1]
            read[first_lm] = self.last_push[nonempty]
            return read

        # fifo's key is the read time; it is only looked at where push times collide (built then)
        sec = read_times if cfg.tie_break == "fifo" else ties if cfg.tie_break == "random" else None
        if total:
            learner_s, rank, order = self._order(t_lm, learner_lm, sec)
        else:
            learner_s, rank, order = np.empty(0, dtype=np.uint16), np.empty(0, dtype=np.int64), None
        take = total if self.target is None else min(total, self.target - self.n_done)
        n0 = self.n_done
        grank = rank + n0
        # compute time = push - read, staleness from the previous push's rank: differences along each learner's
        # run, its first push against the last one of the previous chunk (no shifted copies)
        ct_lm = np.empty(total)
        np.subtract(t_lm[1:], t_lm[:-1], out=ct_lm[1:])
        ct_lm[first_lm] = t_lm[first_lm] - self.last_push[nonempty]
        if k == 1:
            stale_lm = np.empty(total, dtype=np.int64)
            np.subtract(rank[1:], rank[:-1], out=stale_lm[1:])
            stale_lm[first_lm] = grank[first_lm] - self.prev_rank[nonempty]
            stale_lm -= 1
            prev = None
        else:
            prev = np.empty(total, dtype=np.int64)
            prev[1:] = grank[:-1]
            prev[first_lm] = self.prev_rank[nonempty]
            stale_lm = grank // k - (prev + 1) // k
        processed = rank < take if take < total else None
        if self.full:  # every column, in apply order
            if order is None:
                order = np.empty(total, dtype=np.int64)
                order[rank] = np.arange(total)
            o = order[:take]
            idx = np.arange(total, dtype=np.int64) - np.repeat(starts - self.done_count, sizes)
            if prev is None:
                prev = grank - 1 - stale_lm
            cols = {"learner": learner_s[:take].astype(np.int64), "compute_time": ct_lm[o],
                    "staleness": stale_lm[o], "push_time": t_lm[o], "index": idx[o], "read_time": read_times()[o],
                    "read_version": ((prev + 1) // k)[o]}
        else:  # the summary's columns, grouped by learner (each learner's rows in order)
            sel = slice(None) if processed is None else processed
            cols = {"learner": learner_lm[sel], "compute_time": ct_lm[sel], "staleness": stale_lm[sel],
                    "grank": grank[sel]}
        # bookkeeping for the next chunk (pushes past `take` are never processed: the run stops there)
        done_here = sizes if processed is None else np.bincount(learner_lm[processed], minlength=p)
        last = starts + done_here - 1
        has = np.flatnonzero(done_here)
        self.prev_rank[has] = grank[last[has]]
        self.last_push[has] = t_lm[last[has]]
        self.done_count += done_here
        self.n_done += take
        if take:  # the last processed push is its learner's last processed one
            li = int(learner_s[take - 1])
            self.last_t, self.last_learner = float(t_lm[last[li]]), li
        stop = (self.target is not None and self.n_done >= self.target) or cfg.until is not None and (
            horizon >= cfg.until) or (cfg.times is not None or all(self.exhausted)) and not any(
            len(b) for b in self.buf)
        block = self._emit(cols, n0, rank, t_lm)
        if block is not None:
            yield block
        if not stop:
            return None
        return self._finish(t_lm, starts, done_here, sizes)

    def _emit(self, cols: dict, n0: int, rank: np.ndarray, t_lm: np.ndarray) -> Block | None:
        """Whole batches of records as a block; the rows of an incomplete batch wait for the next chunk."""
        k = self.k
        first = n0
        carry = self.carry
        if carry is not None and len(carry["learner"]):
            cols = {name: np.concatenate([carry[name], v]) for name, v in cols.items()}
            first -= len(carry["learner"])
        whole = self.n_done // k * k  # pushes that are in a complete batch
        if self.full:
            n_whole = whole - first
            self.carry = {name: v[n_whole:] for name, v in cols.items()}
            out = {name: v[:n_whole] for name, v in cols.items()}
            return make_block(out, first, k) if n_whole else None
        if k > 1:
            keep = cols["grank"] < whole
            self.carry = {name: v[~keep] for name, v in cols.items()}
            cols = {name: v[keep] for name, v in cols.items()}
        else:
            self.carry = {name: v[:0] for name, v in cols.items()}
        if not len(cols["learner"]):
            return None
        first_update = first // k + 1
        n_updates = whole // k - first // k

        last_rank, last_t = self.n_done - 1, self.last_t

        def time_of(v: int) -> float:  # update v is completed by the push of global rank v K - 1
            if v * k - 1 == last_rank:  # the last processed push (the usual question: a block's last update)
                return last_t
            return float(t_lm[np.flatnonzero(rank == v * k - 1 - n0)[0]])

        update = cols["grank"] // k + 1 if k > 1 else cols["grank"] + 1
        return Block(cols["learner"], cols["compute_time"], cols["staleness"], update, None, first_update,
                     n_updates, time_of, ordered=False)

    def _finish(self, t_lm, starts, done_here, sizes) -> tuple[float, np.ndarray]:
        """End time and the compute time of gradients not recorded (waiting in a batch, or in flight)."""
        cfg, p = self.cfg, self.p
        stopped = self.target is not None and self.n_done >= self.target
        # the limit, else the last update, or (traces used up) the last push: the engine's last event
        end = float(cfg.until) if cfg.until is not None else self.last_t
        # pushes waiting for their batch reached the server by `end`: their whole compute time counts
        pend_l = self.carry["learner"].astype(np.int64)
        pend_v = self.carry["compute_time"]
        # in flight: each learner's first unprocessed push, read at its last processed one
        nxt = np.full(p, np.nan)
        inside = done_here < sizes
        nxt[inside] = t_lm[(starts + done_here)[inside]]
        for i in np.flatnonzero(~inside):
            nxt[i] = self._head(i)
        if stopped:
            nxt[self.last_learner] = np.nan
        fl = np.flatnonzero(~np.isnan(nxt))
        fl_v = np.maximum(0.0, np.minimum(end, nxt[fl]) - self.last_push[fl])
        learner = np.concatenate([pend_l, fl])
        value = np.concatenate([pend_v, fl_v])
        seq = np.argsort(learner, kind="stable")  # per learner: waiting ones (index order), then in flight
        busy = np.zeros(p)
        np.add.at(busy, learner[seq], value[seq])
        busy.setflags(write=False)
        return end, busy

