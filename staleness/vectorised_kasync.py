"""k-async without the event engine, batch by batch, equal to it record for record (see :func:`iter_k_async`).

With no latencies and no apply time, batch b of k-async is the K gradients that reach the server first
among the P in flight when batch b - 1 completed: nothing is scheduled between two completions (only the
K pushers of a batch restart, when it completes). So the engine's order of events is "take the K
smallest in-flight keys, restart those K learners at the K-th's time T_b (they read version b + 1; their
next push is T_b + x, x their next draw), repeat". This holds for compute times of 0 too: a restart is
scheduled after the K-th pop, so it can only be popped in a later batch, as in the engine. A learner
whose trace is used up does not restart; a run whose in-flight gradients cannot fill a batch pushes them
and ends.

A learner restarts only when its batch completes, so each learner has one known future push at a time:
there is nothing to merge in bulk as on the async path. The sequential part is therefore a loop over
batches on plain Python floats, kept as small as possible, with no event objects: the in-flight push
times in a heap (K = 2, drawn times: :func:`_fast2`) or a sorted list (:func:`_fast`), and a dict from
push time to learner; from K = :data:`WIDE` on, one numpy sort of the P times per batch instead
(:func:`_wide`). When the in-flight times are distinct the K smallest times are the K smallest keys
whatever the tie-break, so these never look at a tie key; a restart that may collide with an in-flight
time ends the piece, and the next piece runs on an exact heap of the engine's keys (time, tie key,
learner) until the times are distinct again (:func:`_exact`; the tie keys: ``fifo`` the read time,
``learner`` none, ``random`` the gradient's draw from its own stream). Everything else about a record (index, read time and version, staleness, compute time) follows
from the pop order in numpy, per piece of about ``chunk`` gradients. Memory O(P + chunk).

K = 1 is async and K = P (drawn times) is sync, record for record; :mod:`staleness.vectorised` sends
those to the async and k-sync paths.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=5, policy="k-async", k=2, dist="exp", updates=50, seed=1)
>>> simulate(cfg, engine="vectorised", chunk=3).gradients == simulate(cfg, engine="event").gradients
True
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams, TieKeys
from staleness.stream import Block, make_block

__all__ = ["iter_k_async", "WIDE"]

#: From this K on, a batch is chosen by one numpy sort of the P in-flight times instead of the Python loop.
WIDE = 128


class _Draws:
    """Learner i's compute times one at a time (``nxt[i]()``), drawn ``block`` at a time; its tie keys by index."""

    def __init__(self, streams: LearnerStreams, p: int, block: int) -> None:
        self.streams, self.block = streams, block
        self.nxt = [iter(()).__next__] * p
        self.out = [False] * p  # trace used up
        self.tie = TieKeys(streams, p)  # learner i's tie key of its gradient j: tie(i, j)

    def refill(self, i: int) -> float | None:
        """Learner i's next compute time after its buffer ran dry (None: its trace is used up)."""
        if self.out[i]:
            return None
        x = self.streams.take_times(i, self.block).tolist()
        if len(x) < self.block:
            self.out[i] = True
        if not x:
            return None
        it = iter(x)
        self.nxt[i] = it.__next__
        return next(it)


