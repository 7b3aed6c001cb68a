"""Time ``archcalc vgg19 --table`` end to end against the fvcore route, in the same run.

The fvcore route is what a user does without archcalc: import torch, build torchvision's vgg19
(weights=None) and run ``FlopCountAnalysis(...).total()``. Both are timed as fresh processes (start-up and
imports included), interleaved so a busy machine slows both alike. The fvcore total is also checked
against archcalc's MACs (fvcore counts one per multiply-add and adds the adaptive average pool's input
size, 512*7*7 = 25,088).

Usage (from the repository root)::

    python benchmarks/bench_archcalc.py                 # print the results
    python benchmarks/bench_archcalc.py --write         # and replace the archcalc section of RESULTS.md

Targets (2-core machine): archcalc median < 0.35 s and at least 15x faster than the fvcore route.
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
ARCHCALC = [sys.executable, "-m", "archcalc", "vgg19", "--table"]
FVCORE_CODE = (
    "import torch, torchvision\n"
    "from fvcore.nn import FlopCountAnalysis\n"
    "model = torchvision.models.vgg19(weights=None).eval()\n"
    "print(FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224)).unsupported_ops_warnings(False).total())\n"
)
FVCORE = [sys.executable, "-c", FVCORE_CODE]
TARGET_MEDIAN_S, TARGET_RATIO = 0.35, 15.0


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stdout


def measure(archcalc_runs: int, fvcore_runs: int) -> dict:
    timed(ARCHCALC)  # warm the file cache for both routes
    _, fv_out = timed(FVCORE)
    ours: list[float] = []
    theirs: list[float] = []
    per_round = max(1, archcalc_runs // fvcore_runs)
    while len(ours) < archcalc_runs or len(theirs) < fvcore_runs:
        for _ in range(per_round):
            if len(ours) < archcalc_runs:
                ours.append(timed(ARCHCALC)[0])
        if len(theirs) < fvcore_runs:
            theirs.append(timed(FVCORE)[0])
    from archcalc.ir import evaluate
    from archcalc.models.zoo import build

    macs = evaluate(build("vgg19")).total("macs")
    return {
        "ours": ours,
        "theirs": theirs,
        "fvcore_total": int(fv_out.strip().splitlines()[-1]),
        "archcalc_macs": macs,
    }


def section(res: dict) -> str:
    ours_med, theirs_med = statistics.median(res["ours"]), statistics.median(res["theirs"])
    ratio = theirs_med / ours_med
    ok = ours_med < TARGET_MEDIAN_S and ratio >= TARGET_RATIO
    import torch
    import torchvision

    lines = [
        "## archcalc",
        "",
        "`archcalc vgg19 --table` end to end (a fresh `python -m archcalc` process) against the fvcore route (a fresh",
        "process that imports torch, builds torchvision `vgg19(weights=None)` and runs `FlopCountAnalysis(...).total()`),",
        "measured in the same run, interleaved.",
        "",
        "Reproduce: `python benchmarks/bench_archcalc.py --write` (from the repository root).",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}",
        "",
        "| route | runs | median (s) | min (s) |",
        "|---|---:|---:|---:|",
        f"| `archcalc vgg19 --table` | {len(res['ours'])} | {ours_med:.3f} | {min(res['ours']):.3f} |",
        f"| torch + torchvision vgg19 + fvcore FlopCountAnalysis | {len(res['theirs'])} | {theirs_med:.3f} | "
        f"{min(res['theirs']):.3f} |",
        "",
        f"- ratio (median fvcore route / median archcalc): **{ratio:.1f}x**; targets: archcalc median < "
        f"{TARGET_MEDIAN_S} s and >= {TARGET_RATIO:.0f}x: **{'met' if ok else 'NOT met'}**",
        f"- same answer: fvcore total {res['fvcore_total']:,} = archcalc MACs {res['archcalc_macs']:,} + 25,088 "
        f"(fvcore counts the adaptive average pool's input, 512*7*7): "
        f"**{'yes' if res['fvcore_total'] == res['archcalc_macs'] + 25_088 else 'NO'}**",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    from results import replace_section

    replace_section("## archcalc", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="archcalc runs (default 21)")
    parser.add_argument("--fvcore-runs", type=int, default=5, help="fvcore-route runs (default 5)")
    parser.add_argument("--write", action="store_true", help="replace the archcalc section of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.fvcore_runs < 1:
        parser.error(f"--runs / --fvcore-runs: got {args.runs} / {args.fvcore_runs}; give integers >= 1")
    sys.path.insert(0, str(ROOT))
    text = section(measure(args.runs, args.fvcore_runs))
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
