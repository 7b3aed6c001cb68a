"""Time ``archcalc torchvision:vit_b_16`` (the torch tracer) end to end against the fvcore route, in the same run.

archcalc: a fresh ``python -m archcalc torchvision:vit_b_16 --json`` process (imports torch and
torchvision, builds the model on the meta device, traces, checks, prints). fvcore route: a fresh process
that imports torch + torchvision, builds ``vit_b_16(weights=None)`` and runs
``FlopCountAnalysis(...).total()``. Both interleaved so a busy machine slows both alike; the fvcore total
is checked against archcalc's ``fvcore`` convention (same answer).

Usage (from the repository root)::

    python benchmarks/bench_trace.py             # print the results
    python benchmarks/bench_trace.py --write     # and replace its section of RESULTS.md

Target (issue 9): archcalc no slower than the fvcore route (ratio >= 1).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
TITLE = "## archcalc torch tracer (torchvision:vit_b_16)"
ARCHCALC = [sys.executable, "-m", "archcalc", "torchvision:vit_b_16", "--json"]
FVCORE_CODE = (
    "import logging, torch, torchvision\n"
    "from fvcore.nn import FlopCountAnalysis\n"
    "logging.disable(logging.WARNING)\n"
    "model = torchvision.models.vit_b_16(weights=None).eval()\n"
    "print(FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224)).unsupported_ops_warnings(False).total())\n"
)
FVCORE = [sys.executable, "-c", FVCORE_CODE]
TARGET_RATIO = 1.0


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stdout


def measure(runs: int) -> dict:
    timed(ARCHCALC)  # warm the file cache for both routes
    _, fv_out = timed(FVCORE)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(runs):
        ours.append(timed(ARCHCALC)[0])
        theirs.append(timed(FVCORE)[0])
    from archcalc.check.conventions import get_convention
    from archcalc.frontends.torch_trace import from_torchvision
    from archcalc.ir import evaluate

    conv = get_convention("fvcore")
    rows = evaluate(from_torchvision("vit_b_16")).rows
    return {"ours": ours, "theirs": theirs, "fvcore_total": int(float(fv_out.strip().splitlines()[-1])),
            "archcalc_fvcore": sum(conv.forward(r) for r in rows)}


def section(res: dict) -> str:
    ours_med, theirs_med = statistics.median(res["ours"]), statistics.median(res["theirs"])
    ratio = theirs_med / ours_med
    import torch
    import torchvision

    same = res["fvcore_total"] == res["archcalc_fvcore"]
    lines = [
        TITLE,
        "",
        "`python -m archcalc torchvision:vit_b_16 --json > /dev/null` (a fresh process: torch + torchvision",
        "imports, model built on the meta device, traced at the torch-function level, parameters and shapes",
        "checked) against the fvcore route (a fresh process that imports torch + torchvision, builds",
        "`vit_b_16(weights=None)` and runs `FlopCountAnalysis(...).total()`), measured in the same run, interleaved.",
        "",
        "Reproduce: `python benchmarks/bench_trace.py --write` (from the repository root).",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores (shared with other jobs), {platform.machine()}, Python "
        f"{platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}",
        "",
        "| route | runs | median (s) | min (s) |",
        "|---|---:|---:|---:|",
        f"| `archcalc torchvision:vit_b_16 --json` | {len(res['ours'])} | {ours_med:.3f} | {min(res['ours']):.3f} |",
        f"| torch + torchvision vit_b_16 + fvcore FlopCountAnalysis | {len(res['theirs'])} | {theirs_med:.3f} | "
        f"{min(res['theirs']):.3f} |",
        "",
        f"- ratio (median fvcore route / median archcalc): **{ratio:.2f}x**; target >= {TARGET_RATIO:.0f}x "
        f"(archcalc no slower): **{'met' if ratio >= TARGET_RATIO else 'NOT met'}**",
        f"- same answer: fvcore total {res['fvcore_total']:,} = archcalc's `fvcore` convention "
        f"{res['archcalc_fvcore']:,}: **{'yes' if same else 'NO'}**",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    from results import replace_section

    replace_section(TITLE, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each route (default 5)")
    parser.add_argument("--write", action="store_true", help="replace this section of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs: got {args.runs}; give an integer >= 1")
    sys.path.insert(0, str(ROOT))
    text = section(measure(args.runs))
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
