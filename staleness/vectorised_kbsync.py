"""k-batch-sync without the event engine, iteration by iteration, equal to it record for record (see
:func:`iter_k_batch_sync`).

With no latencies and no apply time, iteration j of k-batch-sync starts every learner at u_j (the previous
update) on version j: learner i pushes at u_j + x, x its next draw. A learner among the first K - 1 pushes
restarts at once on the same version (push time t + x', x' its next draw); the K-th push, at T_j, completes
the update, every gradient still in flight is discarded, and iteration j + 1 starts at u_{j+1} = T_j. So
iteration j is "the K smallest pushes of P merged running sums", and learner i uses 1 + (its pushes among
the first K - 1) draws in it: where its next iteration starts in its stream depends on this one, which is
why the iterations are taken one at a time, in a Python loop on plain floats with no event objects
(:func:`_scan`): the P pushes in flight in a list, each of the K pops one ``min`` over it (from K = 8
among P >= 64 learners a heap of floats, :func:`_heap`). When a minimum is not unique the tie-break
decides (with drawn times: the ``constant`` law, or a draw of 0), and the rest of that iteration runs on
an exact heap of the engine's keys (time, tie key, learner) (:func:`_exact_rest`; the tie keys: ``fifo``
the read time, ``learner`` none, ``random`` the gradient's draw from its own stream). K = 2, the commonest
case, first runs each piece with no tie checks at all (:func:`_fast2`: one ``zip`` call takes every
learner's next draw, the first pop is the smallest, the second the earlier of its restart and the next
smallest of the others, as u + x grows with x) and checks the records afterwards: within every iteration
the pops must come in strictly increasing times and every discarded push must be later than the update;
else the piece runs again, from the same draws, on the exact loop. The records (index, read and push
times, compute time, discarded or applied) follow from the pops and the draws in numpy, per piece of
about ``chunk`` records (:func:`_piece`).

K = 1 is k-sync record for record (nothing restarts): :mod:`staleness.vectorised` sends it to that path.

Examples
--------
>>> from staleness import SimConfig, simulate
>>> cfg = SimConfig(learners=5, policy="k-batch-sync", k=3, dist="exp", updates=40, seed=1)
>>> simulate(cfg, engine="vectorised", chunk=7).gradients == simulate(cfg, engine="event").gradients
True
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams, TieKeys
from staleness.result import Gradients
from staleness.stream import Block, block_of

__all__ = ["iter_k_batch_sync", "HEAP_K", "HEAP_P"]

#: From K = HEAP_K pops among P >= HEAP_P learners an iteration runs on a heap (O(P + K log P)) instead of K
#: scans of the P push times (O(K P), faster for few pops or few learners).
HEAP_K, HEAP_P = 8, 64


class _Streams:
    """Learner i's compute times one at a time (``nxt[i]()``; every learner's next at once: ``row()``): each
    piece of r iterations starts with at least r + ``spare`` of them buffered per learner (one first draw
    per iteration), and a learner whose restarts use up its spare is topped up (:meth:`top_up`); the same
    numbers as arrays from the piece's start (:meth:`matrix`, for the records; :meth:`rewind` to run the
    piece again). Also the gradients' random tie keys by index."""

    def __init__(self, streams: LearnerStreams, p: int) -> None:
        self.streams, self.p = streams, p
        self.its = [iter(())] * p
        self.nxt = [it.__next__ for it in self.its]
        self.arr = [np.empty(0)] * p
        self.row = zip(*self.its, strict=True).__next__  # the next draw of every learner, as a tuple
        self.lim = [0] * p  # restarts learner i may make in this piece before a top-up
        self.tie = TieKeys(streams, p)  # learner i's tie key of its gradient j: tie(i, j)

    def piece(self, rows: int, spare: int, used: list[int]) -> None:
        """Buffer at least ``rows + spare`` times per learner for the next ``rows`` iterations, after the
        ``used[i]`` that learner i took in the piece before."""
        take = self.streams.take_times
        for i in range(self.p):
            rest = self.arr[i][used[i] :]
            if len(rest) < rows + spare:
                rest = np.concatenate([rest, take(i, rows + 2 * spare - len(rest))])
            self.arr[i] = rest
        self.rewind(rows)

    def rewind(self, rows: int) -> None:
        """Back to the start of this piece (its draws again, top-ups included)."""
        for i, a in enumerate(self.arr):
            self.its[i] = it = iter(a.tolist())
            self.nxt[i] = it.__next__
            self.lim[i] = len(a) - rows
        self.row = zip(*self.its, strict=True).__next__

    def top_up(self, i: int, cont: list[int], spare: int) -> None:
        """Learner i restarted ``lim[i]`` times in this piece: give it ``spare`` more times behind its buffer."""
        more = self.streams.take_times(i, spare)
        self.arr[i] = np.concatenate([self.arr[i], more])
        self.its[i] = it = iter(list(self.its[i]) + more.tolist())
        self.nxt[i] = it.__next__
        self.lim[i] = cont[i] + spare
        self.row = zip(*self.its, strict=True).__next__

    def matrix(self) -> np.ndarray:
        """(P, width) array of each learner's times from the start of this piece (padded with nan)."""
        b = np.full((self.p, max(len(a) for a in self.arr)), np.nan)
        for i, a in enumerate(self.arr):
            b[i, : len(a)] = a
        return b


