"""``--tensor-parallel``, ``--sequence-parallel``, ``--recompute`` and ``--activation-convention`` for ``archcalc
peak`` and ``archcalc fit``: one tensor-parallel rank of a GPT-2-family transformer (Megatron's split);
``--recompute`` alone on every transformer of the zoo (its stack of layers, :mod:`archcalc.memory.liveness.stack`)."""

from __future__ import annotations

import argparse
from typing import Any

from dlperf.cli import hidden_alias


def add_parallel_options(parser: argparse.ArgumentParser) -> None:
    from archcalc.commands._peakopts import positive_int
    from archcalc.memory.formulas.activations import RECOMPUTE

    group = parser.add_argument_group("tensor parallelism (GPT-2-family transformers), recompute (zoo transformers)")
    group.add_argument("--tensor-parallel", type=positive_int("--tensor-parallel"), default=1, metavar="T",
                       help="Megatron tensor parallelism: the peak of one of T ranks (default 1)")
    group.add_argument("--sequence-parallel", action="store_true",
                       help="also split LayerNorm, dropout and residual regions along the sequence")
    group.add_argument("--recompute", choices=RECOMPUTE, default="none",
                       help="activation recomputation of a zoo transformer: none, selective (attention core) "
                       "or full (each layer)")
    group.add_argument("--activation-convention", dest="memory_convention", choices=("archcalc", "megatron"),
                       default="archcalc",
                       help="per-layer activation total: archcalc's own count or Korthikanti et al.'s Table 2")
    hidden_alias(group, "--memory-convention", "--activation-convention")  # the old spelling, for one release


def _active(args: argparse.Namespace) -> bool:
    return (args.tensor_parallel != 1 or args.sequence_parallel or args.recompute != "none"
            or args.memory_convention != "archcalc")


