"""The run-size guard against real runs: estimated CPU seconds and peak memory next to the measured ones.

Each case runs once in a fresh interpreter (as a user's run does): CPU seconds (user + sys of the
process, ``time.process_time``) of ``simulate(cfg, stream=..., force=True)`` and the process's peak
resident set (VmHWM: the interpreter, the imports and the run). The estimate uses this
machine's calibration (measured once and cached, :mod:`staleness.calibration`). The ratio is estimate /
real; the guard's target is 0.5 to 2.

Run:  python benchmarks/bench_estimate.py [--max-learners 1000000] [--cases async,sync,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_RUN = """
import json, resource, sys, time
from staleness import SimConfig, simulate
cfg = SimConfig(**json.loads(sys.argv[1]))
t, w = time.process_time(), time.perf_counter()
simulate(cfg, stream=sys.argv[2] == "1", force=True)
cpu, wall = time.process_time() - t, time.perf_counter() - w
# VmHWM: this process's own peak (ru_maxrss would keep the forking parent's size across exec)
hwm = [int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(cpu, wall, hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

#: (label, SimConfig keywords, streamed)
CASES = [
    ("async", {"learners": 16, "updates": 10**7}, True),
    ("async", {"learners": 16, "updates": 2 * 10**6}, False),
    ("async", {"learners": 1000, "updates": 10**7}, True),
    ("async", {"learners": 100_000, "updates": 10**7}, True),
    ("async", {"learners": 1_000_000, "updates": 4 * 10**6}, True),
    ("sync", {"learners": 16, "policy": "sync", "updates": 10**6}, True),
    ("sync", {"learners": 1000, "policy": "sync", "updates": 10**4}, True),
    ("sync", {"learners": 100_000, "policy": "sync", "updates": 40}, True),
    ("sync", {"learners": 1_000_000, "policy": "sync", "updates": 4}, True),
    ("ssp", {"learners": 16, "policy": "ssp", "bound": 2, "updates": 2 * 10**6}, True),
    ("ssp", {"learners": 100_000, "policy": "ssp", "bound": 2, "updates": 2 * 10**6}, True),
    ("k-async", {"learners": 16, "policy": "k-async", "k": 2, "updates": 10**6}, True),
    ("k-async", {"learners": 100_000, "policy": "k-async", "k": 2, "updates": 10**6}, True),
    ("event", {"learners": 16, "updates": 5 * 10**5, "push_latency": 0.01}, True),
    ("event", {"learners": 100_000, "updates": 5 * 10**5, "push_latency": 0.01}, True),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-learners", type=int, default=1_000_000)
    ap.add_argument("--cases", default=None, help="comma-separated labels (default: all)")
    args = ap.parse_args(argv)
    from staleness import SimConfig
    from staleness.calibration import cache_path, calibration
    from staleness.estimate import estimate

    cal = calibration()
    print(f"calibration: {cal} ({cache_path()}); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    print("| policy | P | gradients | streamed | path | est. CPU s | real CPU s | ratio | real wall s | est. MB | "
          "real peak MB | ratio | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    labels = None if args.cases is None else set(args.cases.split(","))
    for label, kw, stream in CASES:
        if kw["learners"] > args.max_learners or (labels is not None and label not in labels):
            continue
        kw = {"seed": 0, **kw}
        est = estimate(SimConfig(**kw), stream=stream)
        out = subprocess.run([sys.executable, "-c", _RUN, json.dumps(kw), "1" if stream else "0"],
                             capture_output=True, text=True, check=True)
        cpu, wall, peak = (float(x) for x in out.stdout.split()[-3:])
        print(f"| {label} | {kw['learners']:,} | {est.gradients:,} | {'yes' if stream else 'no'} | {est.path} | "
              f"{est.seconds:.2f} | {cpu:.2f} | {est.seconds / cpu:.2f} | {wall:.1f} | {est.bytes / 2**20:.0f} | "
              f"{peak / 2**20:.0f} | {est.bytes / peak:.2f} | {os.getloadavg()[0]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
