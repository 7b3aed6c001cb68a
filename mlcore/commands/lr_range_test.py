"""``mlcore lr-range-test``: sweep the learning rate on a model (default: a fresh small Inception) and suggest one."""

from __future__ import annotations

import argparse
import math

from mlcore.commands._common import add_common, emit, load_data, load_model, show_progress


def register(subparsers) -> None:
    p = subparsers.add_parser("lr-range-test", help="learning-rate range test with torch-lr-finder / fastai "
                              "suggestions", description=__doc__)
    add_common(p, epochs=None, user_inputs=True)
    p.add_argument("--start-lr", type=float, default=1e-6, help="first learning rate (default: 1e-6)")
    p.add_argument("--end-lr", type=float, default=10.0, help="last learning rate (default: 10)")
    p.add_argument("--num-iter", type=int, default=100, help="mini-batches in the sweep (default: 100; "
                   "--epochs N overrides it with N passes over the data)")
    p.add_argument("--step-mode", choices=("exp", "linear"), default="exp", help="schedule (default: exp)")
    p.add_argument("--smooth", type=float, default=0.05, help="smoothing factor f (default: 0.05)")
    p.add_argument("--diverge-th", type=float, default=5.0, help="stop when the smoothed loss exceeds this "
                   "times the best (default: 5)")
    p.add_argument("--accumulation-steps", type=int, default=1, help="mini-batches per optimizer step "
                   "(gradient accumulation; default: 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlcore.lr_range import (
        lr_range_json,
        lr_range_table,
        lr_range_test,
        lr_schedule,
        plot_lr_range,
        smooth_losses,
    )
    from mlcore.training import check_positive_float, check_positive_int

    # what needs no data, checked before it loads (lr_range_test checks it again): the schedule (its length
    # comes from the data with --epochs), the divergence threshold, the accumulation and the smoothing
    lr_schedule(args.start_lr, args.end_lr, args.num_iter if args.epochs is None else 2, args.step_mode)
    check_positive_float("diverge_th", args.diverge_th)
    check_positive_int("accumulation_steps", args.accumulation_steps)
    smooth_losses([0.0], args.smooth)
    check_positive_int("--batch", args.batch_size)
    if args.epochs is not None:
        check_positive_int("--epochs", args.epochs)
    data = load_data(args)
    model = load_model(args, data)
    num_iter = args.num_iter
    if args.epochs is not None:
        epochs = check_positive_int("--epochs", args.epochs)
        batch = check_positive_int("--batch", args.batch_size)
        num_iter = max(2, epochs * math.ceil(len(data.train_y) / batch))
    res = lr_range_test(model, data=data, amp=args.amp, accumulation_steps=args.accumulation_steps,
                        start_lr=args.start_lr, end_lr=args.end_lr, num_iter=num_iter,
                        step_mode=args.step_mode, batch_size=args.batch_size, smooth_f=args.smooth,
                        diverge_th=args.diverge_th, seed=args.seed, device=args.device,
                        show_progress=show_progress(args))
    emit(args, lr_range_table(res), lr_range_json(res), lambda path: plot_lr_range(res, path))
    return 0
