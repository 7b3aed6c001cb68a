"""``mlcore curves``: ROC, PR and PRG curves with AUROC, AUPR, average precision and AUPRG."""

from __future__ import annotations

import argparse
import sys

from dlperf.tables import print_table


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "curves",
        help="ROC / PR / PRG areas for the blood-transfusion study or your own scores",
        description="ROC, precision-recall and precision-recall-gain curves and areas, either for the "
        "original study's blood-transfusion experiment (needs scikit-learn) or for scores and labels read from "
        "files (one value per line; labels 0/1).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--dataset", choices=("blood-transfusion",), help="run the built-in experiment (default)"
    )
    src.add_argument("--scores", metavar="FILE", help="scores, one per line (higher = more positive)")
    p.add_argument("--labels", metavar="FILE", help="labels 0/1, one per line (with --scores)")
    p.add_argument("--seed", type=int, default=0, help="train/test split seed for --dataset (default 0)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--plot", metavar="FILE", help="save the three curves to FILE (format by extension: .png, .pdf or .svg)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlcore.curves import blood_transfusion_experiment, evaluate_models, plot_report, read_values
    from mlcore.curves.render import report_json, report_table

    if args.scores is not None or args.labels is not None:
        if args.scores is None or args.labels is None:
            raise ValueError("--scores/--labels: got only one of them; give both files")
        scores = read_values(args.scores, "--scores")
        labels = read_values(args.labels, "--labels")
        report = evaluate_models(labels, {args.scores: scores}, dataset="user scores")
    elif sys.stderr.isatty() and not args.json:
        from rich.console import Console

        with Console(stderr=True).status("training logistic regression and AdaBoost (100 stumps)"):
            report = blood_transfusion_experiment(seed=args.seed)
    else:
        report = blood_transfusion_experiment(seed=args.seed)
    if args.plot:
        plot_report(report, args.plot)
    if args.json:
        sys.stdout.write(report_json(report))
    else:
        print_table(report_table(report), min_width=110)
    return 0
