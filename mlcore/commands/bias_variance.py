"""``mlcore bias-variance``: Monte-Carlo bias-variance study of polynomial least squares or ridge."""

from __future__ import annotations

import argparse
import sys

from dlperf.progress import progress
from dlperf.tables import print_table


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
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--table", action="store_true", help="rich table on stdout (default)")
    fmt.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.add_argument("--plot", metavar="FILE", help="save a plot to FILE (format by extension: .png, .pdf or .svg)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlcore.biasvar import BiasVarianceConfig, bias_variance_study, parse_degrees, plot_study
    from mlcore.biasvar.render import study_csv, study_json, study_table

    if args.standardize and args.ridge is None:
        raise ValueError("--standardize: only applies to ridge; add --ridge ALPHA")
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
    with progress(len(cfg.degrees), "fitting degrees", enabled=False if (args.json or args.csv) else None) as bar:
        study = bias_variance_study(cfg, progress=lambda done, total: bar.update(done))
    if args.plot:
        plot_study(study, args.plot)
    if args.json:
        sys.stdout.write(study_json(study))
    elif args.csv:
        sys.stdout.write(study_csv(study))
    else:
        print_table(study_table(study), min_width=120)
    return 0
