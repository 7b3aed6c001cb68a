"""``archcalc peak MODEL``: peak memory of inference or of a training step, from a liveness schedule.

``archcalc peak resnet50 --input 3x224x224 --batch 32 --training --optimizer adam --precision bf16-mixed``
prints the peak of a steady-state training step N >= 2 (``--first-step``: step 1, before the optimizer's
state exists), the op and pass where it occurs and what is live there (weights, gradients, optimizer
state, saved activations, transient tensors, inputs); ``--plot FILE`` draws memory over time; ``--json``
prints the keys documented in docs/memory.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from archcalc.commands._parallelopts import (
    add_parallel_options,
    comparison_json,
    comparison_lines,
    parallel_setup,
)
from archcalc.commands._peakopts import (
    add_seq_option,
    add_step_options,
    default_input,
    graph_factory,
    input_shape,
    positive_int,
    resolve_seq,
    step_kwargs,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("peak", help="peak memory of inference or a training step (liveness; steady state N >= 2 unless --first-step)",
                                   description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"))
    add_step_options(parser)
    add_seq_option(parser)
    add_parallel_options(parser)
    parser.add_argument("--batch", type=positive_int("--batch"), default=1, metavar="N",
                        help="batch size, per device with --data-parallel (default 1)")
    parser.add_argument("--plot", metavar="FILE", help="write memory over time to FILE (png, svg, pdf)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archcalc.memory.liveness.peak import peak_memory
    from archcalc.memory.render.peak import breakdown_table, peak_header, peak_json

    kwargs = step_kwargs(args)
    resolve_seq(args)  # --seq L is --input L
    setup = parallel_setup(args)  # --tensor-parallel / --sequence-parallel / --recompute: one rank's graph
    graph_at, plan = setup if setup else (graph_factory(args.model, args), None)
    default = default_input(args.model, args)
    shape = input_shape(args, type("G", (), {"default_input": default}))
    graph = graph_at(args.batch, shape)
    if args.training:
        from archcalc.ir.graph_size import check_training_size

        check_training_size(graph)
    result = peak_memory(graph, shape, args.batch, **kwargs, recompute=plan)
    if args.plot:
        from archcalc.memory.render.plot import plot_timeline

        plot_timeline(result, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        data = peak_json(result, shape, args.device, kwargs["device"])
        per_layer = comparison_json(args, shape[-1], args.batch)
        if per_layer is not None:
            data["per_layer"] = per_layer
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    from dlperf.tables import output_console

    console = output_console()[0]  # a terminal's width (text wraps); files and pipes: one line each
    console.print(peak_header(result), highlight=False)
    console.print(breakdown_table(result))
    for line in comparison_lines(args, shape[-1], args.batch):
        console.print(line, highlight=False)
    return 0

