"""Simulated gradient pushes per second: staleness (vectorised async path, end to end) against SimPy.

The SimPy model is the same system: P learner processes and one shared version counter; each learner
loops "read the version, wait its compute time, push (the version goes up by one, staleness = version
before the push - version read)". It gets the same per-learner compute times (drawn before the clock
starts, so neither side is timed drawing them... except ours, which draws inside ``simulate``: end to
end), and its staleness sequence is checked equal to ours before any timing is reported.

Run:  python benchmarks/bench_staleness.py [--pushes 1000000] [--simpy-pushes 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from staleness import SimConfig, simulate  # noqa: E402
from staleness.distributions import LearnerStreams  # noqa: E402


def simpy_async(times: list[np.ndarray], pushes: int) -> tuple[np.ndarray, np.ndarray]:
    """SimPy model of asynchronous SGD; returns (learner, staleness) per push, in push order."""
    import simpy

    env = simpy.Environment()
    state = {"version": 0}
    learners, stale = [], []
    done = env.event()

    def learner(i: int, xs: list[float]):
        for x in xs:
            read = state["version"]
            yield env.timeout(x)
            learners.append(i)
            stale.append(state["version"] - read)
            state["version"] += 1
            if state["version"] == pushes:
                done.succeed()
                return

    for i, xs in enumerate(times):
        env.process(learner(i, xs.tolist()))
    env.run(until=done)
    return np.asarray(learners), np.asarray(stale)


def time_ours(p: int, pushes: int, seed: int) -> tuple[float, object]:
    cfg = SimConfig(learners=p, policy="async", dist="exp", mean=1.0, updates=pushes, seed=seed)
    t0 = time.perf_counter()
    res = simulate(cfg)
    return time.perf_counter() - t0, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=1_000_000)
    ap.add_argument("--simpy-pushes", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import simpy

    print(f"# staleness benchmark: async, exponential compute times, {args.pushes:,} pushes (SimPy "
          f"{args.simpy_pushes:,}), median of {args.repeats}; {platform.python_version()}, numpy {np.__version__}, "
          f"simpy {simpy.__version__}, {os.cpu_count()} cores")
    print("| P | staleness pushes/s | SimPy pushes/s | ratio | same staleness sequence |")
    print("|---|---|---|---|---|")
    time_ours(4, 10_000, 0)  # warm-up (imports, numpy first-touch)
    for p in (2, 16, 256):
        ours = []
        for r in range(args.repeats):
            dt, res = time_ours(p, args.pushes, r)
            assert res.engine == "vectorised" and len(res.gradients) == args.pushes
            ours.append(args.pushes / dt)
        # SimPy on the same draws as a smaller staleness run; the sequences must agree exactly
        cfg = SimConfig(learners=p, policy="async", dist="exp", mean=1.0, updates=args.simpy_pushes, seed=0)
        ref = simulate(cfg)
        streams = LearnerStreams(cfg)
        need = np.bincount(ref.gradients.learner, minlength=p) + 1
        draws = [streams.times_array(i, int(n)) for i, n in enumerate(need)]
        theirs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            learner, stale = simpy_async(draws, args.simpy_pushes)
            theirs.append(args.simpy_pushes / (time.perf_counter() - t0))
        same = np.array_equal(learner, ref.gradients.learner) and np.array_equal(stale, ref.gradients.staleness)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"| {p} | {a / 1e6:.2f} M | {b / 1e6:.3f} M | {a / b:.1f}x | {'yes' if same else 'NO'} |")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
