"""An independent oracle: each policy written again as a SimPy process model, fed the same draws.

The SimPy models follow the policy text of the reference (Dutta et al. 2018; Ho et al. 2013), not our
code: learners are processes, the server state is a shared version counter, k-sync stragglers are
interrupted. With continuous compute times there are no ties, so both must produce the same updates:
for every applied gradient the same (learner, index, read version, version before apply), in the same
order, and the same update times.
"""

import collections

import numpy as np
import pytest
import simpy

from staleness import SimConfig, simulate
from staleness.distributions import LearnerStreams

UPDATES = 300


def draws(cfg, n=4 * UPDATES):
    streams = LearnerStreams(cfg)
    return [streams.times_array(i, n).tolist() for i in range(cfg.learners)]


def ours(cfg, engine="event"):
    res = simulate(cfg, engine=engine)
    assert res.engine == engine
    g = res.gradients
    ok = g.applied
    rows = list(zip(g.learner[ok].tolist(), g.index[ok].tolist(), g.read_version[ok].tolist(),
                    g.version_before_apply[ok].tolist(), strict=True))
    return rows, res.update_times.tolist()


class Server:
    def __init__(self, env, k):
        self.env, self.k = env, k
        self.version, self.pending, self.rows, self.times = 0, [], [], []
        self.done = env.event()

    def push(self, grad):
        """Add a gradient; return the batch if it completed an update."""
        self.pending.append(grad)
        if len(self.pending) < self.k:
            return None
        batch, self.pending = self.pending, []
        for learner, index, read in batch:
            self.rows.append((learner, index, read, self.version))
        self.version += 1
        self.times.append(self.env.now)
        if self.version == UPDATES and not self.done.triggered:
            self.done.succeed()
        return batch


def simpy_k_batch_async(x, k):
    env = simpy.Environment()
    srv = Server(env, k)

    def learner(i):
        for j, t in enumerate(x[i]):
            read = srv.version
            yield env.timeout(t)
            srv.push((i, j, read))  # then read again at once

    for i in range(len(x)):
        env.process(learner(i))
    env.run(until=srv.done)
    return srv.rows, srv.times


def simpy_k_async(x, k):
    env = simpy.Environment()
    srv = Server(env, k)
    wake = {}

    def learner(i):
        for j, t in enumerate(x[i]):
            read = srv.version
            yield env.timeout(t)
            wake[i] = env.event()
            batch = srv.push((i, j, read))
            if batch is not None:
                for b in batch:  # only the K pushers get the new version
                    wake[b[0]].succeed()
            yield wake[i]

    for i in range(len(x)):
        env.process(learner(i))
    env.run(until=srv.done)
    return srv.rows, srv.times


def simpy_k_sync(x, k):
    env = simpy.Environment()
    srv = Server(env, k)
    p = len(x)

    def learner(i, j, arrived, iteration_done):
        read = srv.version
        try:
            yield env.timeout(x[i][j])
        except simpy.Interrupt:
            return  # a straggler: the server has its K gradients
        arrived.append((i, j, read))
        if len(arrived) == k:
            iteration_done.succeed()

    def coordinator():
        for j in range(len(x[0])):
            arrived, iteration_done = [], env.event()
            procs = [env.process(learner(i, j, arrived, iteration_done)) for i in range(p)]
            yield iteration_done
            for proc in procs:
                if proc.is_alive:
                    proc.interrupt()
            for grad in arrived[:k]:
                srv.push(grad)

    env.process(coordinator())
    env.run(until=srv.done)
    return srv.rows, srv.times


