"""``archcalc crosscheck MODEL [--input CxHxW] [--batch N] [--json]``: archcalc beside fvcore and torch.

Exit status 0 when every row agrees, 1 on any mismatch, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "crosscheck",
        help="compare every layer with the real torch model (fvcore, torch's FLOP counter, shapes); exit 1 on mismatch",
        description="Build the real model (weights=None) and compare per layer: output shapes (forward hooks), "
        "parameters and FlopCountAnalysis / ActivationCountAnalysis (fvcore), FlopCounterMode forward and "
        "backward FLOPs (torch). Exit status 1 on any mismatch.",
    )
    parser.add_argument("model", metavar="MODEL",
                        help="zoo model with a torch twin (vgg11..vgg19_bn, alexnet, googlenet, resnet18/34/50, "
                        "inception-small) or torchvision:NAME")
    parser.add_argument("--input", metavar="CxHxW", help="per-sample input shape (default: the model's own)")
    parser.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of the table")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archcalc.crosscheck import crosscheck, footer, to_json, to_markdown, to_table
    from archcalc.report import parse_input_shape, resolve_model

    shape = parse_input_shape(args.input) if args.input is not None else None
    result = crosscheck(resolve_model(args.model), shape, args.batch)
    if args.json:
        sys.stdout.write(json.dumps(to_json(result), indent=2) + "\n")
    elif args.markdown:
        sys.stdout.write(to_markdown(result))
    else:
        from rich.console import Console

        console = Console(width=max(Console().width, 260))
        console.print(to_table(result))
        console.print(footer(result), highlight=False)
    return 0 if result.ok else 1
