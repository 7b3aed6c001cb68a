"""``mlcore bias-variance``: Monte-Carlo bias-variance study of polynomial least squares or ridge."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bias-variance",
        help="bias^2, variance, noise and expected MSE per polynomial degree (Monte Carlo)",
        description="Fit polynomials to many noisy training sets of f(x) = x + sin(1.5x) and decompose "
        "the expected test MSE per degree; also shows the original study's fixed-noisy-test variant.",
    )
    p.add_argument("--degrees", default="1-15", help="degrees, e.g. 1-15 or 1,3,10 (default 1-15)")
    p.add_argument("--datasets", type=int, default=100, help="number of training sets (default 100)")
    p.add_argument("--train-size", type=int, default=40, help="points per training set (default 40)")
    p.add_argument("--test-size", type=int, default=10, help="fixed test points (default 10)")
    p.add_argument("--noise-std", type=float, default=0.3, help="noise standard deviation (default 0.3)")
    p.add_argument(
        "--ridge", type=float, default=None, metavar="ALPHA", help="ridge penalty (default: least squares)"
    )
    p.add_argument("--standardize", action="store_true", help="ridge on standardised monomials")
    p.add_argument("--compare-ridge", type=float, default=None, metavar="ALPHA",
                   help="also run ridge with ALPHA on the same data and overlay it (dashed) in --plot; "
                   "the table and JSON show both studies")
    p.add_argument("--force", action="store_true",
                   help="run even when the memory estimate exceeds the memory available")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--table", action="store_true", help="rich table on stdout (default)")
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout (one study: not with --compare-ridge)")
    p.add_argument("--plot", metavar="FILE", help="save a plot to FILE (format by extension: .png, .pdf or .svg)")
    p.add_argument("--explain", action="store_true", help="the table's caption says what each column means")
    p.set_defaults(func=run)


def _study(cfg, force: bool, show: bool | None):
    from dlperf.progress import progress
    from mlcore.biasvar import bias_variance_study

    with progress(len(cfg.degrees), "fitting degrees", enabled=show) as bar:
        return bias_variance_study(cfg, progress=lambda done, total: bar.update(done), force=force)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from mlcore.biasvar import BiasVarianceConfig, parse_degrees, plot_study
    from mlcore.biasvar.render import study_csv, study_json, study_table
    from mlcore.training import check_seed

    check_seed(args.seed)
    if args.standardize and args.ridge is None:
        raise ValueError("--standardize: only applies to ridge; add --ridge ALPHA")
    if args.compare_ridge is not None and args.csv:
        raise ValueError("--compare-ridge: the CSV holds one study; use --json or the table with it")
    cfg = BiasVarianceConfig(
        degrees=parse_degrees(args.degrees),
        n_datasets=args.datasets,
        train_size=args.train_size,
        test_size=args.test_size,
        noise_std=args.noise_std,
        ridge_alpha=args.ridge,
        standardize=args.standardize,
        seed=args.seed,
    )
    other = None
    if args.compare_ridge is not None:
        if not (args.compare_ridge > 0 and args.compare_ridge < float("inf")):
            raise ValueError(f"--compare-ridge: got {args.compare_ridge}; give a penalty alpha > 0")
        other = dataclasses.replace(cfg, ridge_alpha=args.compare_ridge)
    show = False if (args.json or args.csv) else None  # None: a bar only on a terminal
    study = _study(cfg, args.force, show)
    extra = _study(other, args.force, show) if other is not None else None
    if args.plot:
        plot_study(study, args.plot, extra)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        text = study_json(study)
        if extra is not None:
            import json

            text = json.dumps({**json.loads(text), "overlay": json.loads(study_json(extra))}, indent=2) + "\n"
        sys.stdout.write(text)
    elif args.csv:
        sys.stdout.write(study_csv(study))
    else:
        from dlperf.tables import print_fitted

        for s in (study, extra):
            if s is not None:  # at 80 columns the two fixed-draw headers take two lines (no number is cut)
                print_fitted(study_table(s, explain=args.explain), fold=["fixed-draw bias^2", "fixed-draw mse"],
                             min_fold=10)
    return 0
