"""Per-gradient files against the simulation alone (issue 23 item 3).

Each case runs in a fresh interpreter: ``simulate(SimConfig(learners=P, updates=N, seed=0), stream=True)``
alone, then the same run writing every gradient to CSV and to Parquet (the default, and snappy-compressed) (the writers ``staleness simulate
--per-gradient`` uses). CPU seconds are ``time.process_time()`` around the call (every thread of the process,
pyarrow's included; imports excluded), the fastest of ``--repeats`` fresh runs (the machine is shared: the
fastest is the least disturbed); the ratio is against the simulation alone of the same run.

Usage: ``python benchmarks/bench_records.py [--updates 10000000] [--learners 16] [--repeats 3] [--dir /tmp]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CASE = r"""
import json, os, sys, time
from staleness import SimConfig, simulate
from staleness.records import CsvRecords, ParquetRecords
kind, p, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
import pyarrow, pyarrow.parquet, pyarrow.csv  # imports outside the timing
cfg = SimConfig(learners=p, updates=n, seed=0)
t0, w0 = time.process_time(), time.perf_counter()
if kind == "simulation":
    res = simulate(cfg, stream=True)
elif kind == "records":  # every column built per block, nothing written
    res = simulate(cfg, stream=True, records=True, on_block=lambda b: None)
elif kind == "csv":
    with open(path, "wb") as fh:
        w = CsvRecords(fh)
        res = simulate(cfg, stream=True, records=True, on_block=w.write)
        w.close()
else:
    w = ParquetRecords(path, compression="snappy" if kind == "parquet-snappy" else None)
    res = simulate(cfg, stream=True, records=True, on_block=w.write)
    w.close()
cpu, wall = time.process_time() - t0, time.perf_counter() - w0
size = os.path.getsize(path) if os.path.exists(path) else 0
print(json.dumps({"cpu": cpu, "wall": wall, "bytes": size, "mean": res.summary.mean_staleness}))
"""


def run(kind: str, p: int, n: int, folder: str, repeats: int = 1) -> dict:
    """The fastest (CPU) of ``repeats`` fresh runs."""
    return min((_run_once(kind, p, n, folder) for _ in range(repeats)), key=lambda r: r["cpu"])


def _run_once(kind: str, p: int, n: int, folder: str) -> dict:
    path = os.path.join(folder, f"bench_records.{'csv' if kind == 'csv' else 'parquet'}")
    out = subprocess.run([sys.executable, "-c", CASE, kind, str(p), str(n), path], capture_output=True,
                         text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if os.path.exists(path):
        os.unlink(path)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=10_000_000)
    ap.add_argument("--learners", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    a = ap.parse_args()
    load = os.getloadavg()[0]
    base = run("simulation", a.learners, a.updates, a.dir, a.repeats)
    print(f"P = {a.learners}, {a.updates:,} gradients, load average {load:.1f}, fastest of {a.repeats}")
    print("| run | CPU s | wall s | ratio (CPU, to the simulation alone) | file MB |")
    print("|---|---:|---:|---:|---:|")
    print(f"| simulation alone | {base['cpu']:.2f} | {base['wall']:.2f} | 1.0x | - |")
    names = {"records": "every column built, nothing written", "csv": "CSV", "parquet": "Parquet (the default: uncompressed, delta-encoded integers)",
             "parquet-snappy": "Parquet, snappy"}
    for kind in names:
        r = run(kind, a.learners, a.updates, a.dir, a.repeats)
        assert r["mean"] == base["mean"], "the same run"
        size = f"{r['bytes'] / 1e6:.0f}" if r["bytes"] else "-"
        print(f"| with {names[kind]} | {r['cpu']:.2f} | {r['wall']:.2f} | {r['cpu'] / base['cpu']:.1f}x | {size} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
