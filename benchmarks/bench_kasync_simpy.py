"""k-async and k-batch-sync at P = 16 against independent SimPy models on the same draws (issue 23 item 4).

The SimPy models are tests/test_staleness_simpy_oracle.py's (the policy text of Dutta et al. 2018: learners
are processes, the server a version counter; k-async: only the K pushers of an update read the new
version; k-batch-sync: a coordinator starts every learner on the new version, a learner whose gradient
arrives starts another mini-batch on the same version, the stragglers are interrupted at the K-th).
Before any rate is printed, each model's (learner, index, read version, version before apply) rows and
update times are checked equal to ours. CPU seconds from ``time.process_time`` (medians of ``--repeats``,
the three taking turns); ours is ``simulate(cfg, stream=True)`` on the vectorised path and on
``engine="event"``.

Usage: ``python benchmarks/bench_kasync_simpy.py [--updates 100000] [--k 2] [--learners 16]
[--policies k-async,k-batch-sync]``; ``--sweep``: the k-batch-sync path against the event engine at other
P and K (no SimPy).
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


def simpy_k_batch_sync(x: list[list[float]], k: int, updates: int):
    env = simpy.Environment()
    p = len(x)
    nxt = [0] * p  # each learner's next draw: it goes on through its own stream across iterations
    state = {"version": 0}
    rows, times = [], []
    done = env.event()

    def learner(i, arrived, iteration_done):
        read = state["version"]
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
            return  # in flight at the K-th arrival: discarded

    def coordinator():
        while True:
            arrived, iteration_done = [], env.event()
            procs = [env.process(learner(i, arrived, iteration_done)) for i in range(p)]
            yield iteration_done
            for proc in procs:
                if proc.is_alive:
                    proc.interrupt()
            for g in arrived:
                rows.append((*g, state["version"]))
            state["version"] += 1
            times.append(env.now)
            if state["version"] == updates:
                done.succeed()
                return

    env.process(coordinator())
    env.run(until=done)
    return rows, times


MODELS = {"k-async": simpy_k_async, "k-batch-sync": simpy_k_batch_sync}


def bench(policy: str, a: argparse.Namespace) -> tuple[dict[str, float], int]:
    cfg = SimConfig(learners=a.learners, policy=policy, k=a.k, updates=a.updates, seed=0)
    streams = LearnerStreams(cfg)
    # k-batch-sync draws one per learner per iteration plus one per restart
    n = 3 * a.updates * a.k // a.learners + 1000 + (a.updates if policy == "k-batch-sync" else 0)
    x = [streams.times_array(i, n).tolist() for i in range(a.learners)]
    model = MODELS[policy]
    full = simulate(cfg)  # the records, to check the SimPy model first
    assert full.engine == "vectorised"
    g = full.gradients
    ok = g.applied
    ours = list(zip(g.learner[ok].tolist(), g.index[ok].tolist(), g.read_version[ok].tolist(),
                    g.version_before_apply[ok].tolist(), strict=True))
    rows, times = model(x, a.k, a.updates)
    assert rows == ours and np.array_equal(times, full.update_times), f"{policy}: the SimPy model and ours disagree"
    cpu: dict[str, list[float]] = {"SimPy": [], "vectorised": [], "event": []}
    for _ in range(a.repeats):
        c = time.process_time()
        model(x, a.k, a.updates)
        cpu["SimPy"].append(time.process_time() - c)
        for engine in ("vectorised", "event"):
            c = time.process_time()
            simulate(cfg, engine=engine, stream=True)
            cpu[engine].append(time.process_time() - c)
    return {name: statistics.median(v) for name, v in cpu.items()}, len(g)


#: (P, K, updates) of ``--sweep``: the k-batch-sync path against the event engine beyond P = 16
SWEEP = ((16, 2, 20_000), (16, 8, 20_000), (1_000, 2, 1_000), (1_000, 64, 500), (1_000, 500, 100),
         (100_000, 2, 30))


def sweep() -> None:
    """k-batch-sync, vectorised against the event engine (streamed; CPU ns per record, P + K - 1 records an
    update; once each, the two taking turns, summaries checked equal)."""
    print("| P | K | updates | vectorised ns/record | event ns/record | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for p, k, updates in SWEEP:
        cfg = SimConfig(learners=p, policy="k-batch-sync", k=k, updates=updates, seed=0)
        cpu, summary = {}, {}
        for engine in ("vectorised", "event"):
            c = time.process_time()
            summary[engine] = simulate(cfg, engine=engine, stream=True).summary
            cpu[engine] = time.process_time() - c
        assert summary["vectorised"] == summary["event"]
        n = updates * (p + k - 1)
        print(f"| {p:,} | {k} | {updates:,} | {cpu['vectorised'] / n * 1e9:.0f} | {cpu['event'] / n * 1e9:.0f} | "
              f"{cpu['event'] / cpu['vectorised']:.1f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--learners", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--policies", default="k-async,k-batch-sync")
    ap.add_argument("--sweep", action="store_true", help="k-batch-sync against the event engine at other P, K")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    if a.sweep:
        sweep()
        print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        return
    print(f"P = {a.learners}, K = {a.k}, {a.updates:,} updates; rows and update times checked equal to SimPy's")
    print("| policy | path | CPU s | gradients/s | against SimPy |")
    print("|---|---|---:|---:|---:|")
    for policy in a.policies.split(","):
        med, grads = bench(policy, a)
        for name, v in med.items():
            print(f"| {policy} | {name} | {v:.3f} | {grads / v / 1e6:.2f} M | {med['SimPy'] / v:.1f}x |")
    print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
