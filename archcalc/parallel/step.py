"""Peak memory of one tensor-parallel rank's training step, with Megatron's recomputation choices.

``recompute``:

- ``"none"``: autograd keeps every saved tensor;
- ``"selective"`` (Korthikanti et al. 2022, section 5): the attention core -- ``Q K^T``, softmax, softmax
  dropout and attention over ``V``, one ``ScaledDotProductAttention`` node here -- runs under a checkpoint:
  only its inputs (Q, K, V) are kept and it runs again in the backward;
- ``"full"``: each transformer layer runs under a checkpoint: only its input is kept, and the whole layer
  runs again in its backward, its saved tensors living only during that layer's backward.

Examples
--------
>>> from archcalc.models.zoo_transformers import CONFIGS, with_sizes
>>> cfg = with_sizes(CONFIGS["gpt"], layers=2, hidden=128, heads=4, ffn=512, vocab=1000)
>>> full = rank_peak(cfg, 256, 2, tensor_parallel=2, recompute="full")
>>> none = rank_peak(cfg, 256, 2, tensor_parallel=2)
>>> full.peak_bytes < none.peak_bytes
True
"""

from __future__ import annotations

from typing import Any

from archcalc.memory.formulas.activations import RECOMPUTE
from archcalc.memory.liveness.peak import PeakMemory, peak_memory
from archcalc.memory.liveness.recompute import RecomputePlan
from archcalc.memory.liveness.stack import layer_stack, stack_plan
from archcalc.models.zoo_transformers import TransformerConfig
from archcalc.parallel.rank_graph import rank_graph
from dlperf.errors import ArgumentError

__all__ = ["transformer_plan", "rank_peak", "check_recompute"]


def check_recompute(recompute: str) -> None:
    if recompute not in RECOMPUTE:
        raise ArgumentError("recompute", recompute, f"choose one of {', '.join(RECOMPUTE)}")


def transformer_plan(graph: Any, layers: int, recompute: str) -> RecomputePlan | None:
    """The checkpointed regions of ``recompute`` in a transformer graph (``None`` for ``"none"``): the plan of
    :func:`~archcalc.memory.liveness.stack.stack_plan` on the graph's stack of ``layers`` layers."""
    check_recompute(recompute)
    plan = stack_plan(graph, recompute)
    stack = layer_stack(graph)
    if plan is not None and (stack is None or len(stack.bounds) != layers):
        raise ValueError(f"recompute={recompute!r}: {graph.name} has no stack of {layers} layers")
    return plan


def rank_peak(cfg: TransformerConfig, seq: Any, batch: int = 1, *, tensor_parallel: int = 1,
              sequence_parallel: bool = False, recompute: str = "none", training: bool = True,
              optimizer: str = "sgd", precision: str = "fp32", device: str = "cpu", data_parallel: int = 1,
              zero: int = 0, first_step: bool = False) -> PeakMemory:
    """Liveness peak of one rank (:func:`~archcalc.parallel.rank_graph.rank_graph`) for one step (training: the
    steady step N >= 2 unless ``first_step``, as :func:`~archcalc.memory.liveness.peak.peak_memory`).

    With ``data_parallel`` ranks and ZeRO stage ``zero`` (:mod:`archcalc.memory.liveness.zero`), the tensor-parallel
    rank's own model states are sharded over its data-parallel group (Megatron-LM with a distributed optimizer,
    DeepSpeed's ZeRO beside tensor parallelism); ``batch`` is per data-parallel rank.
    """
    check_recompute(recompute)
    graph = rank_graph(cfg, seq, tensor_parallel=tensor_parallel, sequence_parallel=sequence_parallel)
    plan = transformer_plan(graph, cfg.layers, recompute) if training else None
    if training:
        from archcalc.ir.graph_size import check_training_size

        check_training_size(graph)
    return peak_memory(graph, (seq,), batch, training=training, optimizer=optimizer, precision=precision,
                       device=device, recompute=plan, data_parallel=data_parallel, zero=zero, first_step=first_step)