def parallel_setup(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """``(graph_at, recompute_plan)`` for the options, or ``None`` when none is given."""
    if not _active(args):
        return None
    from archcalc.commands._peakopts import check_length
    from archcalc.models.zoo_transformers import CONFIGS
    from archcalc.parallel.rank_graph import rank_graph
    from archcalc.parallel.step import transformer_plan

    if getattr(args, "checkpoint", 1) != 1:  # both are regions of one RecomputePlan, but never on one model
        given = ("--recompute " + args.recompute if args.recompute != "none" else
                 "--tensor-parallel" if args.tensor_parallel != 1 else
                 "--sequence-parallel" if args.sequence_parallel else "--activation-convention")
        raise ValueError(f"--checkpoint: got {args.checkpoint} with {given}; --checkpoint makes "
                         "checkpoint_sequential segments (of an nn.Sequential, VGG's features or a transformer's "
                         "layers), --recompute checkpoints each layer or attention core, the tensor-parallel "
                         "options take GPT-2 models: give one of them")
    if args.recompute != "none" and not args.training:
        raise ValueError(f"--recompute: got {args.recompute!r} without --training; add --training")
    if not _per_rank(args.model):
        only_recompute = (args.tensor_parallel == 1 and not args.sequence_parallel
                          and args.memory_convention == "archcalc")
        if only_recompute and args.model in _zoo_transformers():  # the zoo's graph, its stack of layers
            from archcalc.commands._peakopts import graph_factory
            from archcalc.memory.liveness.stack import stack_plan
            from archcalc.models.resolve import resolve_model

            return graph_factory(args.model, args), stack_plan(resolve_model(args.model), args.recompute)
        names = ", ".join(n for n, c in CONFIGS.items() if c.family == "gpt2" and n != "gpt")
        if only_recompute:
            raise ValueError(f"--recompute: {args.model!r} is not a transformer of the zoo; --recompute takes "
                             f"{', '.join(_zoo_transformers())}")
        flag = ("--tensor-parallel" if args.tensor_parallel != 1 else
                "--sequence-parallel" if args.sequence_parallel else "--activation-convention")
        raise ValueError(f"{flag}: {args.model!r} has no per-rank graph; tensor parallelism, sequence "
                         f"parallelism and --activation-convention take a GPT-2 model ({names})")
    cfg = CONFIGS[args.model]

    t = args.tensor_parallel
    # one graph evaluates at any length, as the zoo's do (the ids' shape comes from --seq / --input)
    graph = rank_graph(cfg, t * (cfg.default_seq // t), tensor_parallel=t, sequence_parallel=args.sequence_parallel)

    def graph_at(batch: int, shape: tuple[int, ...]) -> Any:
        check_length(args.model, shape)
        if args.sequence_parallel and shape[-1] % t:
            raise ValueError(f"{getattr(args, 'length_flag', '--input')} {shape[-1]} is not divisible by --tensor-parallel {t}; sequence "
                             "parallelism splits the sequence evenly, choose a multiple")
        return graph

    return graph_at, transformer_plan(graph, cfg.layers, args.recompute)


def _per_rank(model: str) -> bool:
    """Whether ``model`` has per-rank graphs (:func:`~archcalc.parallel.rank_graph.rank_graph`): GPT-2 sizes."""
    from archcalc.models.zoo_transformers import CONFIGS

    cfg = CONFIGS.get(model)
    return cfg is not None and cfg.family == "gpt2" and model != "gpt"


def _zoo_transformers() -> tuple[str, ...]:
    from archcalc.models.zoo_transformers import transformer_models

    return tuple(name for name, _, _ in transformer_models())


def _layers_only(model: str) -> Any:
    """The model without its position-table limit: the per-layer count does not read the position table."""
    from dataclasses import replace

    from archcalc.models.zoo_transformers import CONFIGS

    return replace(CONFIGS[model], context=None)


def comparison_lines(args: argparse.Namespace, seq: int, batch: int) -> list[str]:
    """The per-layer saved-activation count beside Table 2, as lines of text (empty when not applicable)."""
    from archcalc.memory.precision import is_mixed
    from archcalc.models.zoo_transformers import CONFIGS
    from archcalc.parallel.layer_count import compare_table2

    if not _active(args) or not args.training or not _per_rank(args.model):
        return []
    if is_mixed(args.precision):
        return [f"per-layer comparison with Table 2: not made for --precision {args.precision} (autocast keeps "
                "some activations in fp32); use fp16, bf16 or a -master precision"]
    c = compare_table2(_layers_only(args.model), seq, batch, tensor_parallel=args.tensor_parallel,
                       sequence_parallel=args.sequence_parallel, recompute=args.recompute,
                       precision=args.precision, device=args.device)
    chosen = c.bytes_per_layer(args.memory_convention)
    out = [f"saved activations per layer ({args.precision}, {args.device}): archcalc {c.own_bytes:,} bytes, "
           f"Table 2 {c.paper_formula} = {c.paper_bytes:,} bytes; difference {c.own_bytes - c.paper_bytes:+,}",
           f"  x {CONFIGS[args.model].layers} layers ({args.memory_convention} convention): "
           f"{chosen * CONFIGS[args.model].layers:,} bytes"]
    for d in c.differences:
        out.append(f"  {d.bytes:+,} {d.what}: {d.why}")
    return out


def comparison_json(args: argparse.Namespace, seq: int, batch: int) -> dict[str, Any] | None:
    """The ``per_layer`` JSON key: both counts, the convention's total and the itemised differences."""
    from archcalc.memory.precision import is_mixed
    from archcalc.models.zoo_transformers import CONFIGS
    from archcalc.parallel.layer_count import compare_table2

    if not _active(args) or not args.training or is_mixed(args.precision) or not _per_rank(args.model):
        return None
    c = compare_table2(_layers_only(args.model), seq, batch, tensor_parallel=args.tensor_parallel,
                       sequence_parallel=args.sequence_parallel, recompute=args.recompute,
                       precision=args.precision, device=args.device)
    layers = CONFIGS[args.model].layers
    return {"archcalc_bytes": c.own_bytes, "table2_bytes": c.paper_bytes, "table2_formula": c.paper_formula,
            "memory_convention": args.memory_convention,
            "layers_bytes": c.bytes_per_layer(args.memory_convention) * layers,
            "differences": [{"item": d.what, "archcalc_bytes": d.own_bytes, "table2_bytes": d.paper_bytes,
                             "bytes": d.bytes, "why": d.why} for d in c.differences]}
