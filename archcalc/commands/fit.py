"""``archcalc fit MODEL --memory 24GiB``: the largest batch (or sequence length) whose peak fits.

``archcalc fit resnet50 --memory 24GiB --training --optimizer adam --precision bf16-mixed`` searches the
largest batch whose liveness peak (``archcalc peak``: the steady-state step N >= 2 unless ``--first-step``)
fits in the memory less a margin kept for the allocator (``--margin``, default 5 %) and prints it with the
breakdown at its peak and what is left;
``--seq`` searches the last input dimension (a sequence length) at ``--batch`` instead. ``--json`` prints
the keys documented in docs/memory.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from archcalc.commands._parallelopts import add_parallel_options, parallel_setup
from archcalc.commands._peakopts import (
    add_step_options,
    default_input,
    flagged,
    graph_factory,
    input_shape,
    positive_int,
    sequence_limit,
    step_kwargs,
)


def _size(text: str) -> int:
    from archcalc.memory.units import parse_bytes

    try:
        return parse_bytes(text, "memory")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("memory=")) from None


def _percent(text: str) -> float:
    value = text.strip().removesuffix("%").strip()
    try:
        share = float(value) / 100
    except ValueError:
        share = -1.0
    if not 0 <= share < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; give a percentage in [0, 100), e.g. 5%")
    return share


def register(subparsers) -> None:
    parser = subparsers.add_parser("fit", help="largest batch (or sequence length) whose peak fits in --memory",
                                   description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"))
    add_step_options(parser)
    add_parallel_options(parser)
    parser.add_argument("--memory", type=_size, required=True, metavar="SIZE", help="device memory: 24GiB, 80GB, ...")
    parser.add_argument("--seq", action="store_true", help="search the last input dimension at --batch, not the batch")
    parser.add_argument("--batch", type=positive_int("--batch"), default=1, metavar="N",
                        help="batch with --seq (default 1)")
    parser.add_argument("--margin", type=_percent, default=None, metavar="PERCENT",
                        help="share of --memory kept free for the allocator's rounding and fragmentation, "
                             "e.g. 5%% (default 5%%; 0 uses the whole budget)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archcalc.memory.liveness.fit import fit
    from archcalc.memory.render.peak import breakdown_table, fit_json, peak_header

    kwargs = step_kwargs(args)
    if args.batch != 1 and not args.seq:
        raise ValueError(f"--batch: got {args.batch} without --seq; fit searches the batch (add --seq to search "
                         "the sequence length at that batch)")
    setup = parallel_setup(args)
    graph_at, plan = setup if setup else (graph_factory(args.model, args), None)
    default = default_input(args.model, args)
    shape = input_shape(args, type("G", (), {"default_input": default}))
    margin = {} if args.margin is None else {"margin": args.margin}
    try:
        # sequence parallelism splits the sequence evenly over the tensor-parallel ranks: lengths step by t
        step = args.tensor_parallel if args.seq and getattr(args, "sequence_parallel", False) else 1
        limit = sequence_limit(args.model, args) if args.seq else None
        result = fit(graph_at, args.memory, input_shape=shape, batch=args.batch, vary="seq" if args.seq else "batch",
                     recompute=plan, step=step, limit=limit, **margin, **kwargs)
    except ValueError as exc:
        raise flagged(exc) from None
    if args.json:
        sys.stdout.write(json.dumps(fit_json(result, args.device), indent=2) + "\n")
        return 0
    from archcalc.memory.units import format_bytes
    from dlperf.tables import output_console

    console = output_console()[0]  # a terminal's width (text wraps); files and pipes: one line each
    what = f"batch {result.batch}" if result.vary == "batch" else f"sequence length {result.seq} at batch {result.batch}"
    if result.step > 1:
        what += f" (lengths in multiples of {result.step}, --sequence-parallel)"
    if result.peak.data_parallel > 1:
        what += f" per device (global batch {result.global_batch} on {result.peak.data_parallel} devices)"
    nxt = ("" if result.next_peak_bytes is None
           else f"; one more needs {format_bytes(result.next_peak_bytes)}")
    if result.next_peak_bytes is None and result.limit is not None:
        nxt = f"; that is the whole position table ({result.limit} positions), which fits"
    if result.at_search_limit:
        what = what.replace(f"batch {result.batch}" if result.vary == "batch" else f"length {result.seq}",
                            (f"batch at least {result.batch}" if result.vary == "batch"
                             else f"length at least {result.seq}"), 1)
        nxt = " (the search limit: everything up to it fits)"
    console.print(f"{result.network} in {format_bytes(result.memory_bytes)}: largest {what}{nxt}", highlight=False)
    kept = (f", of which the margin of {format_bytes(result.margin_bytes)} kept free for the allocator"
            if result.margin_bytes else " (no margin kept for the allocator: --margin 0)")
    console.print(f"left beyond the peak: {format_bytes(result.left_bytes)}{kept}", highlight=False)
    console.print(peak_header(result.peak), highlight=False)
    console.print(breakdown_table(result.peak))
    return 0
