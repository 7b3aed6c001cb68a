"""``archcalc time MODEL --device NAME``: predicted time per op and per step on a device (roofline).

``archcalc time gpt2 --device h100 --precision bf16-mixed --training --batch 8 --seq 1024`` prints each op's
forward and backward time, its bound (compute / memory / communication) and its FLOP/s, then the step's
total, achieved FLOP/s and MFU; ``--tokens N`` or ``--steps N`` turns the step into a run (hours, days,
device-hours). The device is a built-in profile (``--device list`` names them) or one of a ``--device-file``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dlperf.cli import Number

#: The argparse types of the efficiencies, the microsecond overheads and the run lengths (one converter for
#: every range-checked number: :class:`dlperf.cli.Number`).
_FRACTION = Number(float, minimum=0, maximum=1, open_minimum=True, what="a fraction in (0, 1]")
_MICROSECONDS = Number(float, minimum=0, divide_by=1e6, what="microseconds >= 0")
_COUNT = Number(int, minimum=1, exponent=True, what="a positive integer (300e9 is fine)")


def register(subparsers) -> None:
    from archcalc.commands._peakopts import positive_int
    from archcalc.memory.formulas.activations import RECOMPUTE
    from archcalc.memory.optimizers import OPTIMIZERS
    from archcalc.memory.precision import PRECISIONS, precision_help

    parser = subparsers.add_parser("time", help="predicted time per op and per step on a device (roofline)",
                                   description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"))
    parser.add_argument("model", help="zoo name (archcalc list) or torchvision:NAME (traced)")
    parser.add_argument("--device", required=True, metavar="NAME", help="device profile (h100, a100-80gb ...)")
    parser.add_argument("--device-file", metavar="FILE", help="TOML or JSON file of further device profiles")
    parser.add_argument("--batch", type=positive_int("--batch"), default=1, metavar="N",
                        help="batch size, per device with --data-parallel (default 1)")
    parser.add_argument("--seq", type=positive_int("--seq"), metavar="L", help="sequence length (transformers)")
    parser.add_argument("--input", metavar="CxHxW", help="per-sample input shape (default: the model's own)")
    from archcalc.commands._transformer_opts import SIZE_FLAGS

    for flag, dest, text in SIZE_FLAGS:
        parser.add_argument(flag, dest=dest, type=int, metavar="N", help=text)
    parser.add_argument("--training", action="store_true", help="a training step: forward, backward, optimizer")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer of the training step (default sgd)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", metavar="PRECISION",
                        help=precision_help() + " (default fp32: the fp32 non-tensor peak)")
    parser.add_argument("--data-parallel", type=positive_int("--data-parallel"), default=1, metavar="N",
                        help="data-parallel ranks: adds a ring all-reduce of the gradients (default 1)")
    parser.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0, metavar="STAGE",
                        help="ZeRO stage 0-3 of the data-parallel ranks: its communication (default 0)")
    parser.add_argument("--tensor-parallel", type=positive_int("--tensor-parallel"), default=1, metavar="T",
                        help="Megatron tensor parallelism, one rank's graph (GPT-2 models; default 1)")
    parser.add_argument("--recompute", choices=RECOMPUTE, default="none",
                        help="activation recomputation of a zoo transformer: none, selective or full")
    parser.add_argument("--compute-efficiency", type=_FRACTION, default=1.0, metavar="F",
                        help="fraction of peak FLOP/s reached (default 1: pure roofline)")
    parser.add_argument("--memory-efficiency", type=_FRACTION, default=1.0, metavar="F",
                        help="fraction of memory bandwidth reached (default 1)")
    parser.add_argument("--launch-overhead", type=_MICROSECONDS, default=0.0, metavar="US",
                        help="microseconds added per kernel (default 0)")
    parser.add_argument("--latency", type=_MICROSECONDS, default=0.0, metavar="US",
                        help="alpha of the ring collectives, microseconds per step (default 0)")
    run_group = parser.add_mutually_exclusive_group()
    run_group.add_argument("--tokens", type=_COUNT, metavar="N",
                           help="a run of N tokens (samples for non-sequence models) over all devices")
    run_group.add_argument("--steps", type=_COUNT, metavar="N", help="a run of N steps")
    parser.add_argument("--top", type=int, default=None, metavar="N",
                        help="show the N slowest ops (default 10; 0: all, as --all)")
    parser.add_argument("--all", action="store_true", help="show every op (--json always lists every op)")
    parser.add_argument("--json", action="store_true", help="print JSON (keys in docs/time.md)")
    parser.set_defaults(func=run)


def _graph(args: argparse.Namespace) -> tuple[Any, tuple[int, ...], int, frozenset[str]]:
    """``(graph, per-sample shape, tokens per sample, recomputed row names)`` of the arguments."""
    from archcalc.models.zoo_transformers import CONFIGS

    cfg = CONFIGS.get(args.model.lower())
    if cfg is None:
        from archcalc.commands._transformer_opts import SIZE_FLAGS
        from archcalc.models.zoo_transformers import transformer_models

        sizes = tuple((f, getattr(args, d) is not None) for f, d, _ in SIZE_FLAGS)
        stacked = args.model in {name for name, _, _ in transformer_models()}  # vit-b-16: --recompute, no --seq
        for flag, given in (("--seq", args.seq is not None), ("--tensor-parallel", args.tensor_parallel != 1),
                            ("--recompute", args.recompute != "none" and not stacked), *sizes):
            if given:
                names = [name for name, _, _ in transformer_models()] if flag == "--recompute" else CONFIGS
                raise ValueError(f"{flag}: only for transformer models ({', '.join(names)}); {args.model} "
                                 "takes --input CxHxW")
        from archcalc.commands._peakopts import graph_factory, input_shape

        graph_at = graph_factory(args.model, args)  # --training traces in training mode (dropouts)
        default = ((3, 224, 224) if args.model.startswith("torchvision:") or args.input is not None
                   else graph_at(1, (1,)).default_input)  # only asked for when --input is not given
        shape = input_shape(args, type("G", (), {"default_input": default}))
        graph = graph_at(args.batch, shape)
        return graph, shape, 1, _recomputed(graph, args)
    if args.input is not None:
        raise ValueError(f"--input: {args.model} takes token ids; give the sequence length with --seq L")
    from archcalc.commands._transformer_opts import config_from_args
    from archcalc.models.zoo_transformers import build_transformer, check_seq

    cfg = config_from_args(args)
    seq = args.seq or cfg.default_seq
    check_seq(cfg, seq)
    if args.tensor_parallel != 1 and cfg.family != "gpt2":
        raise ValueError(f"--tensor-parallel: {args.model} has no per-rank graph; give a GPT-2 model (gpt2, "
                         "gpt2-medium ...)")
    if args.tensor_parallel != 1:
        from archcalc.parallel.rank_graph import rank_graph

        graph = rank_graph(cfg, seq, tensor_parallel=args.tensor_parallel)
    else:
        graph = build_transformer(cfg, seq)
    return graph, (seq,), seq, _recomputed(graph, args)


def _recomputed(graph: Any, args: argparse.Namespace) -> frozenset[str]:
    """The rows ``--recompute`` runs twice: its regions on the graph's stack of layers."""
    if args.recompute == "none":
        return frozenset()
    if not args.training:
        raise ValueError(f"--recompute: got {args.recompute!r} without --training; add --training")
    from archcalc.memory.liveness.stack import stack_plan

    return frozenset(n for region in stack_plan(graph, args.recompute).regions for n in region)


