"""Start-up cost of the three command lines against ``python -c "import numpy"`` (issue 20, item 6).

Every command runs as a fresh process (``python -m PROG ...``), the commands interleaved round after round
so that the machine's load falls on all of them alike; each figure is the median over the rounds of the
wall-clock time and of the CPU time (user + sys of the child), and each ratio divides by the numpy
baseline's median measured in the same run. The target: ``--help`` of each CLI and every argument
refusal within 2x of the baseline.

The children get ``PYTHONPYCACHEPREFIX`` in a temporary folder (warmed by one untimed round): this machine
sets ``PYTHONDONTWRITEBYTECODE=1``, so without it every process would compile the package from source,
which an installed package never does (pip compiles at install time).

``--survey`` also runs every bad-input case of ``tests/test_cli_bad_inputs.py`` (about 300) once, as a
cold process, and lists those whose CPU time exceeds 2x the baseline's.

Reproduce: ``python benchmarks/bench_startup.py --rounds 15 --survey --write`` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BASELINE = "python -c 'import numpy'"

# (label, argv after `python`, expected exit status)
CASES: list[tuple[str, list[str], int]] = [
    (BASELINE, ["-c", "import numpy"], 0),
    ("python -c pass", ["-c", "pass"], 0),
    ("archcalc --help", ["-m", "archcalc", "--help"], 0),
    ("staleness --help", ["-m", "staleness", "--help"], 0),
    ("mlcore --help", ["-m", "mlcore", "--help"], 0),
    ("archcalc --version", ["-m", "archcalc", "--version"], 0),
    ("archcalc peak --help", ["-m", "archcalc", "peak", "--help"], 0),
    ("archcalc --batch 0 vgg19", ["-m", "archcalc", "--batch", "0", "vgg19"], 2),
    ("archcalc vgg19 --input 3x0x0", ["-m", "archcalc", "vgg19", "--input", "3x0x0"], 2),
    ("archcalc peak vgg19 --batch 0", ["-m", "archcalc", "peak", "vgg19", "--batch", "0"], 2),
    ("archcalc memory --params 0", ["-m", "archcalc", "memory", "--params", "0"], 2),
    ("staleness simulate --learners 0", ["-m", "staleness", "simulate", "--learners", "0"], 2),
    ("staleness simulate --updates 1e12 (too long)", ["-m", "staleness", "simulate", "--updates", "1000000000000"], 2),
    ("staleness train --workers 0", ["-m", "staleness", "train", "--workers", "0"], 2),
    ("mlcore clr --epochs 0", ["-m", "mlcore", "clr", "--epochs", "0"], 2),
    ("mlcore bias-variance --datasets 1e9 (too big)", ["-m", "mlcore", "bias-variance", "--datasets", "1000000000"], 2),
]
TARGETS = {label for label, _, code in CASES if code == 2} | {"archcalc --help", "staleness --help", "mlcore --help"}


def _env(pycache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "80"
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + sys of the child), exit status and stderr of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([PY, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, proc.stderr


def headline(rounds: int, env: dict[str, str]) -> list[dict]:
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in CASES}
    for label, argv, code in CASES:  # untimed: fills the bytecode cache, checks the exit status
        _, _, got, err = run_once(argv, env)
        if got != code or (code == 2 and err.count("\n") != 1):
            raise SystemExit(f"{label}: exit {got}, expected {code}; stderr: {err!r}")
    for _ in range(rounds):
        for label, argv, _ in CASES:
            wall, cpu, _, _ = run_once(argv, env)
            times[label].append((wall, cpu))
    base_wall = statistics.median(w for w, _ in times[BASELINE])
    base_cpu = statistics.median(c for _, c in times[BASELINE])
    rows = []
    for label, _, _ in CASES:
        wall = statistics.median(w for w, _ in times[label])
        cpu = statistics.median(c for _, c in times[label])
        rows.append({"label": label, "wall": wall, "cpu": cpu, "wall_ratio": wall / base_wall,
                     "cpu_ratio": cpu / base_cpu, "target": label in TARGETS})
    return rows


def survey(env: dict[str, str]) -> tuple[float, list[tuple[float, str]], int]:
    """CPU seconds of every bad-input case as a cold process: (baseline median, [(cpu, case)], cases)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_cli_bad_inputs import CASES as BAD  # the cases, their folder and its filling: one table, shared
    from test_cli_bad_inputs import fill, make_folder

    tmp = make_folder(Path(tempfile.mkdtemp(prefix="bench-startup-")))
    base, out = [], []
    try:
        for n, (prog, argv, _) in enumerate(BAD):
            if n % 25 == 0:
                base.append(run_once(["-c", "import numpy"], env)[1])
            _, cpu, _, _ = run_once(["-m", prog, *fill(argv, tmp)], env)
            out.append((cpu, " ".join([prog, *argv]).replace(str(tmp), "{tmp}")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return statistics.median(base), sorted(out, reverse=True), len(BAD)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def render(rows: list[dict], rounds: int, load: tuple[str, str], surveyed=None) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    met = all(r["wall_ratio"] <= 2 and r["cpu_ratio"] <= 2 for r in rows if r["target"])
    lines = [
        "## Start-up time of the command lines",
        "",
        "Each command is a fresh process (`python -m PROG ...`, bytecode cached as an installed package has it),",
        f"interleaved over {rounds} rounds; medians of wall-clock and CPU (user + sys) time, ratios to `python -c",
        "\"import numpy\"` measured in the same run. Target (issue 20): every `--help` and every argument refusal",
        "(marked *) within 2x of the baseline.",
        "",
        "Reproduce: `python benchmarks/bench_startup.py --rounds 15 --survey --write` (from the repository root).",
        "",
        f"- date: {now}",
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; shared: "
        f"load average (1 / 5 / 15 min) {load[0]} at the start, {load[1]} at the end",
        "",
        "| command | wall median (ms) | x numpy | CPU median (ms) | x numpy |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = " *" if r["target"] else ""
        lines.append(f"| `{r['label']}`{mark} | {1000 * r['wall']:.0f} | {r['wall_ratio']:.2f} | "
                     f"{1000 * r['cpu']:.0f} | {r['cpu_ratio']:.2f} |")
    worst = max((r for r in rows if r["target"]), key=lambda r: max(r["wall_ratio"], r["cpu_ratio"]))
    lines += ["", f"- every starred command within 2x (wall and CPU): **{'met' if met else 'not met'}** "
              f"(largest: `{worst['label']}`, {worst['wall_ratio']:.2f}x wall, {worst['cpu_ratio']:.2f}x CPU)"]
    if surveyed is not None:
        base, out, count = surveyed
        over = [(cpu, case) for cpu, case in out if cpu > 2 * base]
        lines += [f"- survey: the {count} bad-input cases of tests/test_cli_bad_inputs.py, one cold process each: "
                  f"{len(over)} above 2x the baseline's CPU ({1000 * base:.0f} ms); "
                  + ("each of them:" if over else "the slowest:"), ""]
        lines += [f"  - {1000 * cpu:.0f} ms ({cpu / base:.1f}x): `{case}`" for cpu, case in (over or out[:8])]
        if over:
            lines += ["", "  (a case that loads its input first, such as a model file or a data set, does "
                      "the work the refusal is about)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds of every command (default 15)")
    parser.add_argument("--survey", action="store_true", help="also time every case of test_cli_bad_inputs.py once")
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    pycache = tempfile.mkdtemp(prefix="bench-startup-pyc-")
    try:
        env = _env(pycache)
        start_load = _load()
        rows = headline(args.rounds, env)
        surveyed = survey(env) if args.survey else None
        text = render(rows, args.rounds, (start_load, _load()), surveyed)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from results import replace_section

        replace_section("## Start-up time of the command lines", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
