"""``archcalc crosscheck MODEL [--input CxHxW] [--batch N] [--saved] [--json | --markdown]``.

archcalc beside fvcore, torch's FLOP counter and the real model's shapes (and, with ``--saved``, the bytes
autograd saves). Exit status 0 when everything agrees, 1 on any mismatch, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from dlperf.jsonio import json_text


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
                        "inception-small), torchvision:NAME, timm:NAME or hf:NAME_OR_PATH (one input)")
    parser.add_argument("--input", metavar="CxHxW", help="per-sample input shape (default: the model's own)")
    parser.add_argument("--batch", type=int, default=None, metavar="N", help="batch size (default 1)")
    parser.add_argument("--saved", action="store_true",
                        help="also compare the bytes saved for backward with what autograd keeps (a real train-mode "
                        "forward pass on the CPU at this input, batch >= 2)")
    parser.add_argument("--all", action="store_true",
                        help="the table lists every row (default: the mismatching rows and the total)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON instead of the table")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archcalc.crosscheck import STEPS, crosscheck, footer, header, to_json, to_markdown, to_table
    from archcalc.report import parse_input_shape, resolve_model
    from dlperf.progress import progress

    shape = parse_input_shape(args.input) if args.input is not None else None
    batch_given = args.batch is not None
    args.batch = 1 if args.batch is None else args.batch
    network = resolve_model(args.model, [shape] if shape else None, args.batch)
    if network.twin is None and args.model.startswith("hf:"):
        raise ValueError(f"model: {args.model} takes {len(network.inputs)} inputs; crosscheck compares models with "
                         "one input (a decoder or encoder, a vision model): use `archcalc {args.model}` for its report")
    with progress(len(STEPS), f"crosscheck {network.name}") as bar:  # stderr, on a terminal only
        result = crosscheck(network, shape, args.batch, on_step=lambda name: bar.advance(label=name))
    saved = None
    if args.saved:
        from archcalc.saved import check_saved, saved_json, saved_line

        saved = check_saved(network, shape, max(2, args.batch))
    if args.json:
        data = to_json(result)
        if saved is not None:
            data["saved"] = saved_json(saved)
        sys.stdout.write(json_text(data, indent=2) + "\n")
    elif args.markdown:
        head = header(result, input_given=args.input is not None, batch_given=batch_given)
        sys.stdout.write(head.replace("\n", "  \n") + "\n\n" + to_markdown(result))
        if saved is not None:
            sys.stdout.write("\n" + saved_line(saved) + "\n")
    else:
        from dlperf.tables import output_console

        console, width = output_console()  # a terminal's width; a file or a pipe every column
        head = header(result, input_given=args.input is not None, batch_given=batch_given, width=min(width or 110, 110))
        console.print(head, highlight=False)
        console.print(to_table(result, width=width, every_row=args.all))
        console.print(footer(result), highlight=False)
        if saved is not None:
            console.print(saved_line(saved), highlight=False)
    return 0 if result.ok and (saved is None or saved.ok) else 1

