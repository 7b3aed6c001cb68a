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

import numpy as np

from staleness.config import SimConfig
from staleness.distributions import LearnerStreams
from staleness.engine import EventQueue
from staleness.result import Gradients

__all__ = ["run_events"]

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
        # recorded gradients in apply / discard order: (gradient id, time, version before, applied, busy s)
        self.rows: list[tuple] = []
        self.recorded: list[bool] = []  # per started gradient
        # per started gradient: learner, index, read_time, read_version, compute_start, compute_end, push
        self.g: list[tuple] = []
        self.count = [0] * self.p  # gradients started per learner
        self.current = [-1] * self.p  # gradient id each learner is working on (-1: idle)
        self.discarded: set[int] = set()
        self.pending: list[int] = []  # arrived gradients waiting for the K-th
        self.batches: list[list[int]] = []  # full batches waiting for the server (apply_time > 0)
        self.server_busy = False
        self.clock = [0] * self.p  # ssp: gradients received per learner
        self.active = [True] * self.p  # False once a learner's trace is used up
        self.blocked: list[int] = []  # ssp: learners waiting for the slowest
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
            self.active[i] = False
            self.current[i] = -1
            return
        self.count[i] = j + 1
        start = t + self._pull[i] if pull else t
        end = start + x
        push = end + self._push[i]
        gid = len(self.g)
        self.g.append((i, j, t, self.version, start, end, push))
        self.recorded.append(False)
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
        rows, recorded = self.rows, self.recorded
        for gid in batch:
            rows.append((gid, t, before, True, 0.0))
            recorded[gid] = True
        if self.limit_updates is not None and self.version >= self.limit_updates:
            self.stop = True
            return
        self.after_update(batch, t)
        if self.cfg.apply_time > 0:
            self.server_busy = False
            if self.batches:
                self.server_busy = True
                self.q.schedule(t + self.cfg.apply_time, _UPDATE, (), "update", self.batches.pop(0))

    def discard_in_flight(self, t: float) -> None:
        """Discard every gradient started on this iteration that is not in the batch (k-sync family)."""
        for i in range(self.p):
            gid = self.current[i]
            if gid < 0 or gid in self.discarded:
                continue
            cs, ce = self.g[gid][4], self.g[gid][5]
            self.discarded.add(gid)
            self.current[i] = -1
            self.rows.append((gid, t, self.version, False, max(0.0, min(t, ce) - cs)))
            self.recorded[gid] = True

    # ---- policies -------------------------------------------------------------------------------
    def on_push(self, gid: int, t: float) -> None:
        if gid in self.discarded:
            return
        i = self.g[gid][0]
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
                self.clock[i] += 1
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

    def after_update(self, batch: list[int], t: float) -> None:
        pol = self.policy
        if pol == "k-async":
            for gid in batch:
                self.start(self.g[gid][0], t)
        elif pol in ("sync", "k-sync", "k-batch-sync"):
            for i in range(self.p):
                if self.active[i]:
                    self.start(i, t)

    def ssp_release(self, pusher: int, t: float) -> None:
        """SSP: the pusher continues if within the bound, then waiting learners are released in order."""
        self.blocked.append(pusher)
        while True:
            live = [self.clock[i] for i in range(self.p) if self.active[i]]
            slowest = min(live) if live else 0
            ready = sorted(i for i in self.blocked if self.clock[i] - slowest <= self.cfg.bound)
            if not ready:
                return
            # the pusher first (it is the one being served), then the others by learner index
            ready.sort(key=lambda i: (i != pusher, i))
            for i in ready:
                self.blocked.remove(i)
                self.start(i, t)
            # a learner that just ran out of trace no longer holds the others back: look again

    # ---- main loop ------------------------------------------------------------------------------
    def run(self) -> None:
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
        if until is not None:
            self.end = float(until)
        elif self.stop:
            self.end = self.update_times[-1]
        else:
            self.end = q.now  # the traces ran out: the time of the last event

    def inflight_busy(self) -> np.ndarray:
        """Compute seconds per learner on gradients not in the records, clipped at the end time."""
        busy = np.zeros(self.p)
        for gid, (i, _j, _rt, _rv, cs, ce, _pt) in enumerate(self.g):  # start order: index order per learner
            if not self.recorded[gid]:
                busy[i] += max(0.0, min(self.end, ce) - cs)
        return busy


def run_events(cfg: SimConfig, streams: LearnerStreams) -> tuple[Gradients, np.ndarray, float, np.ndarray]:
    """Run the event engine; return (gradients, update_times, end_time, inflight_busy)."""
    sim = _Run(cfg, streams)
    sim.run()
    if sim.rows:
        gid, t, before, applied, busy_discarded = (np.array(c) for c in zip(*sim.rows, strict=True))
        g = np.array(sim.g, dtype=np.float64)[gid]  # learner, index, read t, read v, start, end, push
    else:
        gid = t = before = busy_discarded = np.zeros(0)
        applied = np.zeros(0, dtype=bool)
        g = np.zeros((0, 7))
    read_version = g[:, 3].astype(np.int64)
    before = before.astype(np.int64)
    grads = Gradients.from_columns(
        learner=g[:, 0], index=g[:, 1], read_time=g[:, 2], read_version=read_version, compute_start=g[:, 4],
        push_time=g[:, 6], compute_time=np.where(applied, g[:, 5] - g[:, 4], busy_discarded), apply_time=t,
        version_before_apply=before, staleness=before - read_version, applied=applied,
        update=np.where(applied, before + 1, -1),
    )
    update_times = np.asarray(sim.update_times, dtype=np.float64)
    update_times.setflags(write=False)
    busy = sim.inflight_busy()
    busy.setflags(write=False)
    assert math.isfinite(sim.end)
    return grads, update_times, sim.end, busy
