"""``staleness simulate``: one run; a per-gradient table for small runs, summary + histogram otherwise.

Runs stream (memory O(P + chunk), see :mod:`staleness.stream`) unless every gradient must be kept:
``--gradients`` (listed in the table or the JSON), ``--csv`` (one line per gradient on stdout), or a
small run (at most :data:`TABLE_MAX_GRADIENTS` gradients, which the table lists). ``--per-gradient
FILE`` writes every gradient as the run streams. Before anything is allocated the request is sized
(:mod:`staleness.estimate`) and refused with its estimate if it cannot finish (``--force`` overrides).
"""

from __future__ import annotations

import argparse
import sys

from staleness.commands._common import add_system_options, number_list, system_kwargs
from staleness.config import SimConfig
from staleness.simulation import ENGINES

#: Runs with at most this many gradients print the per-gradient table (and list them in JSON).
TABLE_MAX_GRADIENTS = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate one parameter-server run",
                       description="Simulate P learners and one parameter server; print each gradient's staleness "
                       "(small runs) or the steady-state summary and histogram (large runs, streamed).")
    add_system_options(p)
    p.add_argument("--times", action="append", default=None, metavar="T1,T2,...",
                   help="one learner's successive compute times (comma list); repeat per learner (replaces --dist)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--updates", "-U", type=int, default=None, help="stop after U server updates (default 1000)")
    stop.add_argument("--until", type=float, default=None, help="stop at this simulated time (in --unit)")
    p.add_argument("--engine", default="auto", help=f"{', '.join(ENGINES)} (default auto)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--table", action="store_true", help="rich tables (default)")
    fmt.add_argument("--json", action="store_true", help="JSON on stdout (gradients listed for small runs or "
                     "with --gradients; the histogram's exact counts always)")
    fmt.add_argument("--csv", action="store_true", help="one CSV line per gradient on stdout (keeps them in memory)")
    p.add_argument("--gradients", action="store_true",
                   help=f"list every gradient even in runs of more than {TABLE_MAX_GRADIENTS} (kept in memory)")
    p.add_argument("--per-gradient", default=None, metavar="FILE",
                   help="write every gradient to FILE as the run streams (CSV; Parquet for .parquet with pyarrow)")
    p.add_argument("--series-points", type=int, default=100, help="points of the staleness time series (default 100)")
    p.add_argument("--force", action="store_true", help="run even when the estimate says it cannot finish")
    p.add_argument("--plot", default=None, metavar="FILE", help="PNG: timeline (small runs) or staleness histogram")
    p.add_argument("--output", "-o", default=None, metavar="FILE", help="write the text output here (atomically)")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    traces = None if args.times is None else [number_list("--times", t) for t in args.times]
    updates = args.updates
    if traces is None and updates is None and args.until is None:
        updates = 1000
    learners = args.learners if args.learners is not None or traces is not None else 4
    try:
        return SimConfig(learners=learners, times=traces, updates=updates, until=args.until, **system_kwargs(args))
    except MemoryError:  # the per-learner tables alone outgrow memory: say which flag made them so
        raise ValueError(f"--learners: got {learners}; its per-learner tables do not fit in memory; "
                         "give fewer learners") from None


def _keep(args: argparse.Namespace, cfg: SimConfig) -> bool:
    """Whether the run keeps every gradient (else it streams)."""
    from staleness.estimate import estimate

    return args.gradients or args.csv or estimate(cfg).gradients <= TABLE_MAX_GRADIENTS


def run(args: argparse.Namespace) -> int:
    from staleness.estimate import check

    if args.per_gradient:  # refuse a bad path before the run, not after it
        from dlperf.fileio import check_output_path

        check_output_path("--per-gradient", args.per_gradient)
        if str(args.per_gradient).endswith(".parquet"):  # a missing or broken pyarrow, before the run
            from staleness.records import import_pyarrow

            import_pyarrow(args.per_gradient, "--per-gradient")
    cfg = config_from_args(args)
    keep = _keep(args, cfg)
    est = check(cfg, stream=not keep, engine=args.engine, force=args.force)
    if args.per_gradient:
        return _with_records(args, cfg, keep, est)
    return _finish(args, _simulate(args, cfg, keep, est, None))


def _simulate(args, cfg, keep, est, on_block):
    from dlperf.progress import progress
    from staleness.simulation import simulate

    total = cfg.updates or 0
    long = est.seconds > 2.0 and total > 0
    # the estimate is in the description: the bar's own ETA needs a first block (at P = 10^5 that is seconds)
    what = f"simulating {total} updates (estimated {est.seconds:.0f} CPU s)"
    with progress(total, what, False if (not long or args.json or args.csv) else None) as bar:
        def on(b):
            if on_block is not None:
                on_block(b)
            bar.update(b.first_update + b.n_updates - 1)

        return simulate(cfg, engine=args.engine, stream=not keep, on_block=on, series_points=args.series_points,
                        records=bool(args.per_gradient), force=True)


def _with_records(args, cfg, keep, est) -> int:
    from dlperf.fileio import write_atomic_with
    from staleness.records import CsvRecords, ParquetRecords

    out = {}
    if str(args.per_gradient).endswith(".parquet"):
        def write(tmp: str) -> None:
            w = ParquetRecords(tmp, name=args.per_gradient)
            out["res"] = _simulate(args, cfg, keep, est, w.write)
            w.close()
            out["rows"] = w.rows
    else:
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                w = CsvRecords(fh)
                out["res"] = _simulate(args, cfg, keep, est, w.write)
                w.close()
                out["rows"] = w.rows
    write_atomic_with(args.per_gradient, write, flag="--per-gradient")
    print(f"wrote {out['rows']} gradients to {args.per_gradient}", file=sys.stderr)
    return _finish(args, out["res"])


def _tables_text(parts: list, to_file: bool) -> str:
    """The tables as text: a terminal's own width (long cells fold onto the next line, nothing is cut);
    a file or a pipe every table's full natural width."""
    from rich.console import Console

    from dlperf.tables import natural_width, plain_text

    console = Console()
    if console.is_terminal and not to_file:
        return "\n".join(plain_text(t, width=console.width) for t in parts) + "\n"
    return "\n".join(plain_text(t, width=max(80, natural_width(t))) for t in parts) + "\n"


def _finish(args: argparse.Namespace, res) -> int:
    from staleness.render import gradient_table, histogram_table, summary_table, to_csv, to_json

    listed = res.gradients is not None and (args.gradients or len(res.gradients) <= TABLE_MAX_GRADIENTS)
    if args.json:
        text = to_json(res, gradients=listed)
    elif args.csv:
        text = to_csv(res)
    else:
        parts = [gradient_table(res)] if listed else []
        parts.append(summary_table(res))
        if not listed or len(res.gradients) > TABLE_MAX_GRADIENTS:
            parts.append(histogram_table(res))
        text = _tables_text(parts, to_file=bool(args.output))
    if args.output:
        from dlperf.fileio import write_atomic

        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.plot:
        from staleness.plot import plot_result

        kind = plot_result(res, args.plot)
        print(f"wrote {kind} to {args.plot}", file=sys.stderr)
    return 0
