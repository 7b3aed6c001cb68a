"""``archcalc [report] MODEL [options]``: the per-layer report of a zoo model.

:func:`add_report_options` and :func:`report_from_args` are the one place the report's options are
declared and turned into a :class:`~archcalc.costs.report.Report`; :func:`emit` renders and writes it. Every
command that prints a report uses these three.
"""

from __future__ import annotations

import argparse
import sys

from archcalc.check.conventions import CONVENTIONS
from archcalc.commands._transformer_opts import add_transformer_options, run_transformer
from archcalc.costs.report import DTYPE_BYTES, OPTIMIZER_STATES, Report, report
from archcalc.ir.graph import Graph
from archcalc.models.resolve import parse_input_shape, resolve_model
from dlperf.cli import hidden_alias


def add_report_options(parser: argparse.ArgumentParser, input_required: bool = False) -> None:
    """Add the report options (input, batch, dtype, convention, depth, training) and output options."""
    group = parser.add_argument_group("report")
    group.add_argument(
        "--input",
        required=input_required,
        action="append",
        metavar="SHAPE",
        help="per-sample input shape, e.g. 3x224x224 or 128 (token ids); repeat for a model with several "
        "inputs" + ("" if input_required else " (default: the model's own)"),
    )
    group.add_argument("--input-dtype", action="append", metavar="DTYPE", default=None,
                       help="dtype of each traced input, in --input order (default float32; int64 for token ids)")
    group.add_argument("--strict", action="store_true",
                       help="exit status 1 when some op is not modelled (listed by kind, counted 0)")
    group.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    group.add_argument("--precision", dest="dtype", choices=list(DTYPE_BYTES), default="fp32",
                       help="element type of weights and activations, or a -master precision (16-bit weights, "
                       "fp32 master copy; default fp32)")
    hidden_alias(group, "--dtype", "--precision")  # the old spelling, kept for one release
    group.add_argument(
        "--convention",
        choices=list(CONVENTIONS),
        default="macs",
        help="what the compute column counts (default macs; flops = 2 x MACs)",
    )
    group.add_argument("--depth", type=int, metavar="N", help="fold rows to the first N dotted name components")
    group.add_argument(
        "--training", action="store_true", help="add backward MACs and training memory (weights, gradients, optimizer, saved)"
    )
    group.add_argument(
        "--optimizer", choices=list(OPTIMIZER_STATES), help="optimizer state counted with --training (default sgd)"
    )
    out = parser.add_argument_group("output")
    fmt = out.add_mutually_exclusive_group()
    fmt.add_argument("--table", dest="format", action="store_const", const="table", help="rich table (default)")
    for name in ("json", "csv", "markdown", "latex"):
        fmt.add_argument(f"--{name}", dest="format", action="store_const", const=name, help=f"{name} text")
    parser.set_defaults(format="table")
    out.add_argument("--output", metavar="FILE", help="write to FILE atomically instead of stdout")
    out.add_argument("--all", action="store_true",
                     help="the table shows every row (default: the 10 heaviest of a larger model; see also --depth)")
    out.add_argument("--explain", action="store_true", help="add the lines saying what each column counts")
    # Symbolic mode (archcalc.costs.symbolic): totals as closed forms in H, W, B.
    out.add_argument("--symbolic", action="store_true",
                     help="print totals as closed forms in H, W, B with their validity condition (table or --json)")


def input_shapes(args: argparse.Namespace) -> list[tuple[int, ...]] | None:
    """The parsed ``--input`` shapes (None when none was given)."""
    return None if not args.input else [parse_input_shape(text) for text in args.input]


def report_from_args(network: Graph, args: argparse.Namespace) -> Report:
    """Build the report of ``network`` from parsed report options (flag conflicts raise ``ValueError``)."""
    if args.optimizer is not None and not args.training:
        raise ValueError(f"--optimizer: got {args.optimizer!r} without --training; add --training or drop --optimizer")
    shapes = input_shapes(args)
    if network.traced_at is not None:  # traced at exactly these inputs and batch
        shapes = None
    if shapes is not None and len(shapes) != len(network.inputs):
        raise ValueError(f"--input: {network.name} takes {len(network.inputs)} input(s), got {len(shapes)} --input")
    return report(
        network,
        input_shape=shapes[0] if shapes else None,
        inputs={spec.name: s for spec, s in zip(network.inputs[1:], shapes[1:], strict=True)} if shapes else None,
        batch=args.batch,
        dtype=args.dtype,
        convention=args.convention,
        training=args.training,
        optimizer=args.optimizer or "sgd",
        depth=args.depth,
    )


def emit(rep: Report, args: argparse.Namespace) -> int:
    """Print ``rep`` in the chosen format, or write it atomically to ``--output``."""
    from archcalc.costs import render

    top = None if getattr(args, "all", False) or rep.depth is not None else render.TOP_ROWS
    explain = getattr(args, "explain", False)
    if args.format == "table" and args.output is None:
        render.print_table(rep, top=top, explain=explain)
        return 0
    from dlperf.fileio import write_or_print

    write_or_print(render.render(rep, args.format, top=top, explain=explain), args.output)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="per-op report of a model: zoo, torchvision:NAME, timm:NAME, hf:NAME_OR_PATH or FILE.py:NAME (the default "
        "command: `archcalc MODEL`)",
        description="Per-layer output shapes, parameters, MACs or FLOPs, activations and bytes, with totals.",
    )
    parser.add_argument("model", metavar="MODEL",
                        help="a zoo name (see `archcalc list`), torchvision:NAME, timm:NAME, hf:NAME_OR_PATH (a hub "
                        "name, a folder with config.json or a config.json path), or FILE.py:NAME (an nn.Module class "
                        "or zero-argument factory in that file; give --input)")
    add_report_options(parser)
    add_transformer_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    done = run_transformer(args)  # transformers: --seq, --per-token, --kv-cache, sizes (None for other models)
    if isinstance(done, Graph):  # a zoo transformer at its sizes: the ordinary report
        return emit(report_from_args(done, args), args)
    if done is not None:
        return done
    from archcalc.models.resolve import is_traced

    if args.input_dtype and not is_traced(args.model):
        raise ValueError(f"--input-dtype: {args.model} is a zoo model with fixed input types; --input-dtype is for "
                         "traced models (torchvision:NAME, FILE.py:NAME)")
    network = resolve_model(args.model, input_shapes(args), args.batch, tuple(args.input_dtype or ()),
                            seq=getattr(args, "seq", None), decoder_seq=getattr(args, "decoder_seq", None),
                            trust_remote_code=getattr(args, "trust_remote_code", False))
    if getattr(args, "symbolic", False):
        from archcalc.commands._symbolic import emit_symbolic

        return emit_symbolic(network, args)
    rep = report_from_args(network, args)
    if args.model.startswith("hf:"):
        from archcalc.frontends.hf import hf_model, with_kv_cache, with_moe, with_per_token

        model = hf_model(args.model[3:], args.trust_remote_code)
        rep = with_kv_cache(with_moe(with_per_token(rep, network), model), network, model)
    status = emit(rep, args)
    return strict_status(rep, args) or status


def strict_status(rep: Report, args: argparse.Namespace) -> int:
    """Under ``--strict``: 1 (and one line naming the ops) when some op is not modelled, else 0."""
    if not getattr(args, "strict", False) or not rep.unmodeled:
        return 0
    ops = ", ".join(f"{n} x {op}" for op, n in rep.unmodeled)
    print(f"archcalc: --strict: not modelled (counted 0): {ops}", file=sys.stderr)
    return 1
