"""Normalisation: BatchNorm1d/2d/3d (eval and train), LayerNorm, GroupNorm, InstanceNorm1d/2d/3d, RMSNorm.

Operations per element (fvcore's convention for the statistics-computing norms, so its counts are an
oracle): BatchNorm at inference 2 (the folded per-channel scale and shift); BatchNorm in training,
LayerNorm, GroupNorm and InstanceNorm 4 (mean, variance, subtract, divide) plus 1 for the affine step;
RMSNorm 2 (square-accumulate, scale) plus 1 for the weight. Each saves its input and two float32 statistics
per normalised group (mean and inverse std; RMSNorm: the inverse RMS only).

Examples
--------
>>> from archcalc.ops import formula
>>> ln = formula("LayerNorm")([(2, 128, 768)], normalized_shape=768)
>>> ln.params, ln.elementwise_ops, ln.saved_fp32_elements
(1536, 983040, 512)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, ntuple, one_input, register
from archcalc.ops.traits import OpTraits

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm"]


def _affine_params(inputs: list[Shape], shape: Shape, affine: bool, bias: bool = True) -> tuple[tuple[str, Shape], ...]:
    if len(inputs) > 1 or not affine:  # traced: weight / bias arrive as inputs
        return ()
    return (("weight", shape),) + ((("bias", shape),) if bias else ())


def batch_norm(in_shapes: list[Shape], *, n: int, affine: bool = True, training: bool = False,
               num_features: Any = None) -> OpCost:
    """BatchNorm over ``(N, C, *)``: 2 ops per element at inference, ``4 + affine`` in training."""
    kind = f"BatchNorm{n}d"
    ranks = (2, 3) if n == 1 else (n + 1, n + 2)
    x = tuple(in_shapes[0]) if in_shapes else ()
    one_input(in_shapes[:1], kind, ranks)
    c = x[1] if len(x) == ranks[-1] or (n == 1 and len(x) == 2) else x[0]
    if num_features is not None and is_concrete(num_features, c) and num_features != c:
        raise ValueError(f"{kind}: expects {num_features} channels, got input {x}")
    elems = prod(x)
    per = 2 if not training else 4 + (1 if affine else 0)
    return OpCost(output_shape=x, param_shapes=_affine_params(in_shapes, (c,), affine), activations=elems,
                  elementwise_ops=per * elems, input_grad_macs=(), saves_input=True, saved_fp32_elements=2 * c)


def _norm_groups(x: Shape, normalized: Shape, kind: str) -> Any:
    if len(normalized) > len(x) or (is_concrete(*normalized, *x[len(x) - len(normalized):])
                                     and tuple(x[len(x) - len(normalized):]) != tuple(normalized)):
        raise ValueError(f"{kind}: normalized_shape {tuple(normalized)} does not end the input shape {x}")
    return prod(x[: len(x) - len(normalized)])


@register("LayerNorm", traits=OpTraits(autocast=(("cuda", "fp32"),), stats_in_input_dtype=("cpu",)))
def layer_norm(in_shapes: list[Shape], *, normalized_shape: Any, elementwise_affine: bool = True,
               bias: bool = True) -> OpCost:
    """LayerNorm over the last dims: ``4 + affine`` ops per element; saves input, mean and rstd per row."""
    x = tuple(in_shapes[0])
    normalized = ntuple(normalized_shape, len(normalized_shape) if isinstance(normalized_shape, tuple | list) else 1)
    rows = _norm_groups(x, normalized, "LayerNorm")
    elems = prod(x)
    return OpCost(output_shape=x, param_shapes=_affine_params(in_shapes, tuple(normalized), elementwise_affine, bias),
                  activations=elems, elementwise_ops=(4 + (1 if elementwise_affine else 0)) * elems, saves_input=True,
                  saved_fp32_elements=2 * rows)


@register("GroupNorm", traits=OpTraits(autocast=(("cuda", "fp32"),)))
def group_norm(in_shapes: list[Shape], *, num_groups: Any, affine: bool = True) -> OpCost:
    """GroupNorm over ``(N, C, *)`` in ``num_groups`` groups: ``4 + affine`` ops per element."""
    x = tuple(in_shapes[0])
    if len(x) < 2:
        raise ValueError(f"GroupNorm expects an input (N, C, *), got shape {x}")
    c = x[1]
    if is_concrete(c, num_groups) and c % num_groups:
        raise ValueError(f"GroupNorm: num_groups {num_groups} must divide the channels {c}")
    elems = prod(x)
    return OpCost(output_shape=x, param_shapes=_affine_params(in_shapes, (c,), affine), activations=elems,
                  elementwise_ops=(4 + (1 if affine else 0)) * elems, saves_input=True,
                  saved_fp32_elements=2 * x[0] * num_groups)


def instance_norm(in_shapes: list[Shape], *, n: int, affine: bool = False) -> OpCost:
    """InstanceNorm over each ``(N, C)`` slice: ``4 + affine`` ops per element."""
    kind = f"InstanceNorm{n}d"
    x = one_input(in_shapes[:1], kind, (n + 1, n + 2))
    c = x[-n - 1]
    elems = prod(x)
    return OpCost(output_shape=x, param_shapes=_affine_params(in_shapes, (c,), affine), activations=elems,
                  elementwise_ops=(4 + (1 if affine else 0)) * elems, saves_input=True,
                  saved_fp32_elements=2 * prod(x[:-n]))


@register("RMSNorm", traits=OpTraits())
def rms_norm(in_shapes: list[Shape], *, normalized_shape: Any, elementwise_affine: bool = True) -> OpCost:
    """RMSNorm ``x / sqrt(mean(x^2) + eps) * w``: ``2 + affine`` ops per element; saves input and 1/rms."""
    x = tuple(in_shapes[0])
    normalized = ntuple(normalized_shape, len(normalized_shape) if isinstance(normalized_shape, tuple | list) else 1)
    rows = _norm_groups(x, normalized, "RMSNorm")
    elems = prod(x)
    params = _affine_params(in_shapes, tuple(normalized), elementwise_affine, bias=False)
    return OpCost(output_shape=x, param_shapes=params, activations=elems,
                  elementwise_ops=(2 + (1 if elementwise_affine else 0)) * elems, saves_input=True,
                  saved_fp32_elements=rows)


def _register(n: int) -> None:
    def bn(in_shapes: list[Shape], **hp: Any) -> OpCost:
        return batch_norm(in_shapes, n=n, **hp)

    def inorm(in_shapes: list[Shape], **hp: Any) -> OpCost:
        return instance_norm(in_shapes, n=n, **hp)

    bn.__doc__, inorm.__doc__ = batch_norm.__doc__, instance_norm.__doc__
    register(f"BatchNorm{n}d", traits=OpTraits(training_sensitive=True, running_stats=True))(bn)
    register(f"InstanceNorm{n}d", traits=OpTraits())(inorm)


for _n in (1, 2, 3):
    _register(_n)



@register("WeightNorm", traits=OpTraits())
def weight_norm(in_shapes: list[Shape], *, dim: int = 0) -> OpCost:
    """``torch._weight_norm(v, g, dim)`` (``nn.utils.parametrizations.weight_norm``): ``w = g * v / ||v||``
    with the norm over every dim but ``dim``: per element of ``v`` a square, an add (``nv - ng`` in all) and a
    multiply, per element of ``g`` a root and a division: ``3 nv + ng`` operations. Autograd keeps ``v``,
    ``g`` (parameters, not counted here) and the float32 norms (``ng`` elements)."""
    if len(in_shapes) != 2:
        raise ValueError(f"WeightNorm takes v and g, got {len(in_shapes)} inputs")
    v, g = tuple(in_shapes[0]), tuple(in_shapes[1])
    nv, ng = prod(v), prod(g)
    return OpCost(output_shape=v, activations=nv, elementwise_ops=3 * nv + ng, saves_input=True,
                  saved_fp32_elements=ng)
