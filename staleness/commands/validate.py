"""``staleness validate``: Monte Carlo over a grid of policies and distributions against the closed forms."""

from __future__ import annotations

import argparse
import sys

from dlperf.jsonio import json_text
from dlperf.progress import progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="simulation against every closed form, with confidence intervals",
                       description="Simulate each case of the grid and compare every closed form with the "
                       "steady-state estimate and its batch-means confidence interval. Exit status 1 if any "
                       "check fails.")
    p.add_argument("--updates", "-U", type=int, default=20_000, help="updates per case (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first case (case n uses seed + n)")
    p.add_argument("--confidence", type=float, default=0.999, help="confidence level (default 0.999)")
    p.add_argument("--batches", type=int, default=32, help="batches for the batch-means intervals (default 32)")
    p.add_argument("--all", action="store_true",
                   help="the table lists every check (default: one line per policy, the checks outside their "
                        "interval and the totals)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dlperf.tables import print_fitted
    from staleness.render import validation_summary, validation_table
    from staleness.validate import DEFAULT_GRID, validate

    if args.updates < 1000:
        raise ValueError(f"--updates: got {args.updates}; give at least 1000 (the window needs 32 batches)")
    with progress(len(DEFAULT_GRID), "validating", enabled=None if not (args.json or args.csv) else False) as bar:
        v = validate(DEFAULT_GRID, updates=args.updates, seed=args.seed, confidence=args.confidence,
                     batches=args.batches, progress=lambda case: bar.advance(label=case.label))
    rows = [{"case": c.case.label, "quantity": c.quantity, "formula": c.formula, "theory": c.theory,
             "estimate": c.estimate, "half_width": c.half_width, "ok": c.ok} for c in v.checks]
    if args.json:
        sys.stdout.write(json_text({"updates": v.updates, "seed": v.seed, "confidence": v.confidence,
                                     "batches": v.batches, "all_ok": v.all_ok, "checks": rows}, indent=1) + "\n")
    elif args.csv:
        from dlperf.tables import csv_text

        sys.stdout.write(csv_text(rows))
    else:
        if args.all:
            print_fitted(validation_table(v), fold=["formula", "case", "quantity"])
        else:
            print_fitted(validation_summary(v), fold=["worst gap / half-width"])
            if not v.all_ok:
                print_fitted(validation_table(v, only_failing=True), fold=["formula", "case", "quantity"])
        n_ok = sum(c.ok for c in v.checks)
        cases = len({c.case for c in v.checks})
        more = "" if args.all else "; --all lists every check"
        sys.stdout.write(f"{n_ok} of {len(v.checks)} checks within their interval ({cases} cases){more}\n")
    return 0 if v.all_ok else 1
