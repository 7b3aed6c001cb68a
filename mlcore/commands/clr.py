"""``mlcore clr``: train with a cyclical learning rate between given bounds or a range test's bounds."""

from __future__ import annotations

import argparse
import sys

from mlcore.commands._common import add_common, emit, load_data, load_model, show_progress


def register(subparsers) -> None:
    p = subparsers.add_parser("clr", help="train with torch's CyclicLR (triangular, triangular2, exp_range)",
                              description=__doc__)
    add_common(p, epochs=5, user_inputs=True)
    p.add_argument("--mode", choices=("triangular", "triangular2", "exp_range"), default="triangular",
                   help="CyclicLR policy (default: triangular)")
    p.add_argument("--base-lr", type=float, default=None, help="lower bound (default: from a range test)")
    p.add_argument("--max-lr", type=float, default=None, help="upper bound (default: from a range test)")
    p.add_argument("--step-size-epochs", type=float, default=1.0, help="half cycle in epochs (default: 1)")
    p.add_argument("--gamma", type=float, default=0.99, help="exp_range decay per iteration (default: 0.99)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlcore.clr import check_bounds, clr_bounds, clr_json, clr_table, plot_clr, train_clr
    from mlcore.training import check_positive_float, check_positive_int

    # checked again by train_clr; here so a bad value is refused before the data, model and range test
    check_positive_int("--epochs", args.epochs)
    check_positive_int("--batch", args.batch_size)
    check_positive_float("--step-size-epochs", args.step_size_epochs)
    check_positive_float("--gamma", args.gamma)
    base, top = args.base_lr, args.max_lr
    if (base is None) != (top is None):
        raise ValueError("--base-lr/--max-lr: got only one; give both, or neither to run a range test")
    if base is not None:
        check_bounds(base, top)
    data = load_data(args)
    model = load_model(args, data)  # built once: the range test restores its weights, then CLR trains it
    if base is None:
        from mlcore.lr_range import lr_range_test

        found = lr_range_test(model, data=data, amp=args.amp, batch_size=args.batch_size, seed=args.seed, device=args.device,
                              show_progress=show_progress(args))
        base, top = clr_bounds(found)
        if not args.json:
            print(f"range test: max_lr = minimum/10 = {top:.3g}, base_lr = max_lr/4 = {base:.3g}", file=sys.stderr)
    res = train_clr(model, data=data, amp=args.amp, base_lr=base, max_lr=top, mode=args.mode, epochs=args.epochs, batch_size=args.batch_size,
                    step_size_epochs=args.step_size_epochs, gamma=args.gamma, seed=args.seed, device=args.device,
                    show_progress=show_progress(args))
    emit(args, clr_table(res), clr_json(res), lambda path: plot_clr(res, path))
    return 0
