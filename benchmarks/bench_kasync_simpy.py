"""k-async at P = 16 against an independent SimPy model on the same draws (issue 23 item 4).

The SimPy model is tests/test_staleness_simpy_oracle.py's (the policy text of Dutta et al. 2018: learners
are processes, the server a version counter; only the K pushers of an update read the new version).
Before any rate is printed, its (learner, index, read version, version before apply) rows and update times
are checked equal to ours. CPU seconds from ``time.process_time`` (medians of ``--repeats``); ours is
``simulate(cfg, stream=True)`` (the vectorised k-async path) and ``engine="event"``.

Usage: ``python benchmarks/bench_kasync_simpy.py [--updates 100000] [--k 2] [--learners 16]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import simpy

from staleness import SimConfig, simulate
from staleness.distributions import LearnerStreams


def simpy_k_async(x: list[list[float]], k: int, updates: int):
    env = simpy.Environment()
    state = {"version": 0, "pending": []}
    rows, times, wake = [], [], {}
    done = env.event()

    def learner(i):
        for j, t in enumerate(x[i]):
            read = state["version"]
            yield env.timeout(t)
            wake[i] = env.event()
            state["pending"].append((i, j, read))
            if len(state["pending"]) == k:
                batch, state["pending"] = state["pending"], []
                for g in batch:
                    rows.append((*g, state["version"]))
                state["version"] += 1
                times.append(env.now)
                if state["version"] == updates and not done.triggered:
                    done.succeed()
                for g in batch:  # only the K pushers get the new version
                    wake[g[0]].succeed()
            yield wake[i]

    for i in range(len(x)):
        env.process(learner(i))
    env.run(until=done)
    return rows, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--learners", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    cfg = SimConfig(learners=a.learners, policy="k-async", k=a.k, updates=a.updates, seed=0)
    streams = LearnerStreams(cfg)
    x = [streams.times_array(i, 3 * a.updates * a.k // a.learners + 1000).tolist() for i in range(a.learners)]
    load = os.getloadavg()[0]
    full = simulate(cfg)  # the records, to check the SimPy model first
    g = full.gradients
    ours = list(zip(g.learner.tolist(), g.index.tolist(), g.read_version.tolist(),
                    g.version_before_apply.tolist(), strict=True))
    rows, times = simpy_k_async(x, a.k, a.updates)
    same = rows == ours and np.array_equal(times, full.update_times)
    assert same, "the SimPy model and ours disagree"
    cpu: dict[str, list[float]] = {"SimPy": [], "vectorised": [], "event": []}
    for _ in range(a.repeats):
        c = time.process_time()
        simpy_k_async(x, a.k, a.updates)
        cpu["SimPy"].append(time.process_time() - c)
        for engine in ("vectorised", "event"):
            c = time.process_time()
            simulate(cfg, engine=engine, stream=True)
            cpu[engine].append(time.process_time() - c)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    grads = a.updates * a.k
    print(f"k-async, P = {a.learners}, K = {a.k}, {a.updates:,} updates ({grads:,} gradients), same rows and "
          f"update times as SimPy: {same}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for k, v in med.items():
        print(f"- {k}: {v:.3f} CPU s ({grads / v / 1e6:.2f} M gradients/s), {med['SimPy'] / v:.1f}x SimPy")


if __name__ == "__main__":
    main()
