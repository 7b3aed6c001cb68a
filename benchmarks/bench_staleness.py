"""Simulated gradient pushes per second, asynchronous SGD: staleness (streamed, in process and as a fresh
command) against SimPy measured in the same run, with peak memory.

The SimPy model is the same system: P learner processes and one shared version counter; each learner
loops "read the version, wait its compute time, push (the version goes up by one, staleness = version
before the push - version read)". It gets the same per-learner compute times (drawn before its clock
starts), and its staleness sequence is checked equal to ours before any timing is reported.

- in process: ``simulate(cfg, stream=True)`` after a warm-up, median of ``--repeats``;
- cold: a fresh ``python -m staleness simulate --learners P --updates N --json`` under ``/usr/bin/time -v``
  (interpreter start, imports, simulation, output; wall clock and peak RSS), median of ``--repeats``;
- ``--huge``: one cold run of 10^9 pushes at P = 16 and at P = 1,024 (summary, wall clock, peak RSS,
  load average);
- ssp (bound 2) and k-async (K = 2) at P = 16, in process: the event engine against the vectorised path,
  the same summary checked first; ``--policies-only`` runs just these lines, plus k-async at P = 16 and
  1,024 with K = 1, 2, 8 and P / 2 (``--policy-pushes`` gradients each).

The fresh commands run as an installed package does: with its bytecode cached (pip compiles it at
install time). This machine sets PYTHONDONTWRITEBYTECODE=1, so every fresh process would compile the
package's ~45 modules from source (~40 ms); the child gets PYTHONPYCACHEPREFIX in a temporary folder,
filled by one untimed run. The table also gives the median wall clock without that cache ("no .pyc").

Run:  python benchmarks/bench_staleness.py [--pushes 10000000] [--simpy-pushes 200000] [--repeats 3] [--huge]
      [--learners 16,1024] [--policy-pushes 200000] [--policies-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

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


def policy_rates(policy: str, kw: dict, updates: int, p: int = 16, repeats: int = 1) -> str:
    """One line: the event engine's and the vectorised path's updates/s and gradients/s (wall and CPU; medians
    of ``repeats`` runs, the two engines taking turns), in process, streamed, the summaries checked equal."""
    cfg = SimConfig(learners=p, policy=policy, updates=updates, seed=0, **kw)
    grads = updates * cfg.effective_k
    out, summaries, cpus = [], [], []
    runs: dict[str, list[tuple[float, float]]] = {"event": [], "vectorised": []}
    for _ in range(repeats):
        for engine in runs:
            t0, c0 = time.perf_counter(), time.process_time()
            summaries.append(simulate(cfg, engine=engine, stream=True).summary)
            runs[engine].append((time.perf_counter() - t0, time.process_time() - c0))
    for engine, times in runs.items():
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        cpus.append(cpu)
        out.append(f"{engine} {updates / wall / 1e6:.3g} M updates/s = {grads / wall / 1e6:.2f} M gradients/s "
                   f"(CPU {grads / cpu / 1e6:.2f} M gradients/s)")
    same = "same summary" if all(x == summaries[0] for x in summaries) else "SUMMARIES DIFFER"
    return f"- {policy} {kw}, P = {p}, {updates:,} updates, streamed: {'; '.join(out)}; vectorised / event " \
           f"{cpus[0] / cpus[1]:.1f}x (CPU); {same}; load {os.getloadavg()[0]:.1f}"


def k_async_loops(p: int, k: int, updates: int, repeats: int = 1) -> str:
    """k-async's two ways of choosing a batch, each forced (CPU gradients/s, median of ``repeats``, streamed,
    summaries checked equal): the Python loop (a heap or sorted list of floats) and one numpy sort of the P
    times per batch."""
    import staleness.vectorised_kasync as kasync

    cfg = SimConfig(learners=p, policy="k-async", k=k, updates=updates, seed=0)
    saved, out, summaries = kasync.WIDE, [], []
    try:
        for name, wide in (("Python loop", p + 1), ("numpy sort per batch", 1)):
            kasync.WIDE = wide
            cpu = []
            for _ in range(repeats):
                c0 = time.process_time()
                summaries.append(simulate(cfg, engine="vectorised", stream=True).summary)
                cpu.append(time.process_time() - c0)
            out.append(f"{name} {updates * k / statistics.median(cpu) / 1e6:.2f} M")
    finally:
        kasync.WIDE = saved
    same = "same summary" if all(x == summaries[0] for x in summaries) else "SUMMARIES DIFFER"
    return f"  - k-async K = {k}, P = {p}, gradients/s (CPU): {', '.join(out)}; {same}"


def policy_lines(updates: int, repeats: int) -> None:
    """ssp and k-async at P = 16 (``updates`` updates), then k-async at P = 16 and 1,024 for K = 1, 2, 8, P / 2
    (``updates`` gradients each; for 1 < K < P also each way of choosing a batch, forced)."""
    for policy, kw in (("ssp", {"bound": 2}), ("k-async", {"k": 2})):
        print(policy_rates(policy, kw, updates, repeats=repeats), flush=True)
    for p in (16, 1024):
        for k in sorted({1, 2, 8, p // 2}):
            print(policy_rates("k-async", {"k": k}, max(1, updates // k), p, repeats), flush=True)
            if 1 < k < p:
                print(k_async_loops(p, k, max(1, updates // k), repeats), flush=True)


def simpy_rate(p: int, pushes: int, repeats: int) -> tuple[float, float, bool]:
    """SimPy pushes/s (median; wall and CPU) on our draws, and whether its staleness sequence equals ours."""
    cfg = SimConfig(learners=p, policy="async", dist="exp", mean=1.0, updates=pushes, seed=0)
    ref = simulate(cfg)
    streams = LearnerStreams(cfg)
    need = np.bincount(ref.gradients.learner, minlength=p) + 1
    draws = [streams.times_array(i, int(n)) for i, n in enumerate(need)]
    rates, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        learner, stale = simpy_async(draws, pushes)
        rates.append(pushes / (time.perf_counter() - t0))
        cpu.append(pushes / (time.process_time() - c0))
    same = np.array_equal(learner, ref.gradients.learner) and np.array_equal(stale, ref.gradients.staleness)
    return statistics.median(rates), statistics.median(cpu), same


def in_process_rate(p: int, pushes: int, repeats: int) -> tuple[float, float]:
    """Streamed pushes/s in this process (median; wall and CPU)."""
    simulate(SimConfig(learners=p, updates=10_000, seed=0), stream=True)  # warm-up: imports, first touch
    rates, cpu = [], []
    for r in range(repeats):
        cfg = SimConfig(learners=p, updates=pushes, seed=r)
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(cfg, stream=True)
        rates.append(pushes / (time.perf_counter() - t0))
        cpu.append(pushes / (time.process_time() - c0))
    return statistics.median(rates), statistics.median(cpu)


PYCACHE = tempfile.mkdtemp(prefix="bench-staleness-pyc-")


def cold(p: int, pushes: int, cached: bool = True) -> tuple[float, float, dict, float]:
    """(wall seconds, peak RSS in MB, JSON summary, CPU seconds) of one fresh ``staleness simulate`` process
    (with the package's bytecode cached, as installed, unless ``cached`` is False)."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "staleness", "simulate", "--learners", str(p),
           "--updates", str(pushes), "--json"]
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", out.stderr).group(1)
    secs = sum(float(x) * 60**i for i, x in enumerate(reversed(wall.split(":"))))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) / 1024
    cpu = sum(float(re.search(rf"{w} time \(seconds\): (\S+)", out.stderr).group(1)) for w in ("User", "System"))
    return secs, rss, json.loads(out.stdout)["summary"], cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=10_000_000)
    ap.add_argument("--simpy-pushes", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--learners", default="16,1024", help="comma-separated P values")
    ap.add_argument("--huge", action="store_true", help="also one cold run of 10^9 pushes at P = 16 and 1,024")
    ap.add_argument("--policy-pushes", type=int, default=200_000, help="updates of the ssp / k-async runs")
    ap.add_argument("--policies-only", action="store_true", help="only the ssp / k-async lines")
    args = ap.parse_args()
    if args.policies_only:
        print(f"# staleness benchmark: ssp / k-async, exponential compute times; {platform.python_version()}, numpy "
              f"{np.__version__}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}; medians of "
              f"{args.repeats}")
        policy_lines(args.policy_pushes, args.repeats)
        return 0
    import simpy

    print(f"# staleness benchmark: async, exponential compute times; {platform.python_version()}, numpy "
          f"{np.__version__}, simpy {simpy.__version__}, {os.cpu_count()} cores; load average at start "
          f"{os.getloadavg()[0]:.1f}; medians of {args.repeats}")
    print(f"| P | SimPy pushes/s ({args.simpy_pushes:,}) | same staleness | in process, streamed ({args.pushes:,}) "
          "| ratio | its CPU time | fresh command, end to end (wall) | ratio | its CPU time (user + sys) | ratio "
          "| no .pyc (wall) | peak RSS | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in (int(x) for x in args.learners.split(",")):
        theirs, theirs_cpu, same = simpy_rate(p, args.simpy_pushes, args.repeats)
        if not same:
            print(f"| {p} | staleness sequences differ from SimPy: no timing reported |")
            return 1
        ours, ours_cpu = in_process_rate(p, args.pushes, args.repeats)
        cold(p, 10_000)  # fills the bytecode cache (untimed)
        runs = [cold(p, args.pushes) for _ in range(args.repeats)]
        plain = statistics.median(cold(p, args.pushes, cached=False)[0] for _ in range(args.repeats))
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        cpu = statistics.median(r[3] for r in runs)
        print(f"| {p} | {theirs / 1e6:.3f} M (CPU {theirs_cpu / 1e6:.3f} M) | yes | {ours / 1e6:.2f} M | "
              f"{ours / theirs:.1f}x | {ours_cpu / 1e6:.2f} M/s, {ours_cpu / theirs_cpu:.1f}x | "
              f"{args.pushes / wall / 1e6:.2f} M ({wall:.2f} s) | {args.pushes / wall / theirs:.1f}x | {cpu:.2f} s "
              f"({args.pushes / cpu / 1e6:.2f} M/s) | {args.pushes / cpu / theirs_cpu:.1f}x | "
              f"{args.pushes / plain / 1e6:.2f} M ({plain:.2f} s) | {rss:.0f} MB | {os.getloadavg()[0]:.1f} |")
    print()
    policy_lines(args.policy_pushes, args.repeats)
    if args.huge:
        for p in (16, 1024):
            load0 = os.getloadavg()
            secs, rss, s, cpu = cold(p, 10**9)
            load1 = os.getloadavg()
            print(f"\n10^9 pushes, P = {p}, fresh command: {secs:.1f} s ({1e9 / secs / 1e6:.2f} M pushes/s), peak RSS "
                  f"{rss:.0f} MB, CPU {cpu:.1f} s, load average {load0[0]:.1f} before / {load1[0]:.1f} after (1-min)")
            print(f"  window {s['window']}; mean staleness {s['mean_staleness']:.6f} (theory P - 1 = {p - 1}), "
                  f"std {s['std_staleness']:.4f} (theory sqrt(P(P-1)) = {(p * (p - 1)) ** 0.5:.4f}), p50 / p95 / max "
                  f"{s['p50_staleness']:g} / {s['p95_staleness']:g} / {s['max_staleness']:g}, time per update "
                  f"{s['time_per_update']:.8f} (theory 1/P = {1 / p:.8f}), utilisation {s['mean_utilisation']:.6f}")
    shutil.rmtree(PYCACHE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
