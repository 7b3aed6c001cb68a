"""``staleness sweep``: simulate over learners / K / distributions / policies; a table and an optional plot."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from dlperf.cli import hidden_alias
from dlperf.jsonio import json_text
from dlperf.progress import progress
from staleness.commands._common import system_kwargs
from staleness.config import DISTS, POLICIES


def _ints(flag: str, text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"{flag}: got {text!r}; give comma-separated integers such as 2,4,8") from None


def _names(flag: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    names = text.split(",")
    for n in names:
        if n not in allowed:
            raise ValueError(f"{flag}: got {n!r}; choose from {', '.join(allowed)}")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    from staleness.commands._common import add_system_options

    p = sub.add_parser("sweep", help="simulate over learners, K, distributions and policies",
                       description="One run per combination (K varies only for the k-* policies; K > P is "
                       "skipped); steady-state figures beside the closed forms.")
    add_system_options(p, with_learners=False, lists=True)
    p.set_defaults(policy="async,sync", dist="exp")
    p.add_argument("--learners", "-P", default="2,4,8,16", help="comma-separated P values (default 2,4,8,16)")
    hidden_alias(p, "--ks", "--k")  # the old spelling, kept for old scripts
    p.add_argument("--updates", "-U", type=int, default=10_000, help="updates per run (default 10000)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.add_argument("--plot", default=None, metavar="FILE", help="staleness and time per update against P; .png, .pdf or .svg")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dlperf.tables import print_fitted
    from staleness.render import sweep_table
    from staleness.sweep import sweep, sweep_configs

    policies = _names("--policy", args.policy, POLICIES)
    dists = _names("--dist", args.dist, DISTS)
    learners = _ints("--learners", args.learners)
    k_text = args.k
    if k_text is None and any(pol.startswith("k-") for pol in policies):
        raise ValueError(f"--k: missing for policy {next(x for x in policies if x.startswith('k-'))}; give "
                         "comma-separated K values such as 1,2,4")
    ks = _ints("--k", k_text) if k_text is not None else [1]
    kw = system_kwargs(args)
    for name in ("policy", "dist", "k"):
        kw.pop(name)
    seed, bound = kw.pop("seed"), kw.pop("bound")
    n = len(sweep_configs(policies, learners, ks, dists, args.updates, seed, bound, **kw))
    with progress(n, "sweeping", enabled=None if not (args.json or args.csv) else False) as bar:
        res = sweep(policies, learners, ks, dists, args.updates, seed, bound,
                    progress=lambda c: bar.advance(label=f"{c.policy} P={c.learners}"), **kw)
    rows = [dataclasses.asdict(r) for r in res.rows]
    if args.json:
        sys.stdout.write(json_text({"updates": res.updates, "seed": res.seed, "rows": rows}, indent=1) + "\n")
    elif args.csv:
        from dlperf.tables import csv_text

        sys.stdout.write(csv_text(rows))
    else:
        print_fitted(sweep_table(res), fold=["policy", "dist"])
    if args.plot:
        from staleness.plot import plot_sweep

        plot_sweep(res, args.plot)
        print(f"wrote sweep plot to {args.plot}", file=sys.stderr)
    return 0