def simpy_k_batch_sync(x, k):
    env = simpy.Environment()
    srv = Server(env, k)
    p = len(x)
    nxt = [0] * p  # each learner's next draw: it goes on through its own stream across iterations

    def learner(i, arrived, iteration_done):
        read = srv.version
        try:
            while True:  # mini-batches on the same version until the server has its K gradients
                j = nxt[i]
                nxt[i] = j + 1
                yield env.timeout(x[i][j])
                arrived.append((i, j, read))
                if len(arrived) == k:
                    iteration_done.succeed()
                    return
        except simpy.Interrupt:
            return  # work in flight when the K-th gradient arrived: discarded

    def coordinator():
        while True:
            arrived, iteration_done = [], env.event()
            procs = [env.process(learner(i, arrived, iteration_done)) for i in range(p)]
            yield iteration_done
            for proc in procs:
                if proc.is_alive:
                    proc.interrupt()
            for grad in arrived:
                srv.push(grad)

    env.process(coordinator())
    env.run(until=srv.done)
    return srv.rows, srv.times


def simpy_ssp(x, bound):
    env = simpy.Environment()
    srv = Server(env, 1)
    clock = [0] * len(x)
    tick = {"event": env.event()}

    def learner(i):
        for j, t in enumerate(x[i]):
            while clock[i] - min(clock) > bound:  # too far ahead of the slowest: wait for a push
                yield tick["event"]
            read = srv.version
            yield env.timeout(t)
            srv.push((i, j, read))
            clock[i] += 1
            old, tick["event"] = tick["event"], env.event()
            old.succeed()

    for i in range(len(x)):
        env.process(learner(i))
    env.run(until=srv.done)
    return srv.rows, srv.times


@pytest.mark.parametrize("p,k", [(1, 1), (4, 1), (5, 2), (6, 6)])
@pytest.mark.parametrize("dist", ["exp", "lognormal"])
def test_k_batch_async_matches_simpy(p, k, dist):
    cfg = SimConfig(learners=p, policy="k-batch-async", k=k, dist=dist, updates=UPDATES, seed=p + k)
    assert ours(cfg) == simpy_k_batch_async(draws(cfg), k)


@pytest.mark.parametrize("p,k", [(2, 1), (4, 2), (6, 3), (5, 5)])
def test_k_async_matches_simpy(p, k):
    cfg = SimConfig(learners=p, policy="k-async", k=k, dist="uniform", updates=UPDATES, seed=10 + p)
    assert ours(cfg) == simpy_k_async(draws(cfg), k)


@pytest.mark.parametrize("p,k", [(3, 1), (4, 2), (5, 5)])
def test_k_sync_matches_simpy(p, k):
    cfg = SimConfig(learners=p, policy="k-sync", k=k, dist="shifted-exp", updates=UPDATES, seed=20 + p)
    rows, times = ours(cfg)
    assert len(rows) == UPDATES * k and len(times) == UPDATES
    assert (rows, times) == simpy_k_sync(draws(cfg, UPDATES), k)


@pytest.mark.parametrize("p,k", [(3, 1), (4, 2), (5, 3), (3, 3)])
@pytest.mark.parametrize("engine", ["event", "vectorised"])
def test_k_batch_sync_matches_simpy(p, k, engine):
    cfg = SimConfig(learners=p, policy="k-batch-sync", k=k, dist="exp", updates=UPDATES, seed=40 + p,
                    speeds=list(np.linspace(0.5, 2.0, p)))
    rows, times = ours(cfg, engine)
    assert len(rows) == UPDATES * k and len(times) == UPDATES
    twice = max(collections.Counter(r[0] for r in rows[i : i + k]).most_common(1)[0][1] for i in range(0, len(rows), k))
    assert twice == 1 if k == 1 else twice > 1  # K > 1: some learner pushed twice in one iteration
    assert (rows, times) == simpy_k_batch_sync(draws(cfg, UPDATES * k + UPDATES), k)


@pytest.mark.parametrize("p,bound", [(3, 0), (4, 1), (4, 3)])
def test_ssp_matches_simpy(p, bound):
    cfg = SimConfig(learners=p, policy="ssp", bound=bound, dist="exp", updates=UPDATES, seed=30 + p,
                    speeds=list(np.linspace(0.5, 2.0, p)))
    rows, times = ours(cfg)
    assert len(rows) == UPDATES and max(r[3] - r[2] for r in rows) > 0  # some staleness to compare
    assert (rows, times) == simpy_ssp(draws(cfg), bound)
