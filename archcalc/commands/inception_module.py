"""``archcalc inception-module``: report of one GoogLeNet-style Inception module (naive or with reduction)."""

from __future__ import annotations

import argparse

from archcalc.commands.report import add_report_options, emit, report_from_args
from archcalc.models.resolve import parse_input_shape
from archcalc.models.zoo import inception_module


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inception-module",
        help="one Inception module: naive, or with --reduce3/--reduce5/--pool-proj",
        description="Per-layer report of a GoogLeNet-style Inception module. Without --reduce3, --reduce5 and "
        "--pool-proj it is the naive module (1x1, 3x3, 5x5 convs and a 3x3 max-pool side by side).",
    )
    for flag, what in (("--c1", "1x1 branch"), ("--c3", "3x3 conv"), ("--c5", "5x5 conv")):
        parser.add_argument(flag, type=int, required=True, metavar="C", help=f"output channels of the {what}")
    parser.add_argument("--reduce3", type=int, metavar="R", help="1x1 reduction channels before the 3x3 conv")
    parser.add_argument("--reduce5", type=int, metavar="R", help="1x1 reduction channels before the 5x5 conv")
    parser.add_argument("--pool-proj", type=int, metavar="P", help="1x1 projection channels after the max-pool")
    parser.add_argument("--no-bias", action="store_true", help="convolutions without bias")
    parser.add_argument("--no-relu", action="store_true", help="no ReLU after the convolutions")
    add_report_options(parser, input_required=True)
    parser.set_defaults(func=run)


def _one_input(texts: list[str]) -> tuple[int, ...]:
    if len(texts) != 1:
        raise ValueError(f"--input: the Inception module takes one input, got {len(texts)} --input options")
    shape = parse_input_shape(texts[0])
    if len(shape) != 3:
        raise ValueError(f"--input: got {texts[0]!r}; give CxHxW, e.g. 256x32x32")
    return shape


def run(args: argparse.Namespace) -> int:
    net = inception_module(
        _one_input(args.input),
        args.c1,
        args.c3,
        args.c5,
        reduce3=args.reduce3,
        reduce5=args.reduce5,
        pool_proj=args.pool_proj,
        bias=not args.no_bias,
        relu=not args.no_relu,
    )
    return emit(report_from_args(net, args), args)
