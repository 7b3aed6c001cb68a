"""``staleness simulate``: one run; a per-gradient table for small runs, summary + histogram for large ones."""

from __future__ import annotations

import argparse
import sys

from staleness.commands._common import add_system_options, number_list, system_kwargs
from staleness.config import SimConfig
from staleness.render import gradient_table, histogram_table, summary_table, to_csv, to_json
from staleness.simulation import ENGINES, simulate

#: Runs with at most this many gradients print the per-gradient table (and list them in JSON).
TABLE_MAX_GRADIENTS = 60
JSON_MAX_GRADIENTS = 100_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate one parameter-server run",
                       description="Simulate P learners and one parameter server; print each gradient's staleness "
                       "(small runs) or the steady-state summary and histogram (large runs).")
    add_system_options(p)
    p.add_argument("--times", action="append", default=None, metavar="T1,T2,...",
                   help="one learner's successive compute times; repeat per learner (replaces --dist)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--updates", "-U", type=int, default=None, help="stop after U server updates (default 1000)")
    stop.add_argument("--until", type=float, default=None, help="stop at this simulated time (seconds)")
    p.add_argument("--engine", default="auto", help=f"{', '.join(ENGINES)} (default auto)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--table", action="store_true", help="rich tables (default)")
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt.add_argument("--csv", action="store_true", help="one CSV line per gradient")
    p.add_argument("--gradients", action="store_true",
                   help=f"list every gradient even in large runs (table > {TABLE_MAX_GRADIENTS}, JSON > {JSON_MAX_GRADIENTS})")
    p.add_argument("--plot", default=None, metavar="FILE", help="timeline (small runs) or staleness histogram; .png, .pdf or .svg")
    p.add_argument("--output", "-o", default=None, metavar="FILE", help="write the text output here (atomically)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    traces = None if args.times is None else [number_list("--times", t) for t in args.times]
    updates = args.updates
    if traces is None and updates is None and args.until is None:
        updates = 1000
    learners = args.learners if args.learners is not None or traces is not None else 4
    return SimConfig(learners=learners, times=traces, updates=updates, until=args.until, **system_kwargs(args))


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    res = simulate(cfg, engine=args.engine)
    n = len(res.gradients)
    if args.json:
        text = to_json(res, gradients=args.gradients or n <= JSON_MAX_GRADIENTS)
    elif args.csv:
        text = to_csv(res)
    else:
        from dlperf.tables import plain_text

        parts = [gradient_table(res)] if args.gradients or n <= TABLE_MAX_GRADIENTS else []
        parts.append(summary_table(res))
        if n > TABLE_MAX_GRADIENTS:
            parts.append(histogram_table(res))
        text = "\n".join(plain_text(t) for t in parts) + "\n"
    if args.output:
        from dlperf.fileio import write_atomic

        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if args.plot:
        from staleness.plot import plot_result

        kind = plot_result(res, args.plot)
        print(f"wrote {kind} to {args.plot}", file=sys.stderr)
    return 0