def run(args: argparse.Namespace) -> int:
    from archcalc.ir.evaluate import evaluate
    from archcalc.time.estimates import plan_run
    from archcalc.time.profiles import get_profile
    from archcalc.time.render import step_json, step_lines
    from archcalc.time.roofline import Efficiency, step_time

    if args.optimizer is not None and not args.training:
        raise ValueError(f"--optimizer: got {args.optimizer!r} without --training; add --training or drop --optimizer")
    if args.data_parallel != 1 and not args.training:
        raise ValueError(f"--data-parallel: got {args.data_parallel} without --training; the all-reduce is of "
                         "gradients: add --training")
    if args.zero and args.data_parallel == 1:
        raise ValueError(f"--zero: got {args.zero} with one data-parallel rank; ZeRO partitions over ranks: add "
                         "--data-parallel N (N >= 2)")
    if args.top is not None and args.all:
        raise ValueError(f"--top: got {args.top} with --all; give one of them")
    if args.top is not None and args.top < 0:
        raise ValueError(f"--top: got {args.top}; give 0 (all ops) or a positive number")
    profile = get_profile(args.device, args.device_file)
    graph, shape, tokens_per_sample, recomputed = _graph(args)
    efficiency = Efficiency(args.compute_efficiency, args.memory_efficiency, args.launch_overhead, args.latency)
    ev = evaluate(graph, shape, args.batch, training=args.training)
    step = step_time(ev, profile, precision=args.precision, training=args.training,
                     optimizer=args.optimizer or "sgd", efficiency=efficiency, data_parallel=args.data_parallel,
                     tensor_parallel=args.tensor_parallel, recompute_rows=recomputed, recompute=args.recompute,
                     model=args.model, zero=args.zero)
    run_ = None
    if args.tokens is not None or args.steps is not None:
        run_ = plan_run(step.time_s, args.batch * tokens_per_sample * args.data_parallel,
                        args.data_parallel * args.tensor_parallel, tokens=args.tokens, steps=args.steps)
    if args.json:
        sys.stdout.write(json.dumps(step_json(step, run_), indent=2) + "\n")
        return 0
    top = None if args.all else 10 if args.top is None else args.top or None  # a terminal's worth by default
    sys.stdout.write("\n".join(step_lines(step, run_, top)) + "\n")
    return 0
