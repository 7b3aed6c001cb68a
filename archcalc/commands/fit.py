"""``archcalc fit MODEL --device-memory 24GiB``: the largest batch (or sequence length) whose peak fits.

``archcalc fit resnet50 --device-memory 24GiB --training --optimizer adam --precision bf16-mixed`` searches the
largest batch whose liveness peak (``archcalc peak``: the steady-state step N >= 2 unless ``--first-step``)
fits in the memory less a margin kept for the allocator (``--margin``, default 5 %) and prints it with the
breakdown at its peak and what is left;
``--search-seq`` searches the last input dimension (a sequence length) at ``--batch`` instead. ``--json`` prints
the keys documented in docs/memory.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from archcalc.commands._parallelopts import add_parallel_options, parallel_setup
from archcalc.commands._peakopts import (
    add_seq_option,
    add_step_options,
    default_input,
    graph_factory,
    input_shape,
    positive_int,
    resolve_seq,
    sequence_limit,
    step_kwargs,
)
from dlperf.cli import hidden_alias
from dlperf.errors import ArgumentError


def _size(text: str) -> int:
    from archcalc.memory.units import parse_bytes

    try:
        return parse_bytes(text, "memory")
    except ArgumentError as exc:  # argparse names the flag
        raise argparse.ArgumentTypeError(exc.body()) from None


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
    parser = subparsers.add_parser("fit", help="largest batch (or sequence length) whose peak fits in --device-memory",
                                   description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"))
    add_step_options(parser)
    add_parallel_options(parser)
    parser.add_argument("--device-memory", dest="memory", type=_size, required=True, metavar="SIZE",
                        help="device memory: 24GiB, 80GB, ...")
    parser.add_argument("--search-seq", dest="search_seq", action="store_true",
                        help="search the last input dimension at --batch, not the batch")
    parser.add_argument("--batch", type=positive_int("--batch"), default=1, metavar="N",
                        help="batch with --search-seq (default 1)")
    hidden_alias(parser, "--memory", "--device-memory")  # the old spellings, kept for one release
    add_seq_option(parser, old_switch=True)  # without a value: the old spelling of --search-seq (one release)
    parser.add_argument("--margin", type=_percent, default=None, metavar="PERCENT",
                        help="share of --device-memory kept free for the allocator's rounding and fragmentation, "
                             "e.g. 5%% (default 5%%; 0 uses the whole budget)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archcalc.memory.liveness.fit import fit
    from archcalc.memory.render.peak import breakdown_table, fit_json, peak_header

    kwargs = step_kwargs(args)
    resolve_seq(args)  # --seq L is --input L; a bare --seq is --search-seq, with a warning
    if args.batch != 1 and not args.search_seq:
        raise ValueError(f"--batch: got {args.batch} without --search-seq; fit searches the batch (add --search-seq to search "
                         "the sequence length at that batch)")
    setup = parallel_setup(args)
    graph_at, plan = setup if setup else (graph_factory(args.model, args), None)
    default = default_input(args.model, args)
    shape = input_shape(args, type("G", (), {"default_input": default}))
    margin = {} if args.margin is None else {"margin": args.margin}
    # sequence parallelism splits the sequence evenly over the tensor-parallel ranks: lengths step by t
    step = args.tensor_parallel if args.search_seq and getattr(args, "sequence_parallel", False) else 1
    limit = sequence_limit(args.model, args) if args.search_seq else None
    result = fit(graph_at, args.memory, input_shape=shape, batch=args.batch, vary="seq" if args.search_seq else "batch",
                 recompute=plan, step=step, limit=limit, **margin, **kwargs)
    if args.json:
        sys.stdout.write(json.dumps(fit_json(result, args.device, kwargs["device"]), indent=2) + "\n")
        return 0
    from archcalc.memory.units import digits_apart, format_bytes
    from dlperf.tables import output_console

    console = output_console()[0]  # a terminal's width (text wraps); files and pipes: one line each
    what = f"batch {result.batch}" if result.vary == "batch" else f"sequence length {result.seq} at batch {result.batch}"
    if result.step > 1:
        what += f" (lengths in multiples of {result.step}, --sequence-parallel)"
    if result.peak.data_parallel > 1:
        what += f" per device (global batch {result.global_batch} on {result.peak.data_parallel} devices)"
    # the next size is compared with the usable memory: both printed with the decimals that keep them apart
    digits = 1 if result.next_peak_bytes is None else digits_apart(result.next_peak_bytes, result.usable_bytes)
    nxt = ("" if result.next_peak_bytes is None
           else f"; one more needs {format_bytes(result.next_peak_bytes, digits)}")
    if result.next_peak_bytes is None and result.limit is not None:
        nxt = f"; that is the whole position table ({result.limit} positions), which fits"
    if result.at_search_limit:
        what = what.replace(f"batch {result.batch}" if result.vary == "batch" else f"length {result.seq}",
                            (f"batch at least {result.batch}" if result.vary == "batch"
                             else f"length at least {result.seq}"), 1)
        nxt = " (the search limit: everything up to it fits)"
    usable = (f", {format_bytes(result.usable_bytes, digits)} usable" if result.usable_bytes != result.memory_bytes
              else "")
    budget = format_bytes(result.memory_bytes, 1 if usable else digits)
    console.print(f"{result.network} in {budget}{usable}: largest {what}{nxt}", highlight=False)
    kept = (f", of which the margin of {format_bytes(result.margin_bytes)} kept free for the allocator"
            if result.margin_bytes else " (no margin kept for the allocator: --margin 0)")
    console.print(f"left beyond the peak: {format_bytes(result.left_bytes)}{kept}", highlight=False)
    console.print(peak_header(result.peak), highlight=False)
    console.print(breakdown_table(result.peak))
    return 0