def iter_k_batch_sync(cfg: SimConfig, streams: LearnerStreams, chunk: int, full: bool) -> Iterator[Block]:
    """Blocks of whole iterations in record order (per iteration: the P - 1 discarded gradients in learner
    order, then the K applied in arrival order); returns (end_time, inflight_busy) as the engine does."""
    p, k = cfg.learners, cfg.effective_k
    rows = max(1, chunk // (p + k - 1))  # iterations per piece
    spare = 2 * (rows * (k - 1)) // p + 16
    draws = _Streams(streams, p)
    horizon = math.inf if cfg.until is None else float(cfg.until)
    base = np.zeros(p, dtype=np.int64)  # gradients started per learner before this piece
    u, done = 0.0, 0  # start of the next iteration, iterations finished
    used = [0] * p  # draws each learner took in the last piece
    fast = k < HEAP_K or p < HEAP_P  # the scans (the heap checks its ties as it goes)
    while True:
        r = rows if cfg.updates is None else min(rows, cfg.updates - done)
        draws.piece(r, spare, used)
        block = None
        if fast:  # first with no tie checks; the records check them (else: the piece again, exactly)
            cont, pl, pt, ct = [0] * p, [], [], []
            if _fast2(r, u, horizon, draws, cont, spare, pl, pt, ct) if k == 2 else _fastk(
                    r, u, k, horizon, draws, cont, spare, pl, pt, ct):
                block = _piece(draws.matrix(), pl, pt, ct, u, done, base, k, full, check=True)
                fast = block is not None  # a tie (the constant law, a draw of 0): the exact loop from now on
            if block is None:
                draws.rewind(r)
        live = None
        if block is None:
            cont = [0] * p  # restarts per learner in this piece
            pl: list[int] = []  # pop learners, K per iteration
            pt: list[float] = []  # pop times
            ct: list[float] = []  # push time of the restart after each of the first K - 1 pops
            live = _scan(r, u, k, horizon, draws, cont, spare, cfg.tie_break, base, pl, pt, ct)
        n_it = len(pl) // k
        if n_it:
            if block is None:
                block = _piece(draws.matrix(), pl[: n_it * k], pt[: n_it * k], ct[: n_it * (k - 1)], u, done, base,
                               k, full)
            yield block
            u = pt[n_it * k - 1]
        done += n_it
        if live is not None:  # stopped by `until` inside iteration n_it (in progress)
            end = horizon
            busy = _busy_in_progress(live, pl[n_it * k :], pt[n_it * k :], u, end)
            break
        if cfg.updates is not None and done >= cfg.updates:
            end, busy = u, np.zeros(p)
            break
        used = [r + c for c in cont]
    busy.setflags(write=False)
    return end, busy


def _fast2(r, u, horizon, draws, cont, spare, pl, pt, ct) -> bool:
    """r iterations of K = 2 as if every time compared were distinct (no tie checks, which
    :func:`_piece` makes afterwards on the whole piece); False when the horizon comes first (the exact
    loop then runs the piece). The first pop is the smallest draw of the row (u + x grows with x), the
    second the earlier of its restart and the next smallest of the others."""
    nxt, lim, row = draws.nxt, draws.lim, draws.row
    add_l, add_t, add_c = pl.append, pt.append, ct.append
    for _ in range(r):
        xs = row()
        x = min(xs)
        i = xs.index(x)
        m = u + x
        if cont[i] == lim[i]:
            draws.top_up(i, cont, spare)
            row = draws.row
        cont[i] += 1
        c = m + nxt[i]()
        y = min(xs[:i] + xs[i + 1 :])
        a = u + y
        if c < a:
            u, j = c, i
        else:
            u, j = a, xs.index(y)
        if u > horizon:
            return False
        add_l(i)
        add_l(j)
        add_t(m)
        add_t(u)
        add_c(c)
    return True


def _fastk(r, u, k, horizon, draws, cont, spare, pl, pt, ct) -> bool:
    """:func:`_fast2` for any K: the K pops of each iteration by scans of the pushes in flight, with no tie
    checks (:func:`_piece` makes them afterwards); False when the horizon comes first."""
    nxt, lim = draws.nxt, draws.lim
    add_l, add_t, add_c = pl.append, pt.append, ct.append
    restarts = range(k - 1)
    for _ in range(r):
        g = [u + n() for n in nxt]
        for _ in restarts:
            m = min(g)
            i = g.index(m)
            add_l(i)
            add_t(m)
            if cont[i] == lim[i]:
                draws.top_up(i, cont, spare)
            cont[i] += 1
            g[i] = c = m + nxt[i]()
            add_c(c)
        u = min(g)
        if u > horizon:
            return False
        add_l(g.index(u))
        add_t(u)
    return True


def _scan(r, u, k, horizon, draws, cont, spare, tie_break, base, pl, pt, ct):
    """Up to r iterations from u; appends their first pushes and pops. Returns None, or the live push times
    of an iteration stopped by the horizon (its pops so far are appended, its restarts too)."""
    nxt, lim = draws.nxt, draws.lim
    add_l, add_t, add_c = pl.append, pt.append, ct.append
    if k >= HEAP_K and len(nxt) >= HEAP_P:
        return _heap(r, u, k, horizon, draws, cont, spare, tie_break, base, pl, pt, ct)
    km1 = k - 1
    for jl in range(r):
        # the learners' first pushes, then the push in flight of each (the records take the first pushes
        # from the draws again, in numpy)
        g = [u + n() for n in nxt]
        q = 0
        while True:
            m = min(g)
            if m > horizon:
                return g
            i = g.index(m)
            if g.count(m) != 1:  # the tie-break decides: the engine's keys for the rest of the iteration
                g = _exact_rest(q, g, u, jl, k, horizon, draws, cont, spare, tie_break, base, pl, pt, ct)
                if g is not None:
                    return g
                break
            add_l(i)
            add_t(m)
            if q == km1:
                break
            if cont[i] == lim[i]:
                draws.top_up(i, cont, spare)
            cont[i] += 1
            g[i] = c = m + nxt[i]()
            add_c(c)
            q += 1
        u = pt[-1]
    return None


def _heap(r, u, k, horizon, draws, cont, spare, tie_break, base, pl, pt, ct):
    """:func:`_scan` for many pops among many learners: the live push times in a heap of floats and a dict
    from push time to learner (a restart whose time is already in it, or equal first pushes, may tie: the
    exact heap takes the rest of that iteration)."""
    nxt, lim = draws.nxt, draws.lim
    add_l, add_t, add_c = pl.append, pt.append, ct.append
    pop, push = heapq.heappop, heapq.heappush
    p, km1 = len(nxt), k - 1
    ids = range(p)
    for jl in range(r):
        g = [u + n() for n in nxt]
        d = dict(zip(g, ids, strict=True))
        q = 0
        tie = len(d) < p
        if not tie:
            h = g[:]
            heapq.heapify(h)
            while True:
                m = h[0]
                if m > horizon:
                    return g
                pop(h)
                i = d[m]
                add_l(i)
                add_t(m)
                if q == km1:
                    break
                if cont[i] == lim[i]:
                    draws.top_up(i, cont, spare)
                cont[i] += 1
                g[i] = c = m + nxt[i]()
                add_c(c)
                q += 1
                if c in d:
                    tie = True
                    break
                d[c] = i
                push(h, c)
        if tie:  # a possible tie: the engine's keys for the rest of the iteration
            g = _exact_rest(q, g, u, jl, k, horizon, draws, cont, spare, tie_break, base, pl, pt, ct)
            if g is not None:
                return g
        u = pt[-1]
    return None


def _exact_rest(q, g, u, jl, k, horizon, draws, cont, spare, tie_break, base, pl, pt, ct):
    """Pops q .. K - 1 of the current iteration on a heap of the engine's keys (time, tie key, learner);
    returns None, or the live push times when the horizon stops it."""
    p = len(g)
    read = [u] * p  # read time of each learner's gradient in flight: u, or its last pop in this iteration
    for i, t in zip(pl[len(pl) - q :], pt[len(pt) - q :], strict=True):
        read[i] = t
    fifo, rand = tie_break == "fifo", tie_break == "random"

    def key(i: int) -> float:  # the gradient in flight is learner i's number base + jl + restarts so far
        return read[i] if fifo else draws.tie(i, int(base[i]) + jl + cont[i]) if rand else 0.0

    h = [(g[i], key(i), i) for i in range(p)]
    heapq.heapify(h)
    while True:
        m, _, i = h[0]
        if m > horizon:
            return g
        heapq.heappop(h)
        pl.append(i)
        pt.append(m)
        if q == k - 1:
            return None
        if cont[i] == draws.lim[i]:
            draws.top_up(i, cont, spare)
        cont[i] += 1
        g[i] = c = m + draws.nxt[i]()
        read[i] = m
        ct.append(c)
        heapq.heappush(h, (c, key(i), i))
        q += 1


def _piece(draws, pl, pt, ct, u0, v0, base, k, full, check=False) -> Block | None:
    """Records of n whole iterations from their pops (n, K) and restarts (n, K - 1) (the last pop of each
    iteration starts nothing), the first pushes from the piece's draws (P, width); updates ``base``
    (gradients started per learner). Not ``full``: only the columns the summary needs. ``check``: None
    unless the pops of every iteration came in strictly increasing times and every discarded push is later
    than the update (else a tie may have been broken otherwise than by the engine's keys)."""
    p = len(draws)
    n = len(pl) // k
    nk = n * k
    who = np.array(pl, dtype=np.int64).reshape(n, k)
    t = np.array(pt).reshape(n, k)
    done_t = t[:, -1].copy()  # update times
    start_u = np.empty(n)
    start_u[0] = u0
    start_u[1:] = done_t[:-1]
    # pops grouped by (iteration, learner) in pop order: a pop's gradient started at the same learner's
    # previous pop in this iteration (a restart), or at u (its first)
    it = np.repeat(np.arange(n), k)
    grp = it * p + who.ravel()
    order = np.argsort(grp, kind="stable")
    g_s = grp[order]
    same = np.zeros(nk, dtype=bool)
    same[1:] = g_s[1:] == g_s[:-1]
    t_s = t.ravel()[order]
    start_s = np.where(same, np.concatenate([[0.0], t_s[:-1]]), start_u[it[order]])
    pop_start = np.empty(nk)
    pop_start[order] = start_s
    pop_start = pop_start.reshape(n, k)
    # draws per learner per iteration: 1 + its pops among the first K - 1 (each restarts it)
    used = np.bincount(grp.reshape(n, k)[:, :-1].ravel(), minlength=n * p).reshape(n, p) + 1
    local = np.cumsum(used, axis=0) - used  # each learner's first gradient per iteration, in this piece
    # the gradient in flight at T per learner: its first (never popped), or the restart after its last pop
    # (none for the K-th pusher); restarts are numbered after the pops that started them
    last = np.ones(nk, dtype=bool)
    last[:-1] = ~same[1:]
    last_q = np.full(n * p, -1, dtype=np.int64)
    last_q[g_s[last]] = (order % k)[last]
    last_q = last_q.reshape(n, p)
    popped = last_q >= 0
    qq = np.maximum(last_q, 0)
    rows_it = np.arange(n)[:, None]
    f = start_u[:, None] + draws[np.arange(p), local]  # the engine's u + x
    d_start = np.where(popped, t[rows_it, qq], start_u[:, None])
    d_push = np.where(popped, np.array(ct).reshape(n, k - 1)[rows_it, np.minimum(qq, k - 2)], f)
    keep = last_q != k - 1  # every learner but the K-th pusher
    m = p - 1
    d_learner = np.broadcast_to(np.arange(p), (n, p))[keep].reshape(n, m)
    d_start, d_push = d_start[keep].reshape(n, m), d_push[keep].reshape(n, m)
    if check and not (bool((t[:, 1:] > t[:, :-1]).all()) and bool((d_push > done_t[:, None]).all())):
        return None
    d_ct = np.maximum(0.0, np.minimum(done_t[:, None], d_push) - d_start)
    ver = np.arange(v0, v0 + n, dtype=np.int64)
    learner = np.concatenate([d_learner, who], axis=1).ravel()
    comp = np.concatenate([d_ct, t - pop_start], axis=1).ravel()
    applied = np.zeros((n, m + k), dtype=bool)
    applied[:, m:] = True
    update = np.where(applied, (ver + 1)[:, None], -1).ravel()
    applied = applied.ravel()
    done_t.setflags(write=False)
    if not full:
        base += used.sum(axis=0)
        return Block(learner, comp, np.zeros(len(learner), dtype=np.int64), update, applied, v0 + 1, n,
                     lambda v: float(done_t[v - v0 - 1]))
    offset = base + local
    base += used.sum(axis=0)
    pop_occ = np.empty(nk, dtype=np.int64)  # earlier pops of this learner in this iteration
    pos = np.arange(nk)
    pop_occ[order] = pos - np.maximum.accumulate(np.where(same, 0, pos))
    pop_index = offset[it, who.ravel()] + pop_occ
    d_index = (offset + used - 1 + (last_q == k - 1))[keep].reshape(n, m)  # + its pops
    read = np.concatenate([d_start, pop_start], axis=1).ravel()
    push = np.concatenate([d_push, t], axis=1).ravel()
    index = np.concatenate([d_index, pop_index.reshape(n, k)], axis=1).ravel()
    vv = np.repeat(ver, m + k)
    grads = Gradients.from_columns(
        learner=learner, index=index, read_time=read, read_version=vv, compute_start=read, push_time=push,
        compute_time=comp, apply_time=np.repeat(done_t, m + k), version_before_apply=vv,
        staleness=np.zeros(n * (m + k), dtype=np.int64), applied=applied, update=update,
    )
    return block_of(grads, done_t, v0 + 1)


def _busy_in_progress(live, pl, pt, u, end) -> np.ndarray:
    """Compute seconds per learner of the iteration the horizon stopped, summed in start order as the
    engine does: each popped gradient whole (it reached the server), then the one in flight (push time in
    ``live``) up to ``end``."""
    busy = np.zeros(len(live))
    start = [u] * len(live)
    for i, t in zip(pl, pt, strict=True):
        busy[i] += max(0.0, min(end, t) - start[i])
        start[i] = t
    for i, t in enumerate(live):
        busy[i] += max(0.0, min(end, t) - start[i])
    return busy
