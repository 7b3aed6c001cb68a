"""Tensor-parallel collectives as one rank sees them (Megatron-LM's split, Shoeybi et al. 2019, Korthikanti
et al. 2022): memory and shapes only; communication volume and time are not modelled.

- ``AllReduce``: the row-parallel linears' partial sums summed over the ``world`` ranks, in place (the
  output shares the input's storage); no MACs, nothing saved. Its backward is the identity.
- ``ReduceScatter``: the same sum with sequence parallelism, each rank keeping ``1 / world`` of dimension
  ``dim`` (a new tensor); nothing saved (its backward is an all-gather).
- ``AllGatherLinear``: sequence parallelism's all-gather of a sequence shard fused with the column-parallel
  linear that reads it (Megatron's ``LinearWithGradAccumulationAndAsyncCommunication``): the input is the
  shard ``(..., s / world, ..., in)``, the output ``(..., s, ..., out)``; autograd keeps the **shard** and
  gathers again in the backward; the gathered buffer lives while the op runs (:func:`gathered_bytes`, which
  the liveness schedule allocates at the op in both passes).

Examples
--------
>>> from archcalc.ops import formula
>>> formula("AllGatherLinear")([(2, 64, 768)], out_features=1152, world=4, dim=1).output_shape
(2, 256, 1152)
>>> formula("ReduceScatter")([(2, 256, 768)], world=4, dim=1).output_shape
(2, 64, 768)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.linear import linear
from archcalc.ops.registry import OpCost, Shape, register
from archcalc.ops.traits import OpTraits
from dlperf.errors import ArgumentError, ref
from dlperf.validate import check_int

__all__ = ["all_reduce", "reduce_scatter", "all_gather_linear", "gathered_bytes"]


def _world(world: Any) -> None:
    check_int("tensor_parallel", world, symbolic=True)


@register("AllReduce", traits=OpTraits(aliasing="inplace", collective="all_reduce"))
def all_reduce(in_shapes: list[Shape], *, world: Any = 1) -> OpCost:
    """Sum over ``world`` ranks in place: the output aliases the input."""
    _world(world)
    x = tuple(in_shapes[0])
    return OpCost(output_shape=x, activations=prod(x), alias_of=(0,))


@register("ReduceScatter", traits=OpTraits(collective="reduce_scatter"))
def reduce_scatter(in_shapes: list[Shape], *, world: Any, dim: int = 1) -> OpCost:
    """Sum over ``world`` ranks and keep this rank's ``1 / world`` slice of dimension ``dim``."""
    _world(world)
    x = list(in_shapes[0])
    if is_concrete(x[dim], world) and x[dim] % world:
        raise ArgumentError("seq", x[dim], f"sequence parallelism splits the sequence evenly: choose a multiple of "
                            f"{ref('tensor_parallel')} ({world})")
    x[dim] = x[dim] // world
    return OpCost(output_shape=tuple(x), activations=prod(x))


@register("AllGatherLinear", traits=OpTraits(collective="all_gather"))
def all_gather_linear(in_shapes: list[Shape], *, out_features: Any, world: Any, dim: int = 1,
                      bias: bool = True) -> OpCost:
    """``linear(all_gather(x, dim))``; saves the shard ``x`` (Megatron gathers again in the backward)."""
    _world(world)
    x = list(in_shapes[0])
    x[dim] = x[dim] * world
    cost = linear([tuple(x)], out_features=out_features, bias=bias)
    return OpCost(output_shape=cost.output_shape, param_shapes=cost.param_shapes, macs=cost.macs,
                  activations=cost.activations, elementwise_ops=cost.elementwise_ops,
                  input_grad_macs=cost.input_grad_macs, backward_weight_macs=cost.backward_weight_macs,
                  saves_input=True)


def gathered_bytes(row: Any, bytes_per_element: int) -> int:
    """Bytes of the gathered input an ``AllGatherLinear`` row allocates while it runs (forward, and again in
    the backward for the weight gradient); 0 for any other row. The liveness schedule counts it there."""
    if row.kind != "AllGatherLinear":
        return 0
    return prod(row.input_shapes[0]) * dict(row.hparams)["world"] * bytes_per_element
