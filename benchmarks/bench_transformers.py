"""Time ``archcalc gpt2 --table`` end to end (a fresh ``python -m archcalc`` process per run).

Wall time of each run and the CPU time (user + system) its process used, so a busy shared machine can be
told apart from a slow program, interleaved with ``archcalc vgg19 --table`` (the route recorded in the
archcalc section) as a reference measured under the same load; also checks, in a separate fresh process, that the command imports neither
torch nor sympy.

Usage (from the repository root)::

    python benchmarks/bench_transformers.py            # print the results
    python benchmarks/bench_transformers.py --write    # and replace the transformers section of RESULTS.md

Target (2-core machine): median wall time < 0.35 s, without importing torch or sympy.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
COMMAND = [sys.executable, "-m", "archcalc", "gpt2", "--table"]
REFERENCE = [sys.executable, "-m", "archcalc", "vgg19", "--table"]  # the recorded CNN route, same run
TARGET_S = 0.35
IMPORTS = ("import sys, io, contextlib\nfrom archcalc.cli import main\n"
           "with contextlib.redirect_stdout(io.StringIO()):\n    main(['gpt2', '--table'])\n"
           "print(sorted(m for m in ('torch', 'sympy') if m in sys.modules))\n")


def timed(command: list[str] = COMMAND) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def section(runs: int) -> str:
    timed()  # warm the file cache
    results, refs = [], []
    for _ in range(runs):  # interleaved, so a busy machine slows both alike
        results.append(timed())
        refs.append(timed(REFERENCE))
    walls, cpus = [w for w, _ in results], [c for _, c in results]
    ref_walls, ref_cpus = [w for w, _ in refs], [c for _, c in refs]
    heavy = subprocess.run([sys.executable, "-c", IMPORTS], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()
    median = statistics.median(walls)
    met = "met" if median < TARGET_S and heavy == "[]" else "NOT met"
    return "\n".join([
        "## archcalc transformers",
        "",
        "`archcalc gpt2 --table` end to end (a fresh `python -m archcalc` process per run: start-up, imports, "
        "building the 12-block graph, evaluating 280 nodes and rendering the rich table).",
        "",
        "Reproduce: `python benchmarks/bench_transformers.py --write` (from the repository root).",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| route | runs | median wall (s) | min wall (s) | median CPU user+sys (s) |",
        "|---|---:|---:|---:|---:|",
        f"| `archcalc gpt2 --table` | {runs} | {median:.3f} | {min(walls):.3f} | {statistics.median(cpus):.3f} |",
        f"| `archcalc vgg19 --table` (reference) | {runs} | {statistics.median(ref_walls):.3f} | {min(ref_walls):.3f} "
        f"| {statistics.median(ref_cpus):.3f} |",
        "",
        f"- ratio gpt2 / vgg19, median wall: {median / statistics.median(ref_walls):.2f}; median CPU: "
        f"{statistics.median(cpus) / statistics.median(ref_cpus):.2f}",
        f"- modules torch / sympy imported by the command: {heavy}",
        f"- target: median wall < {TARGET_S} s without torch or sympy: **{met}**",
        "",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()
    text = section(args.runs)
    print(text)
    if args.write:
        from results import replace_section

        replace_section("## archcalc transformers", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
