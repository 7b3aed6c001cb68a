"""The parameter-server system on the event kernel: P learners, one server, seven policies.

A learner's cycle for one gradient: at ``read_time`` the server hands it the current version (every
update finished at or before that instant included); the parameters arrive ``pull_latency`` later; it
computes for X seconds (its next compute time); the gradient reaches the server ``push_latency``
later, at ``push_time``. The server applies updates one at a time, each taking ``apply_time``; the
version counts updates. What happens on arrival is the policy (Dutta et al., AISTATS 2018):

- ``k-batch-async`` (``async`` = K = 1): the server updates after every K arrivals; the pusher reads the
  current version at once (its pull request rides on the push) and starts again.
- ``k-async``: the server updates after every K arrivals; only those K pushers read the new version,
  when the update finishes; the others keep computing on what they have.
- ``k-sync`` (``sync`` = K = P): everyone starts on the same version; after the first K arrivals the
  server updates and discards the other gradients of this iteration (interrupting their learners);
  all learners read the new version when the update finishes.
- ``k-batch-sync``: everyone starts on version j; a learner whose gradient arrives starts another
  mini-batch on the same version without a pull; after K arrivals the server updates, discards the
  work in flight, and all learners read the new version.
- ``ssp`` (bound s, Ho et al. 2013): as async, but a learner whose clock (gradients received by the
  server) is more than s ahead of the slowest still-active learner waits until it is not.

A learner whose trace is used up stops. Pulls and reads on the fast path are described in
:mod:`staleness.vectorised`; both produce the same records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.engine import EventQueue
from staleness.result import Gradients
from staleness.stream import Block, block_of

_UPDATE, _PUSH = 0, 1  # event priorities at one instant: finish updates before receiving gradients


class _Run:
    def __init__(self, cfg: SimConfig, streams: LearnerStreams) -> None:
        self.cfg, self.streams = cfg, streams
        self.p = cfg.learners
        self.k = cfg.effective_k
        self.policy = cfg.policy
        self.q = EventQueue()
        self.version = 0
        self.update_times: list[float] = []
        # records not yet emitted, in apply / discard order: the started gradient's tuple + (time, version
        # before, applied, busy s)
        self.rows: list[tuple] = []
        # started gradients not yet recorded: id -> (learner, index, read_time, read_version, compute_start,
        # compute_end, push); insertion order is start order
        self.g: dict[int, tuple] = {}
        self.next_gid = 0
        self.last_update = 0.0
        self.count = [0] * self.p  # gradients started per learner
        self.current = [-1] * self.p  # gradient id each learner is working on (-1: idle)
        self.pending: list[int] = []  # arrived gradients waiting for the K-th
        self.batches: list[list[int]] = []  # full batches waiting for the server (apply_time > 0)
        self.server_busy = False
        self.clock = [0] * self.p  # ssp: gradients received per learner
        self.active = [True] * self.p  # False once a learner's trace is used up
        # ssp: active learners per clock value, their number, and the smallest clock among them (clocks only
        # grow and learners only leave, so it only grows: no O(P) scan per push)
        self.at_clock = {0: self.p}
        self.n_active = self.p
        self.slowest = 0
        # ssp: learners waiting for the slowest, by clock (a few distinct clocks: a learner can only push
        # while within the bound, so waiting clocks are slowest + bound + 1 at most)
        self.blocked: dict[int, list[int]] = {}
        self.stop = False
        self.limit_updates = cfg.updates
        self.tie = cfg.tie_break
        self._pull, self._push = cfg._pull, cfg._push
        self._time, self._schedule = streams.time, self.q.schedule

    # ---- learners -------------------------------------------------------------------------------
    def start(self, i: int, t: float, pull: bool = True) -> None:
        """Learner i reads the current version at t and starts its next gradient."""
        j = self.count[i]
        x = self._time(i, j)
        if x is None:
            if self.active[i]:
                self.active[i] = False
                self.at_clock[self.clock[i]] -= 1
                self.n_active -= 1
            self.current[i] = -1
            return
        self.count[i] = j + 1
        start = t + self._pull[i] if pull else t
        end = start + x
        push = end + self._push[i]
        gid = self.next_gid
        self.next_gid += 1
        self.g[gid] = (i, j, t, self.version, start, end, push)
        self.current[i] = gid
        tie = self.tie
        if tie == "fifo":
            key = (t, i)
        elif tie == "learner":
            key = (i,)
        else:
            key = (self.streams.tie(i, j), i)
        self._schedule(push, _PUSH, key, "push", gid)

    # ---- server ---------------------------------------------------------------------------------
    def submit(self, batch: list[int], t: float) -> None:
        if self.cfg.apply_time == 0:
            self.finish_update(batch, t)
        elif self.server_busy:
            self.batches.append(batch)
        else:
            self.server_busy = True
            self.q.schedule(t + self.cfg.apply_time, _UPDATE, (), "update", batch)

    def finish_update(self, batch: list[int], t: float) -> None:
        before = self.version
        self.version += 1
        self.update_times.append(t)
        rows, g = self.rows, self.g
        learners = []
        for gid in batch:
            rec = g.pop(gid)
            learners.append(rec[0])
            rows.append((*rec, t, before, True, 0.0))
        self.last_update = t
        if self.limit_updates is not None and self.version >= self.limit_updates:
            self.stop = True
            return
        self.after_update(learners, t)
        if self.cfg.apply_time > 0:
            self.server_busy = False
            if self.batches:
                self.server_busy = True
                self.q.schedule(t + self.cfg.apply_time, _UPDATE, (), "update", self.batches.pop(0))

    def discard_in_flight(self, t: float) -> None:
        """Discard every gradient started on this iteration that is not in the batch (k-sync family)."""
        for i in range(self.p):
            gid = self.current[i]
            if gid < 0:
                continue
            rec = self.g.pop(gid)
            self.current[i] = -1
            self.rows.append((*rec, t, self.version, False, max(0.0, min(t, rec[5]) - rec[4])))

    # ---- policies -------------------------------------------------------------------------------
    def on_push(self, gid: int, t: float) -> None:
        rec = self.g.get(gid)
        if rec is None:  # discarded while its push was on the way
            return
        i = rec[0]
        pol = self.policy
        if pol in ("async", "k-batch-async", "ssp"):
            self.current[i] = -1
            self.pending.append(gid)
            if len(self.pending) == self.k:
                batch, self.pending = self.pending, []
                self.submit(batch, t)
            if self.stop:
                return
            if pol == "ssp":
                c = self.clock[i]
                self.clock[i] = c + 1
                self.at_clock[c] -= 1
                self.at_clock[c + 1] = self.at_clock.get(c + 1, 0) + 1
                self.ssp_release(i, t)
            else:
                self.start(i, t)
        elif pol == "k-async":
            self.current[i] = -1
            self.pending.append(gid)
            if len(self.pending) == self.k:
                batch, self.pending = self.pending, []
                self.submit(batch, t)
        else:  # sync, k-sync, k-batch-sync
            self.current[i] = -1
            self.pending.append(gid)
            if len(self.pending) == self.k:
                batch, self.pending = self.pending, []
                self.discard_in_flight(t)  # before the update: its completion restarts every learner
                self.submit(batch, t)
            elif pol == "k-batch-sync":
                self.start(i, t, pull=False)

    def after_update(self, learners: list[int], t: float) -> None:
        pol = self.policy
        if pol == "k-async":
            for i in learners:
                self.start(i, t)
        elif pol in ("sync", "k-sync", "k-batch-sync"):
            for i in range(self.p):
                if self.active[i]:
                    self.start(i, t)

    def ssp_release(self, pusher: int, t: float) -> None:
        """SSP: the pusher continues if within the bound, then waiting learners are released in order."""
        self.blocked.setdefault(self.clock[pusher], []).append(pusher)
        while True:
            if self.n_active:
                while not self.at_clock.get(self.slowest):
                    self.slowest += 1
            slowest = self.slowest if self.n_active else 0
            ready = [i for c in [c for c in self.blocked if c - slowest <= self.cfg.bound] for i in self.blocked.pop(c)]
            if not ready:
                return
            # the pusher first (it is the one being served), then the others by learner index
            ready.sort(key=lambda i: (i != pusher, i))
            for i in ready:
                self.start(i, t)
            # a learner that just ran out of trace no longer holds the others back: look again

    # ---- main loop ------------------------------------------------------------------------------
    def run(self, chunk: int) -> Iterator[Block]:
        for i in range(self.p):
            self.start(i, 0.0)
        until = self.cfg.until
        q = self.q
        while len(q) and not self.stop:
            if until is not None and q.peek_time() > until:
                break
            t, _, _, _, kind, data = q.pop()
            if kind == "push":
                self.on_push(data, t)
            else:
                self.finish_update(data, t)
            if len(self.rows) >= chunk:
                yield self.flush()
        if until is not None:
            self.end = float(until)
        elif self.stop:
            self.end = self.last_update
        else:
            self.end = q.now  # the traces ran out: the time of the last event
        if self.rows or self.update_times:
            yield self.flush()

    def flush(self) -> Block:
        """The records gathered since the last block, as a block (then forgotten)."""
        rows, self.rows = self.rows, []
        ut = np.asarray(self.update_times, dtype=np.float64)
        first = self.version - len(ut) + 1
        self.update_times = []
        if rows:
            i, j, rt, rv, cs, ce, push, t, before, applied, busy_d = (np.array(c) for c in zip(*rows, strict=True))
        else:
            i = j = rv = before = np.zeros(0, dtype=np.int64)
            rt = cs = ce = push = t = busy_d = np.zeros(0)
            applied = np.zeros(0, dtype=bool)
        applied = applied.astype(bool)
        grads = Gradients.from_columns(
            learner=i, index=j, read_time=rt, read_version=rv, compute_start=cs, push_time=push,
            compute_time=np.where(applied, ce - cs, busy_d), apply_time=t, version_before_apply=before,
            staleness=before - rv, applied=applied, update=np.where(applied, before + 1, -1),
        )
        ut.setflags(write=False)
        return block_of(grads, ut, first)

    def inflight_busy(self) -> np.ndarray:
        """Compute seconds per learner on gradients not in the records, clipped at the end time."""
        busy = np.zeros(self.p)
        for i, _j, _rt, _rv, cs, ce, _pt in self.g.values():  # start order: index order per learner
            busy[i] += max(0.0, min(self.end, ce) - cs)
        return busy


def iter_events(cfg: SimConfig, streams: LearnerStreams, chunk: int = 1 << 16) -> Iterator[Block]:
    """Run the event engine; yield blocks of about ``chunk`` records, return (end_time, inflight_busy)."""
    sim = _Run(cfg, streams)
    yield from sim.run(max(1, int(chunk)))
    busy = sim.inflight_busy()
    busy.setflags(write=False)
    assert math.isfinite(sim.end)
    return sim.end, busy


def run_events(cfg: SimConfig, streams: LearnerStreams) -> tuple[Gradients, np.ndarray, float, np.ndarray]:
    """Run the event engine in memory; return (gradients, update_times, end_time, inflight_busy)."""
    from staleness.simulation import collect

    return collect(iter_events(cfg, streams))
