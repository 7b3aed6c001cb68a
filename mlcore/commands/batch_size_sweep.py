"""``mlcore batch-size-sweep``: train at doubling batch sizes, fixed learning rate and linear scaling."""

from __future__ import annotations

import argparse
import sys

from dlperf.cli import CommaList, ExtendCommaList
from mlcore.commands._common import (
    add_common,
    emit,
    load_data,
    load_model,
    show_progress,
    wrote,
)


def register(subparsers) -> None:
    p = subparsers.add_parser("batch-size-sweep", help="training loss and accuracy per batch size",
                              description=__doc__)
    add_common(p, epochs=2, batch_size=None, user_inputs=True)
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (at --base-batch for the linear rule; "
                   "default: 0.01)")
    p.add_argument("--min-batch", type=int, default=16, help="smallest batch size (default: 16)")
    p.add_argument("--max-batch", type=int, default=256, help="largest batch size (default: 256)")
    p.add_argument("--rule", nargs="+", type=CommaList(choices=("fixed", "linear")), action=ExtendCommaList,
                   default=["fixed", "linear"], metavar="RULE[,RULE]",
                   help="fixed learning rate and/or the linear scaling rule, comma-separated (default: fixed,linear)")
    p.add_argument("--base-batch", type=int, default=None, help="batch at which the linear rule uses --lr "
                   "(default: --min-batch)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlcore.batch_sweep import (
        batch_size_sweep,
        batch_sweep_csv,
        batch_sweep_json,
        batch_sweep_table,
        doubling,
        plot_batch_sweep,
    )

    if args.csv and args.json:  # one format on stdout; silently dropping one would surprise
        raise ValueError("--csv: got it with --json; give one of --csv or --json")
    sizes = doubling(args.min_batch, args.max_batch)
    from mlcore.training import MAX_LR, check_positive_float, check_positive_int

    # checked again by batch_size_sweep; here so that a bad value is refused before the data loads
    check_positive_float("lr", args.lr, MAX_LR)
    if args.base_batch is not None:
        check_positive_int("base_batch", args.base_batch)
    check_positive_int("epochs", args.epochs)
    data = load_data(args)
    res = batch_size_sweep(load_model(args, data), data=data, amp=args.amp, lr=args.lr, batch_sizes=sizes, epochs=args.epochs, rules=args.rule,
                           base_batch=args.base_batch, seed=args.seed, device=args.device,
                           show_progress=show_progress(args) and not args.csv)
    if args.csv and not args.json:
        sys.stdout.write(batch_sweep_csv(res))
        if args.plot:
            plot_batch_sweep(res, args.plot)
            wrote(args.plot)
        return 0
    emit(args, batch_sweep_table(res), batch_sweep_json(res), lambda path: plot_batch_sweep(res, path))
    return 0