def iter_k_async(cfg: SimConfig, streams: LearnerStreams, chunk: int, full: bool) -> Iterator[Block]:
    """Blocks of whole batches in arrival order; returns (end_time, inflight_busy) as the engine does."""
    p, k = cfg.learners, cfg.effective_k
    per = max(1, chunk // k)  # batches per piece
    draws = _Draws(streams, p, max(16, min(4096, chunk // p)))  # O(chunk + 16 P) Python floats
    horizon = math.inf if cfg.until is None else float(cfg.until)
    left = cfg.updates  # batches still to apply (None: no limit)
    count = np.zeros(p, dtype=np.int64)  # gradients recorded per learner = index of its unrecorded one
    read_t = np.zeros(p)  # read time of each learner's unrecorded gradient
    read_v = np.zeros(p, dtype=np.int64)
    flight: list[tuple[float, int]] = []  # (push time, learner) of the unrecorded gradients
    for i in range(p):
        x = draws.refill(i)
        if x is not None:
            flight.append((0.0 + x, i))  # start 0 + pull 0, end + push 0: the engine's additions
    version = 0
    last_t = 0.0  # time of the last event (the end of a run whose traces ran out)
    while True:
        nb = per if left is None else min(per, left)
        times: list[float] = []
        learners: list[int] = []
        final = left is not None and nb == left  # no restarts after the run's last update
        distinct = len({t for t, _ in flight}) == len(flight)
        run = (_wide if k >= WIDE else _fast) if distinct else _exact
        flight, done, ended = run(flight, nb, k, horizon, final, times, learners, draws, cfg.tie_break,
                                  count, read_t)
        n = done * k
        if n:
            last_t = times[n - 1]
            whole = n == len(times)  # (no slice copy in the usual case)
            yield _block(np.array(times if whole else times[:n]),
                         np.array(learners if whole else learners[:n], dtype=np.int64), version, k, count, read_t,
                         read_v, full)
        version += done
        if left is not None:
            left -= done
        pending = list(zip(times[n:], learners[n:], strict=True))  # pushed, batch incomplete: the run ended
        if pending:
            last_t = pending[-1][0]
        if ended or (left is not None and left == 0):
            break
    # the limit; else the last event: the last update, or (traces used up) the last push
    end = horizon if cfg.until is not None else last_t
    busy = np.zeros(p)
    for t, i in flight + pending:
        busy[i] = max(0.0, min(end, t) - read_t[i])
    busy.setflags(write=False)
    return end, busy


def _fast(flight, nb, k, horizon, final, times, learners, draws, tie_break, count, read_t):
    """Up to ``nb`` batches on distinct in-flight times; stops early at a collision (after its batch)."""
    if k == 2 and draws.streams.traces is None:
        return _fast2(flight, nb, horizon, final, times, learners, draws)
    d = dict(flight)  # push time -> learner; served times stay (a restart is later, unless its time is 0)
    s = sorted(d)
    insort, get = bisect.insort, d.__getitem__
    nxt, refill = draws.nxt, draws.refill
    et, el = times.extend, learners.extend
    km1 = k - 1
    clash: list[tuple[float, int]] = []
    done, ended = 0, False
    for _ in range(nb - 1 if final else nb):
        if len(s) < k or s[km1] > horizon:
            ended = True
            break
        batch = s[:k]
        del s[:k]
        ls = list(map(get, batch))
        et(batch)
        el(ls)
        done += 1
        big_t = batch[-1]
        for i in ls:
            try:
                a = big_t + nxt[i]()
            except StopIteration:
                x = refill(i)
                if x is None:
                    continue
                a = big_t + x
            if a in d:  # may tie with a gradient in flight: the exact loop takes it
                clash.append((a, i))
                continue
            d[a] = i
            insort(s, a)
        if clash:
            break
    else:
        if final:
            if len(s) < k or s[km1] > horizon:
                ended = True
            else:
                batch = s[:k]
                del s[:k]
                et(batch)
                el(list(map(get, batch)))
                done += 1
    if ended:  # the pushes before the horizon that cannot fill a batch: popped, never applied
        while s and s[0] <= horizon:
            t = s.pop(0)
            times.append(t)
            learners.append(d[t])
    return [(t, d[t]) for t in s] + clash, done, ended


def _fast2(flight, nb, horizon, final, times, learners, draws):
    """:func:`_fast` for K = 2 and drawn times (every learner always in flight, P >= 3), the commonest case,
    kept lean (five calls per batch): a heap of floats; the second restart waits outside it until the next
    batch pushes it and pops the smallest in one call, the first replaces the batch's second push. The dict
    keeps the push times already served (a restart is later than all of them unless its compute time is 0,
    which then only sends the piece to the exact loop)."""
    d = dict(flight)
    h = list(d)
    heapq.heapify(h)
    b = h.pop()  # a leaf: h stays a heap; b is pushed by the first heappushpop
    pop, push, rep, pushpop = heapq.heappop, heapq.heappush, heapq.heapreplace, heapq.heappushpop
    nxt, refill = draws.nxt, draws.refill
    rec: list = []  # u, T, i, j per batch
    ext = rec.extend
    clash: list[tuple[float, int]] = []
    ended = False
    for _ in range(nb - 1 if final else nb):
        u = pushpop(h, b)
        big_t = h[0]
        if big_t > horizon:
            push(h, u)
            b, ended = None, True
            break
        i, j = d[u], d[big_t]
        ext((u, big_t, i, j))
        try:
            a = big_t + nxt[i]()
        except StopIteration:
            a = big_t + refill(i)
        try:
            b = big_t + nxt[j]()
        except StopIteration:
            b = big_t + refill(j)
        if a in d or b in d or a == b:  # may tie with a push in flight: the exact loop takes these two
            pop(h)
            clash += ((a, i), (b, j))
            b = None
            break
        d[a] = i
        d[b] = j
        rep(h, a)
    if b is not None:
        push(h, b)
    if final and not ended and not clash:
        u = pop(h)
        if h[0] > horizon:
            push(h, u)
            ended = True
        else:
            big_t = pop(h)
            ext((u, big_t, d[u], d[big_t]))
    m = len(rec) // 4
    tt, ll = [0.0] * (2 * m), [0] * (2 * m)
    tt[0::2], tt[1::2], ll[0::2], ll[1::2] = rec[0::4], rec[1::4], rec[2::4], rec[3::4]
    times.extend(tt)
    learners.extend(ll)
    if ended:  # the push before the horizon that cannot fill a batch: popped, never applied
        while h and h[0] <= horizon:
            t = pop(h)
            times.append(t)
            learners.append(d[t])
    return [(t, d[t]) for t in h] + clash, m, ended


def _wide(flight, nb, k, horizon, final, times, learners, draws, tie_break, count, read_t):
    """:func:`_fast` for wide batches: one sort of the P in-flight times per batch in numpy. Stops before a
    batch whose in-flight times are not distinct (the exact loop takes over)."""
    pt = np.full(len(count), np.inf)  # push time per learner (inf: none in flight)
    if flight:
        f = np.array(flight)
        pt[f[:, 1].astype(np.int64)] = f[:, 0]
    nxt, refill = draws.nxt, draws.refill
    got_t, got_l = [], []
    done, ended = 0, False
    for b in range(nb):
        order = np.argsort(pt)
        srt = pt[order]
        same = srt[1:] == srt[:-1]
        if same.any() and np.isfinite(srt[1:][same]).any():
            break  # equal in-flight times: the tie-break decides, the exact loop takes over
        big_t = float(srt[k - 1])
        if not big_t <= horizon or big_t == math.inf:
            ended = True
            below = int(np.searchsorted(srt, horizon, side="right"))
            below = min(below, int(np.isfinite(srt).sum()))
            got_t.append(srt[:below])
            got_l.append(order[:below])
            pt[order[:below]] = np.inf
            break
        ls = order[:k]
        got_t.append(srt[:k])
        got_l.append(ls)
        pt[ls] = np.inf
        done += 1
        if final and b == nb - 1:
            break
        xs, kept = [], []
        for i in ls.tolist():
            try:
                x = nxt[i]()
            except StopIteration:
                x = refill(i)
                if x is None:  # a used-up trace: this learner stops
                    continue
            xs.append(x)
            kept.append(i)
        pt[kept] = big_t + np.array(xs)
    if got_t:
        times.extend(np.concatenate(got_t).tolist())
        learners.extend(np.concatenate(got_l).tolist())
    live = np.flatnonzero(np.isfinite(pt))
    return list(zip(pt[live].tolist(), live.tolist(), strict=True)), done, ended


def _exact(flight, nb, k, horizon, final, times, learners, draws, tie_break, count, read_t):
    """Up to ``nb`` batches on a heap of the engine's keys: (push time, tie key, learner)."""
    started = count.tolist()  # index of each learner's unrecorded gradient, then of its next one
    fifo, rand = tie_break == "fifo", tie_break == "random"

    def sec(i: int, read: float) -> float:
        return read if fifo else draws.tie(i, started[i]) if rand else 0.0

    rt = read_t.tolist()
    h = [(t, sec(i, rt[i]), i) for t, i in flight]
    heapq.heapify(h)
    pop, push = heapq.heappop, heapq.heappush
    nxt, refill = draws.nxt, draws.refill
    done, ended = 0, False
    for b in range(nb):
        batch = []
        while len(batch) < k and h and h[0][0] <= horizon:
            batch.append(pop(h))
        times.extend(e[0] for e in batch)
        learners.extend(e[2] for e in batch)
        if len(batch) < k:
            ended = True
            break
        done += 1
        if final and b == nb - 1:
            break
        big_t = batch[-1][0]
        for _, _, i in batch:
            started[i] += 1
            try:
                x = nxt[i]()
            except StopIteration:
                x = refill(i)
                if x is None:
                    continue
            push(h, (big_t + x, sec(i, big_t), i))
    return [(t, i) for t, _, i in h], done, ended


def _block(t: np.ndarray, who: np.ndarray, version: int, k: int, count: np.ndarray, read_t: np.ndarray,
           read_v: np.ndarray, full: bool) -> Block:
    """Records of whole batches ``version + 1 ..`` from their pop order (kept: in that order; else grouped by
    learner, each learner's rows in order, as the summary needs); updates the per-learner state."""
    n = len(t)
    batch = np.arange(n) // k
    done_t = t[k - 1 :: k]  # update times
    # each learner's records in their order (a radix sort on narrow ids)
    order = np.argsort(who.astype(np.uint8 if len(count) <= 1 << 8 else np.uint16 if len(count) <= 1 << 16
                                  else np.int64), kind="stable")
    w, bo = who[order], batch[order]
    first = np.ones(n, dtype=bool)
    first[1:] = w[1:] != w[:-1]
    prev = np.empty(n, dtype=np.int64)  # batch of the learner's previous record (-1: before this piece)
    prev[1:] = bo[:-1]
    prev[first] = -1
    rt = np.where(first, read_t[w], done_t[np.maximum(prev, 0)])  # read when that batch completed
    rv = np.where(first, read_v[w], version + prev + 1)
    starts = np.flatnonzero(first)
    last = np.append(starts[1:], n) - 1  # each learner's last record in this piece
    if full:
        occ = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
        read_time, read_version, index = np.empty(n), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        read_time[order], read_version[order], index[order] = rt, rv, count[w] + occ  # back to arrival order
        cols = {"learner": who, "index": index, "read_time": read_time, "read_version": read_version,
                "push_time": t, "compute_time": t - read_time, "staleness": version + batch - read_version}
    li = w[last]
    count += np.bincount(who, minlength=len(count))
    read_t[li] = done_t[bo[last]]
    read_v[li] = version + bo[last] + 1
    if full:  # compute start = read time (no pull); end = push (no push latency)
        return make_block(cols, version * k, k)
    first_update = version + 1
    done_t.setflags(write=False)
    return Block(w, t[order] - rt, version + bo - rv, version + bo + 1, None, first_update, len(done_t),
                 lambda v: float(done_t[v - first_update]), ordered=False)
