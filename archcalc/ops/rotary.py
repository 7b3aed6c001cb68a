"""Rotary position embeddings (Su et al. 2021) as ``transformers``' Llama runs them.

``RotaryTables`` makes the ``cos`` / ``sin`` tables from the positions ``(L,)``: the outer product of the
``head_dim / 2`` inverse frequencies with the positions (``transformers`` 5 runs it as a broadcast
multiply: ``L head_dim / 2`` operations, no MACs -- FlopCounterMode counts none either), the concatenation
of the angles with themselves, then ``cos`` and ``sin`` of the angles and the attention scaling of each
table: 4 operations per element of one table (``cos``, ``sin``, two multiplies), ``4 L head_dim``.

``RotaryApply`` rotates queries or keys ``(..., L, head_dim)`` with the tables:
``x cos + rotate_half(x) sin``, where ``rotate_half`` negates one half: 3 operations per element (two
multiplies, one add) plus one negation per element of the half.

Examples
--------
>>> from archcalc.ops import formula
>>> t = formula("RotaryTables")([(2048,)], head_dim=128)
>>> t.output_shapes, t.macs, t.elementwise_ops  # 2048*64 + 4*2048*128 ops
(((1, 2048, 128), (1, 2048, 128)), 0, 1179648)
>>> formula("RotaryApply")([(1, 32, 2048, 128), (1, 2048, 128), (1, 2048, 128)]).elementwise_ops  # 3.5 per element
29360128
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import prod
from archcalc.ops.registry import OpCost, Shape, register
from archcalc.ops.traits import OpTraits

__all__ = ["rotary_tables", "rotary_apply"]


@register("RotaryTables", traits=OpTraits(differentiable=()))  # from int positions
def rotary_tables(in_shapes: list[Shape], *, head_dim: Any) -> OpCost:
    """``cos`` and ``sin`` tables ``(1, L, head_dim)`` from positions ``(L,)``: ``L head_dim / 2 + 4 L head_dim``
    element-wise operations, no MACs."""
    if len(in_shapes) != 1 or len(in_shapes[0]) != 1:
        raise ValueError(f"RotaryTables takes the positions (L,), got {[tuple(s) for s in in_shapes]}")
    if isinstance(head_dim, int) and head_dim % 2:
        raise ValueError(f"RotaryTables: head_dim must be even, got {head_dim}")
    length = in_shapes[0][0]
    out = (1, length, head_dim)
    elems = prod(out)
    return OpCost(output_shape=out, more_outputs=(out,), activations=2 * elems,
                  elementwise_ops=length * (head_dim // 2) + 4 * elems)


@register("RotaryApply", traits=OpTraits())
def rotary_apply(in_shapes: list[Shape], **_: Any) -> OpCost:
    """``x cos + rotate_half(x) sin`` on ``x (..., L, head_dim)``: 3 operations per element plus one
    negation per element of one half; nothing saved for backward but the (constant) tables."""
    if len(in_shapes) != 3:
        raise ValueError(f"RotaryApply takes x, cos and sin, got {len(in_shapes)} inputs")
    x = tuple(in_shapes[0])
    elems = prod(x)
    half = prod(x[:-1]) * (x[-1] // 2)
    return OpCost(output_shape=x, activations=elems, elementwise_ops=3 * elems + half, input_grad_macs=())
