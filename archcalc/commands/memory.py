"""``archcalc memory``: training memory from the papers' closed forms.

``archcalc memory --params 7.5B --data-parallel 64`` prints model-state bytes per device for each ZeRO stage
(Rajbhandari et al. 2020); ``archcalc memory --megatron --seq 2048 --hidden 12288 --heads 96 --layers 96
--tensor-parallel 8`` prints a transformer layer's activation bytes, every variant of Korthikanti et al.'s
Table 2 side by side and the item-by-item breakdown. ``--json`` prints the keys documented in
docs/memory.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from dlperf.errors import ArgumentError


def _arg_type(parse, name: str):
    def convert(text: str):
        try:
            return parse(text, name)
        except ArgumentError as exc:  # argparse names the flag already
            raise argparse.ArgumentTypeError(exc.body()) from None
    return convert


def _positive_int(text: str, name: str) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", text) or int(text) < 1:
        raise ArgumentError(name, text, "give a positive integer")
    return int(text)


def _stages(text: str, name: str) -> list[int]:
    stages = [part.strip() for part in text.split(",")]
    if not all(part in ("0", "1", "2", "3") for part in stages):
        raise ArgumentError(name, text, "give ZeRO stages, e.g. 0,1,2,3 or 2")
    return sorted({int(part) for part in stages})


class _OldConvention(argparse.Action):
    """The hidden ``--memory-convention``: it picks the layout of ``--precision`` (zero = the ``-master`` layout of
    a ``-mixed`` name, torch = autocast), so it is declared on that destination; its value is kept apart in
    ``memory_convention`` and resolved with the precision by the library (``convention=``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.memory_convention = values


def register(subparsers) -> None:
    from archcalc.memory.formulas import CONVENTIONS, OPTIMIZERS, PRECISIONS, RECOMPUTE
    from archcalc.memory.precision import precision_help
    from archcalc.memory.units import parse_bytes, parse_count

    parser = subparsers.add_parser("memory", help="training memory: ZeRO model states or Megatron activations",
                                   description=__doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`"))
    zero = parser.add_argument_group("model states (ZeRO, Rajbhandari et al. 2020)")
    zero.add_argument("--params", type=_arg_type(parse_count, "params"), metavar="N",
                      help="parameters Psi: 7.5e9, 7.5B, 175B, 125M")
    zero.add_argument("--data-parallel", type=_arg_type(_positive_int, "data_parallel"), default=1, metavar="D",
                      help="data-parallel ranks N_d (default 1)")
    zero.add_argument("--zero", type=_arg_type(_stages, "zero"), default=[0, 1, 2, 3], metavar="STAGES",
                      help="ZeRO stages to print, comma separated (default 0,1,2,3)")
    zero.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer (default adam)")
    zero.add_argument("--precision", choices=PRECISIONS, default=None, metavar="PRECISION",
                      help=precision_help() + " (default bf16-master, the paper's layout)")
    # the old spelling of the layouts, kept hidden: zero = a -mixed name's -master layout, torch = autocast
    zero.add_argument("--memory-convention", dest="precision", action=_OldConvention, choices=CONVENTIONS,
                      default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(memory_convention=None)
    zero.add_argument("--device-memory", type=_arg_type(parse_bytes, "size"), metavar="SIZE",
                      help="device memory (80GB, 24GiB, ...): adds each stage's share of it")
    act = parser.add_argument_group("activations (--megatron, Korthikanti et al. 2022)")
    act.add_argument("--megatron", action="store_true", help="print a transformer layer's activation bytes")
    for flag, name, help_text in (("--seq", "seq", "sequence length s"), ("--hidden", "hidden", "hidden size h"),
                                  ("--heads", "heads", "attention heads a")):
        act.add_argument(flag, type=_arg_type(_positive_int, name), metavar="N", help=help_text)
    act.add_argument("--layers", type=_arg_type(_positive_int, "layers"), default=1, metavar="L",
                     help="layers in the total (default 1)")
    act.add_argument("--batch", type=_arg_type(_positive_int, "batch"), default=1, metavar="B",
                     help="micro-batch b (default 1)")
    act.add_argument("--tensor-parallel", type=_arg_type(_positive_int, "tensor_parallel"), default=1, metavar="T",
                     help="tensor-parallel size t (default 1)")
    act.add_argument("--sequence-parallel", action="store_true", help="sequence parallelism (with tensor parallel)")
    act.add_argument("--recompute", choices=RECOMPUTE, default="none", help="activation recompute (default none)")
    parser.add_argument("--json", action="store_true", help="print JSON (keys in docs/memory.md)")
    parser.set_defaults(func=run)


def _console():
    """A terminal's console at its width (tables fitted by print_fitted); files and pipes: full width."""
    from dlperf.tables import output_console

    return output_console()[0]


def _run_states(args: argparse.Namespace) -> int:
    from archcalc.memory.formulas import model_state_bytes
    from archcalc.memory.render.formulas import states_header, states_json, states_table

    if args.params is None:
        raise ValueError("--params is required (e.g. --params 7.5B), or give --megatron for activations")
    # the hidden --memory-convention alone names the old default bf16-mixed in its layout
    precision = args.precision or ("bf16-mixed" if args.memory_convention else "bf16-master")
    stages = [model_state_bytes(args.params, optimizer=args.optimizer, precision=precision,
                                data_parallel=args.data_parallel, zero=z, convention=args.memory_convention)
              for z in args.zero]
    if args.json:
        sys.stdout.write(json.dumps(states_json(stages, args.device_memory), indent=2) + "\n")
        return 0
    from dlperf.tables import print_fitted

    console = _console()
    console.print(states_header(stages[0]), highlight=False)
    print_fitted(states_table(stages, args.device_memory), drop=["bytes per device"], fold=["shards", "formula"],
                 console=console)
    return 0


def _run_activations(args: argparse.Namespace) -> int:
    from archcalc.memory.formulas import megatron_activation_bytes, megatron_table2
    from archcalc.memory.render.formulas import activations_header, activations_json, rows_table, table2_table

    for flag in ("seq", "hidden", "heads"):
        if getattr(args, flag) is None:
            raise ValueError(f"--{flag} is required with --megatron (e.g. --seq 2048 --hidden 12288 --heads 96)")
    shape = (args.seq, args.batch, args.hidden, args.heads)
    chosen = megatron_activation_bytes(*shape, tensor_parallel=args.tensor_parallel, layers=args.layers,
                                       sequence_parallel=args.sequence_parallel, recompute=args.recompute)
    variants = megatron_table2(*shape, tensor_parallel=args.tensor_parallel, layers=args.layers)
    if args.json:
        sys.stdout.write(json.dumps(activations_json(chosen, variants), indent=2) + "\n")
        return 0
    from archcalc.memory.units import format_bytes
    from dlperf.tables import print_fitted

    console = _console()
    console.print(activations_header(chosen), highlight=False)
    print_fitted(table2_table(variants, chosen), drop=["bytes per layer"], fold=["Table 2 variant", "formula"],
                 console=console)
    console.print()
    print_fitted(rows_table(chosen), fold=["item", "block"], console=console)
    console.print(f"this setup: {format_bytes(chosen.bytes_per_layer)} per layer, {format_bytes(chosen.total_bytes)} "
                  f"for {chosen.layers} layers ({chosen.total_bytes:,} bytes)", highlight=False)
    return 0


_STATE_FLAGS = ("params", "data_parallel", "zero", "optimizer", "precision", "memory_convention", "device_memory")
_ACTIVATION_FLAGS = ("seq", "hidden", "heads", "layers", "batch", "tensor_parallel", "sequence_parallel", "recompute")


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """Flags of ``names`` set to something other than their default (a flag of the other mode is an error)."""
    defaults = {"data_parallel": 1, "zero": [0, 1, 2, 3], "optimizer": "adam", "precision": None,
                "memory_convention": None, "layers": 1, "batch": 1, "tensor_parallel": 1, "sequence_parallel": False,
                "recompute": "none"}
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n) != defaults.get(n)]


def run(args: argparse.Namespace) -> int:
    if args.megatron:
        if stray := _given(args, _STATE_FLAGS):
            raise ValueError(f"{stray[0]} is a model-state flag and --megatron prints activations; drop one of them")
        return _run_activations(args)
    if stray := _given(args, _ACTIVATION_FLAGS):
        raise ValueError(f"{stray[0]} needs --megatron (activations); add --megatron or drop {stray[0]}")
    return _run_states(args)
