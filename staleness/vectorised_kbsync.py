"""k-batch-sync without the event engine, iteration by iteration, equal to it record for record (see
:func:`iter_k_batch_sync`).

With no latencies and no apply time, iteration j of k-batch-sync starts every learner at u_j (the previous
update) on version j: learner i pushes at u_j + x, x its next draw. A learner among the first K - 1 pushes
restarts at once on the same version (push time t + x', x' its next draw); the K-th push, at T_j, completes
the update, every gradient still in flight is discarded, and iteration j + 1 starts at u_{j+1} = T_j. So
iteration j is "the K smallest pushes of P merged running sums", and learner i uses 1 + (its pushes among
the first K - 1) draws in it: where its next iteration starts in its stream depends on this one, which is
why the iterations are taken one at a time, in a Python loop on plain floats with no event objects
(:func:`_scan`): the P first pushes in a list, each of the K pops one ``min`` over it. When the minimum is
not unique the tie-break decides (with drawn times: the ``constant`` law, or a draw of 0), and the rest of
that iteration runs on an exact heap of the engine's keys (time, tie key, learner) (:func:`_exact_rest`;
the tie keys: ``fifo`` the read time, ``learner`` none, ``random`` the gradient's draw from its own
stream). The records (index, read and push times, compute time, discarded or applied) follow from the
iterations' first pushes and pops in numpy, per piece of about ``chunk`` records (:func:`_piece`).

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
from staleness.distributions import LearnerStreams
from staleness.result import Gradients
from staleness.stream import Block, block_of

__all__ = ["iter_k_batch_sync", "HEAP_K", "HEAP_P"]

#: From K = HEAP_K pops among P >= HEAP_P learners an iteration runs on a heap (O(P + K log P)) instead of K
#: scans of the P push times (O(K P), faster for few pops or few learners).
HEAP_K, HEAP_P = 8, 64


class _Streams:
    """Learner i's compute times one at a time (``nxt[i]()``): each piece of r iterations starts with at
    least r + ``spare`` of them buffered per learner (one first draw per iteration), and a learner whose
    restarts use up its spare is topped up (:meth:`top_up`). Also the gradients' random tie keys by index."""

    def __init__(self, streams: LearnerStreams, p: int) -> None:
        self.streams, self.p = streams, p
        self.its = [iter(())] * p
        self.nxt = [it.__next__ for it in self.its]
        self.lim = [0] * p  # restarts learner i may make in this piece before a top-up
        self.ties: list[list[float]] = [[] for _ in range(p)]
        self.tie_base = [0] * p

    def piece(self, rows: int, spare: int) -> None:
        """Buffer at least ``rows + spare`` times per learner for the next ``rows`` iterations."""
        take = self.streams.take_times
        for i in range(self.p):
            rest = list(self.its[i])
            if len(rest) < rows + spare:
                rest += take(i, rows + 2 * spare - len(rest)).tolist()
            self.its[i] = it = iter(rest)
            self.nxt[i] = it.__next__
            self.lim[i] = len(rest) - rows

    def top_up(self, i: int, cont: list[int], spare: int) -> None:
        """Learner i restarted ``lim[i]`` times in this piece: give it ``spare`` more times behind its buffer."""
        rest = list(self.its[i]) + self.streams.take_times(i, spare).tolist()
        self.its[i] = it = iter(rest)
        self.nxt[i] = it.__next__
        self.lim[i] = cont[i] + spare

    def tie(self, i: int, j: int) -> float:
        """Learner i's random tie key of its gradient j (j only grows per learner)."""
        have, base = self.ties[i], self.tie_base[i]
        while j - base >= len(have):
            base += len(have)
            have = self.streams.take_ties(i, 64).tolist()
        self.ties[i], self.tie_base[i] = have, base
        return have[j - base]


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
    while True:
        r = rows if cfg.updates is None else min(rows, cfg.updates - done)
        draws.piece(r, spare)
        cont = [0] * p  # restarts per learner in this piece
        first: list[list[float]] = []  # each iteration's first pushes (learner order)
        pl: list[int] = []  # pop learners, K per iteration
        pt: list[float] = []  # pop times
        ct: list[float] = []  # push time of the restart after each of the first K - 1 pops
        state = _scan(r, u, k, horizon, draws, cont, spare, cfg.tie_break, base, first, pl, pt, ct)
        n_it = len(pl) // k
        if n_it:
            yield _piece(first[:n_it], pl[: n_it * k], pt[: n_it * k], ct[: n_it * (k - 1)], u, done, base, k, p)
            u = pt[n_it * k - 1]
        done += n_it
        if state is not None:  # stopped by `until` inside iteration n_it (in progress)
            end = horizon
            busy = _busy_in_progress(state, first[n_it], pl[n_it * k :], pt[n_it * k :], ct[n_it * (k - 1) :],
                                     u, end, p)
            break
        if cfg.updates is not None and done >= cfg.updates:
            end, busy = u, np.zeros(p)
            break
    busy.setflags(write=False)
    return end, busy


