"""Weight and activation contractions: Linear on any leading dims, matmul, bmm, addmm, baddbmm
(einsum: :mod:`archcalc.ops.einsum`).

MACs of a contraction = output elements x contracted length. ``Linear`` declares ``weight`` (and ``bias``)
in a zoo node; a traced ``F.linear`` receives them as inputs. ``MatMul`` follows ``torch.matmul``'s rules
(1-d operands, batch broadcasting).

Examples
--------
>>> from archcalc.ops import formula
>>> formula("Linear")([(2, 128, 768)], out_features=3072).macs  # 2*128 * 768*3072
603979776
>>> formula("MatMul")([(2, 12, 128, 64), (2, 12, 64, 128)]).output_shape
(2, 12, 128, 128)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, broadcast_shapes, register
from archcalc.ops.traits import OpTraits, contraction

__all__ = ["linear", "conv1d_transposed", "matmul", "bmm", "addmm", "baddbmm"]


def _check_equal(a: Any, b: Any, kind: str, what: str) -> None:
    if is_concrete(a, b) and a != b:
        raise ValueError(f"{kind}: {what} do not match ({a} vs {b})")


@register("Linear", traits=contraction())
def linear(in_shapes: list[Shape], *, out_features: Any = None, bias: bool = True, input_copy: bool = False) -> OpCost:
    """``y = x W^T + b`` on ``(..., in)``: MACs = leading elements x in x out; bias 1 op per output element.

    ``input_copy``: the input is a strided view whose leading dimensions do not fold into one (a transposed
    ``(t, b, d)``); ``F.linear`` then reshapes it into a new contiguous matrix, and autograd saves that copy
    instead of the input.
    """
    if not 1 <= len(in_shapes) <= 3:
        raise ValueError(f"Linear takes an input and optionally weight and bias, got {len(in_shapes)} inputs")
    x = tuple(in_shapes[0])
    if not x:
        raise ValueError("Linear expects an input of rank >= 1, got a scalar")
    f_in = x[-1]
    params: tuple[tuple[str, Shape], ...] = ()
    if len(in_shapes) > 1:
        w = tuple(in_shapes[1])
        out_features, bias = w[0], len(in_shapes) == 3
        _check_equal(w[1], f_in, "Linear", "weight columns and input features")
    else:
        if out_features is None:
            raise ValueError("Linear: give out_features (or weight as an input)")
        params = (("weight", (out_features, f_in)),) + ((("bias", (out_features,)),) if bias else ())
    out = (*x[:-1], out_features)
    out_elems = prod(out)
    macs = out_elems * f_in
    return OpCost(output_shape=out, param_shapes=params, macs=macs, activations=out_elems,
                  elementwise_ops=out_elems if bias else 0, input_grad_macs=(macs, macs),
                  backward_weight_macs=0 if len(in_shapes) > 1 else macs, saves_input=not input_copy,
                  saved_copy_elements=prod(x) if input_copy else 0,
                  view_gradients=(1, "weight"))  # F.linear runs x @ w.t(): w's gradient is TBackward's view


@register("Conv1D", traits=OpTraits())
def conv1d_transposed(in_shapes: list[Shape], *, out_features: Any, bias: bool = True) -> OpCost:
    """``transformers``' GPT-2 ``Conv1D``: a Linear whose weight is stored transposed, ``(in, out)``.

    Same costs as :func:`linear`; only the declared weight shape differs (``y = x W + b``).

    >>> formula = conv1d_transposed([(1, 1024, 768)], out_features=2304)
    >>> formula.param_shapes, formula.macs  # 1024 * 768*2304
    ((('weight', (768, 2304)), ('bias', (2304,))), 1811939328)
    """
    cost = linear([tuple(in_shapes[0])] if len(in_shapes) == 1 else in_shapes, out_features=out_features, bias=bias)
    if len(in_shapes) > 1:
        return cost
    f_in = tuple(in_shapes[0])[-1]
    params = (("weight", (f_in, out_features)),) + ((("bias", (out_features,)),) if bias else ())
    return replace(cost, param_shapes=params)


def _matmul_shape(a: Shape, b: Shape, kind: str) -> tuple[Shape, Any]:
    """torch.matmul's output shape and contracted length."""
    if not a or not b:
        raise ValueError(f"{kind}: both operands need rank >= 1, got {a} and {b}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    _check_equal(a2[-1], b2[-2], kind, f"inner dimensions of {tuple(a)} and {tuple(b)}")
    batch = broadcast_shapes([a2[:-2], b2[:-2]], kind) if (len(a2) > 2 or len(b2) > 2) else ()
    out = (*batch, *(() if len(a) == 1 else (a2[-2],)), *(() if len(b) == 1 else (b2[-1],)))
    return out, a2[-1]


@register("MatMul", traits=contraction())
def matmul(in_shapes: list[Shape]) -> OpCost:
    """``torch.matmul`` / ``@``: MACs = output elements x inner length; both operands saved for backward."""
    if len(in_shapes) != 2:
        raise ValueError(f"MatMul takes two inputs, got {len(in_shapes)}")
    out, k = _matmul_shape(tuple(in_shapes[0]), tuple(in_shapes[1]), "MatMul")
    macs = prod(out) * k
    return OpCost(output_shape=out, macs=macs, activations=prod(out), input_grad_macs=(macs, macs), saves_input=True)


@register("BMM", traits=contraction())
def bmm(in_shapes: list[Shape]) -> OpCost:
    """``torch.bmm`` on ``(b, n, k) x (b, k, m)``: MACs = b n m k."""
    if len(in_shapes) != 2 or len(in_shapes[0]) != 3 or len(in_shapes[1]) != 3:
        raise ValueError(f"BMM takes two rank-3 inputs, got {[tuple(s) for s in in_shapes]}")
    return matmul(in_shapes)


@register("GroupedMM", traits=OpTraits())
def grouped_mm(in_shapes: list[Shape]) -> OpCost:
    """``F.grouped_mm(a, b, offs)`` with ``a`` ``(S, K)`` and ``b`` ``(E, K, N)``: each row of ``a`` is multiplied
    by the one group ``offs`` assigns it (a mixture of experts' tokens through their expert), so
    MACs = S K N whatever the assignment; the gradients of ``a`` and ``b`` cost as much each."""
    if len(in_shapes) != 3 or len(in_shapes[0]) != 2 or len(in_shapes[1]) != 3 or len(in_shapes[2]) != 1:
        raise ValueError(f"GroupedMM takes (S, K), (E, K, N) and offsets (E,), got {[tuple(s) for s in in_shapes]}")
    (rows, k), (groups, k2, n), (offsets,) = in_shapes
    _check_equal(k, k2, "GroupedMM", "inner sizes")
    _check_equal(groups, offsets, "GroupedMM", "groups and offsets")
    out = (rows, n)
    macs = rows * k * n
    return OpCost(output_shape=out, macs=macs, activations=prod(out), input_grad_macs=(macs, macs, 0), saves_input=True)


@register("AddMM", traits=contraction())
def addmm(in_shapes: list[Shape], *, beta: Any = 1, alpha: Any = 1) -> OpCost:
    """``torch.addmm(c, a, b)`` = beta c + alpha a b: MACs of ``a b`` plus one add per output element."""
    if len(in_shapes) != 3:
        raise ValueError(f"AddMM takes three inputs (c, a, b), got {len(in_shapes)}")
    mm = matmul(in_shapes[1:])
    broadcast_shapes([in_shapes[0], mm.output_shape], "AddMM")
    extra = mm.activations * (1 + (0 if beta == 1 else 1) + (0 if alpha == 1 else 1))
    return OpCost(output_shape=mm.output_shape, macs=mm.macs, activations=mm.activations, elementwise_ops=extra,
                  input_grad_macs=(0, *mm.input_grad_macs), saves_input=True, saved_inputs=(1, 2))


@register("BAddBMM", traits=contraction())
def baddbmm(in_shapes: list[Shape], *, beta: Any = 1, alpha: Any = 1) -> OpCost:
    """``torch.baddbmm(c, a, b)`` = beta c + alpha (a @ b) batched: MACs of the bmm plus the adds; autograd keeps
    ``a`` and ``b``, not ``c``."""
    if len(in_shapes) != 3:
        raise ValueError(f"BAddBMM takes three inputs (c, a, b), got {len(in_shapes)}")
    mm = bmm(in_shapes[1:])
    extra = mm.activations * (1 + (0 if beta == 1 else 1) + (0 if alpha == 1 else 1))
    return OpCost(output_shape=mm.output_shape, macs=mm.macs, activations=mm.activations, elementwise_ops=extra,
                  input_grad_macs=(0, *mm.input_grad_macs), saves_input=True, saved_inputs=(1, 2))
