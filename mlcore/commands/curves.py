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
        "files (one value per line; labels 0/1 or True/False, or any values with --pos-label).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--dataset", choices=("blood-transfusion",), help="run the built-in experiment (default)"
    )
    src.add_argument("--scores", metavar="[NAME=]FILE", action="append",
                     help="scores, one per line (higher = more positive); repeat it to compare scorers, each "
                     "named, e.g. --scores model_a=a.txt --scores model_b=b.txt (default name: FILE)")
    p.add_argument("--labels", metavar="FILE", help="labels 0/1 or True/False, one per line (with --scores)")
    p.add_argument("--pos-label", metavar="VALUE", default=None,
                   help="the label value of the positive class; every other value is negative")
    p.add_argument("--seed", type=int, default=0, help="train/test split seed for --dataset (default 0)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--plot", metavar="FILE", help="save the three curves to FILE (format by extension: .png, .pdf or .svg)")
    p.set_defaults(func=run)


def _named_scores(specs: list[str]) -> dict[str, str]:
    """``NAME=FILE`` (or ``FILE``, named by itself) per --scores; names must differ."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = spec, spec
        if not name or not path:
            raise ValueError(f"--scores: got {spec!r}; give NAME=FILE or FILE")
        if name in out:
            raise ValueError(f"--scores: the name {name!r} is given twice; give each scorer its own NAME=")
        out[name] = path
    return out


def run(args: argparse.Namespace) -> int:
    from mlcore.curves import (
        blood_transfusion_experiment,
        evaluate_models,
        plot_report,
        read_labels,
        read_values,
    )
    from mlcore.curves.render import report_json, report_table
    from mlcore.training import check_seed

    check_seed(args.seed)
    if args.scores is not None or args.labels is not None:
        if args.scores is None or args.labels is None:
            raise ValueError("--scores/--labels: got only one of them; give both files")
        labels = read_labels(args.labels, "--labels", args.pos_label)
        scores = {}
        for name, path in _named_scores(args.scores).items():
            scores[name] = read_values(path, f"--scores {name}")
            if len(scores[name]) != len(labels):
                raise ValueError(f"--scores {name}: {path!r} holds {len(scores[name])} values but --labels "
                                 f"{args.labels!r} holds {len(labels)}; give one score per label")
        if labels.min() == labels.max():
            only = "positive" if labels[0] else "negative"
            hint = f" (no line equals --pos-label {args.pos_label!r})" if args.pos_label and not labels[0] else ""
            raise ValueError(f"--labels: every label in {args.labels!r} is {only}{hint}; the curves need both classes")
        report = evaluate_models(labels, scores, dataset="user scores")
    elif args.pos_label is not None:
        raise ValueError("--pos-label: applies to --labels files; give --scores and --labels, or drop it")
    elif sys.stderr.isatty() and not args.json:
        from rich.console import Console

        with Console(stderr=True).status("training logistic regression and AdaBoost (100 stumps)"):
            report = blood_transfusion_experiment(seed=args.seed)
    else:
        report = blood_transfusion_experiment(seed=args.seed)
    if args.plot:
        plot_report(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        sys.stdout.write(report_json(report))
    else:
        print_table(report_table(report), min_width=110)
    return 0