def _scan(r, u, k, horizon, draws, cont, spare, tie_break, base, first, pl, pt, ct):
    """Up to r iterations from u; appends their first pushes and pops. Returns None, or the live push times
    of an iteration stopped by the horizon (its pops so far are appended, its restarts too)."""
    nxt, lim = draws.nxt, draws.lim
    add_first, add_l, add_t, add_c = first.append, pl.append, pt.append, ct.append
    if k == 2:
        return _scan2(r, u, horizon, draws, cont, spare, tie_break, base, first, pl, pt, ct)
    if k >= HEAP_K and len(nxt) >= HEAP_P:
        return _heap(r, u, k, horizon, draws, cont, spare, tie_break, base, first, pl, pt, ct)
    km1 = k - 1
    for jl in range(r):
        # the learners' first pushes, then their push in flight (a popped learner's first push is its pop
        # time, which is all the records need of it: the list is kept as it is changed)
        g = [u + n() for n in nxt]
        add_first(g)
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


def _scan2(r, u, horizon, draws, cont, spare, tie_break, base, first, pl, pt, ct):
    """:func:`_scan` for K = 2 (the commonest case) with the two pops written out."""
    nxt, lim = draws.nxt, draws.lim
    add_first, add_l, add_t, add_c = first.append, pl.append, pt.append, ct.append
    for jl in range(r):
        g = [u + n() for n in nxt]
        add_first(g)
        m = min(g)
        if m > horizon:
            return g
        i = g.index(m)
        if g.count(m) != 1:
            g = _exact_rest(0, g, u, jl, 2, horizon, draws, cont, spare, tie_break, base, pl, pt, ct)
            if g is not None:
                return g
            u = pt[-1]
            continue
        add_l(i)
        add_t(m)
        if cont[i] == lim[i]:
            draws.top_up(i, cont, spare)
        cont[i] += 1
        g[i] = c = m + nxt[i]()
        add_c(c)
        t = min(g)
        if t > horizon:
            return g
        if g.count(t) != 1:
            g = _exact_rest(1, g, u, jl, 2, horizon, draws, cont, spare, tie_break, base, pl, pt, ct)
            if g is not None:
                return g
            u = pt[-1]
            continue
        add_l(g.index(t))
        add_t(t)
        u = t
    return None


def _heap(r, u, k, horizon, draws, cont, spare, tie_break, base, first, pl, pt, ct):
    """:func:`_scan` for many pops among many learners: the live push times in a heap of floats and a dict
    from push time to learner (a restart whose time is already in it, or equal first pushes, may tie: the
    exact heap takes the rest of that iteration)."""
    nxt, lim = draws.nxt, draws.lim
    add_first, add_l, add_t, add_c = first.append, pl.append, pt.append, ct.append
    pop, push = heapq.heappop, heapq.heappush
    p, km1 = len(nxt), k - 1
    ids = range(p)
    for jl in range(r):
        g = [u + n() for n in nxt]
        add_first(g)
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


