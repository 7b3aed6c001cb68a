"""``staleness theory``: the closed forms for one configuration, symbolic and evaluated."""

from __future__ import annotations

import argparse
import sys

from dlperf.jsonio import json_text
from staleness.config import DISTS, POLICIES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("theory", help="closed forms (sympy) for a policy and distribution",
                       description="Print each closed form that holds (time per update, staleness), "
                       "its sympy expression, exact value and float value.")
    p.add_argument("--learners", "-P", type=int, default=4, help="number of learners P (default 4)")
    p.add_argument("--policy", default="async", help=f"{', '.join(POLICIES)} (default async)")
    p.add_argument("--k", "-K", type=int, default=None, help="K of the k-* policies")
    p.add_argument("--bound", type=int, default=None, help="staleness bound s of ssp (closed forms for s = 0)")
    p.add_argument("--dist", default="exp", help=f"{', '.join(DISTS)} (default exp)")
    p.add_argument("--mean", type=float, default=1.0, help="mean compute time (default 1)")
    p.add_argument("--shape", type=float, default=None, help="shape parameter of the distribution")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dlperf.tables import print_fitted
    from staleness.render import theory_table
    from staleness.theory import theory

    th = theory(args.policy, args.learners, args.k, args.dist, args.mean, args.shape, args.bound)
    if args.json:
        rows = [{"quantity": f.quantity, "formula": f.formula, "exact": f.exact, "value": f.value,
                 "condition": f.condition} for f in th.formulas]
        sys.stdout.write(json_text({"policy": th.policy, "learners": th.learners, "k": th.k, "bound": th.bound, "dist": th.dist,
                                     "mean": th.mean, "shape": th.shape, "formulas": rows}, indent=1) + "\n")
    else:
        print_fitted(theory_table(th), fold=["holds for", "formula", "quantity"])
    return 0