def _piece(first, pl, pt, ct, u0, v0, base, k, p) -> Block:
    """Records of n whole iterations from their first pushes (n, P), pops (n, K) and restarts (n, K - 1)
    (the last pop of each iteration starts nothing); updates ``base`` (gradients started per learner)."""
    n = len(first)
    f = np.array(first)
    who = np.array(pl, dtype=np.int64).reshape(n, k)
    t = np.array(pt).reshape(n, k)
    done_t = t[:, -1].copy()  # update times
    start_u = np.empty(n)
    start_u[0] = u0
    start_u[1:] = done_t[:-1]
    it = np.repeat(np.arange(n), k)
    # pops grouped by (iteration, learner) in pop order: a pop's gradient started at the same learner's
    # previous pop in this iteration (a restart), or at u (its first)
    w = who.ravel()
    grp = it * p + w
    order = np.argsort(grp, kind="stable")
    g_s = grp[order]
    same = np.zeros(n * k, dtype=bool)
    same[1:] = g_s[1:] == g_s[:-1]
    t_s = t.ravel()[order]
    start_s = np.where(same, np.concatenate([[0.0], t_s[:-1]]), start_u[it[order]])
    pos = np.arange(n * k)
    run0 = np.maximum.accumulate(np.where(same, 0, pos))  # position of the group's first pop
    occ_s = pos - run0  # earlier pops of this learner in this iteration
    pop_start, pop_occ = np.empty(n * k), np.empty(n * k, dtype=np.int64)
    pop_start[order], pop_occ[order] = start_s, occ_s
    # draws per learner per iteration: 1 + its pops among the first K - 1 (each restarts it)
    used = np.ones((n, p), dtype=np.int64)
    if k > 1:
        np.add.at(used, (np.repeat(np.arange(n), k - 1), who[:, :-1].ravel()), 1)
    offset = base + np.cumsum(used, axis=0) - used  # index of each learner's first gradient per iteration
    base += used.sum(axis=0)
    pop_index = offset[it, w] + pop_occ
    # the gradient in flight at T per learner: its first (never popped), or the restart after its last pop
    # (none for the K-th pusher); restarts are numbered after the pops that started them
    last_q = np.full((n, p), -1, dtype=np.int64)
    np.maximum.at(last_q, (it, w), np.tile(np.arange(k), n))
    n_pops = used - 1 + (last_q == k - 1)  # pops per learner per iteration (the K-th pusher's last counts)
    c = np.array(ct).reshape(n, k - 1) if k > 1 else np.zeros((n, 0))
    popped = last_q >= 0
    qq = np.maximum(last_q, 0)
    rows_it = np.arange(n)[:, None]
    d_start = np.where(popped, t[rows_it, qq], start_u[:, None])
    d_push = np.where(popped, c[rows_it, np.minimum(qq, k - 2)] if k > 1 else f, f)
    d_index = offset + n_pops
    keep = last_q != k - 1  # every learner but the K-th pusher
    m = p - 1
    d_learner = np.broadcast_to(np.arange(p), (n, p))[keep].reshape(n, m)
    d_start, d_push, d_index = (a[keep].reshape(n, m) for a in (d_start, d_push, d_index))
    d_ct = np.maximum(0.0, np.minimum(done_t[:, None], d_push) - d_start)
    ver = np.arange(v0, v0 + n, dtype=np.int64)
    learner = np.concatenate([d_learner, who], axis=1).ravel()
    read = np.concatenate([d_start, pop_start.reshape(n, k)], axis=1).ravel()
    push = np.concatenate([d_push, t], axis=1).ravel()
    index = np.concatenate([d_index, pop_index.reshape(n, k)], axis=1).ravel()
    comp = np.concatenate([d_ct, t - pop_start.reshape(n, k)], axis=1).ravel()
    applied = np.zeros((n, m + k), dtype=bool)
    applied[:, m:] = True
    vv = np.repeat(ver, m + k)
    grads = Gradients.from_columns(
        learner=learner, index=index, read_time=read, read_version=vv, compute_start=read, push_time=push,
        compute_time=comp, apply_time=np.repeat(done_t, m + k), version_before_apply=vv,
        staleness=np.zeros(n * (m + k), dtype=np.int64), applied=applied.ravel(),
        update=np.where(applied, (ver + 1)[:, None], -1).ravel(),
    )
    done_t.setflags(write=False)
    return block_of(grads, done_t, v0 + 1)


def _busy_in_progress(state, first, pl, pt, ct, u, end, p) -> np.ndarray:
    """Compute seconds per learner of the iteration the horizon stopped, summed in start order as the
    engine does: each popped gradient whole (it reached the server), the one in flight up to ``end``."""
    busy = np.zeros(p)
    start = [u] * p
    push = list(first)
    for i, t, c in zip(pl, pt, ct + [None] * (len(pl) - len(ct)), strict=True):
        busy[i] += max(0.0, min(end, t) - start[i])
        start[i], push[i] = t, c
    for i in range(p):
        busy[i] += max(0.0, min(end, push[i]) - start[i])
    return busy
