"""More element-wise arithmetic: AddCMul, AddCDiv, RPow (``scalar ** x``), RDiv (``scalar / x``), Invert (``~x``), Cumsum, Diff, Prod,
All / Any, ClampTensor (``clamp`` with tensor bounds), FFT and Real.

No MACs. One operation per arithmetic step: ``addcmul`` is a multiply and an add per output element (and a
multiply by ``value`` when it is not 1); ``cumsum`` along a row of ``n`` makes ``n - 1`` adds; ``diff``
one subtraction per output element of each order; ``prod`` ``in - out`` multiplies, ``all`` / ``any``
``in - out`` logical operations; FFT ``5 N ceil(log2 n)`` per transformed dim.

What autograd keeps (checked against ``saved_tensors_hooks`` in tests/test_archcalc_op_kinds.py): AddCMul /
AddCDiv ``tensor1`` and ``tensor2`` (not ``self``), RPow its exponent and its result, RDiv the reciprocal, Prod input and result,
ClampTensor every input; Invert, Cumsum, Diff, All, Any, FFT and Real nothing.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("Cumsum")([(2, 3, 4)], dim=1).elementwise_ops  # 2*4 rows of 3: 2 adds each
16
>>> formula("AddCMul")([(4,), (2, 4), (2, 4)], value=0.5).elementwise_ops  # 8 * (mul, scale, add)
24
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import floordiv, is_concrete, prod
from archcalc.ops.elementwise import reduced_shape
from archcalc.ops.registry import (
    OpCost,
    Shape,
    broadcast_shapes,
    dim_index,
    elementwise_cost,
    one_input,
    register,
)
from archcalc.ops.traits import OpTraits, binary, comparison, pointwise, reduction, view

__all__: list[str] = []


def _addc(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, value: Any = 1, inplace: bool = False) -> OpCost:
        if len(in_shapes) != 3:
            raise ValueError(f"{kind} takes self, tensor1 and tensor2, got {len(in_shapes)} inputs")
        out = broadcast_shapes([tuple(s) for s in in_shapes], kind)
        if inplace and tuple(out) != tuple(in_shapes[0]):
            raise ValueError(f"{kind} in place: the result {out} does not fit self {tuple(in_shapes[0])}")
        return elementwise_cost(out, 2 if value == 1 else 3, saved_inputs=(1, 2), alias_of=(0,) if inplace else ())

    op = "*" if kind == "AddCMul" else "/"
    fn.__doc__ = (f"``self + value * tensor1 {op} tensor2``: broadcast; 2 operations per output element, 3 when "
                  "``value`` is not 1; autograd keeps tensor1 and tensor2.")
    register(kind, traits=binary())(fn)


for _kind in ("AddCMul", "AddCDiv"):
    _addc(_kind)


@register("RPow", traits=OpTraits())
def rpow(in_shapes: list[Shape], **_: Any) -> OpCost:
    """``base ** x`` with a Python number ``base``: one power per element; autograd keeps ``x`` and the
    result (its gradient is ``result * log(base)``)."""
    return elementwise_cost(one_input(in_shapes, "RPow"), 1, saves_input=True, saves_output=True)


@register("RDiv", traits=OpTraits())
def rdiv(in_shapes: list[Shape], **_: Any) -> OpCost:
    """``number / x``: one division per element; torch runs ``x.reciprocal() * number`` and autograd keeps the
    reciprocal, a tensor of the output's size (counted as the output)."""
    return elementwise_cost(one_input(in_shapes, "RDiv"), 1, saves_output=True)


@register("Invert", traits=pointwise(differentiable=()))
def invert(in_shapes: list[Shape], *, inplace: bool = False) -> OpCost:
    """``~x`` / ``torch.logical_not`` / ``bitwise_not``: one operation per element (bool stays bool); not
    differentiable, nothing saved."""
    return elementwise_cost(one_input(in_shapes, "Invert"), 1, alias_of=(0,) if inplace else ())


@register("Cumsum", traits=pointwise())
def cumsum(in_shapes: list[Shape], *, dim: int, inplace: bool = False) -> OpCost:
    """``x.cumsum(dim)``: ``n - 1`` adds per row of ``n`` along ``dim`` (``in - rows``); nothing saved (the
    backward is a reversed cumsum of the gradient)."""
    x = one_input(in_shapes, "Cumsum")
    n = x[dim_index(dim, len(x), "Cumsum")] if x else 1
    elems = prod(x)
    return OpCost(output_shape=x, activations=elems, elementwise_ops=elems - floordiv(elems, n),
                  alias_of=(0,) if inplace else ())


@register("Diff", traits=OpTraits())
def diff(in_shapes: list[Shape], *, n: int = 1, dim: int = -1) -> OpCost:
    """``torch.diff(x, n, dim, prepend, append)`` (inputs ``x[, prepend][, append]``, joined along ``dim``
    first): order ``i`` makes one subtraction per element of its output (``size - i`` along ``dim``);
    nothing saved."""
    shapes = [tuple(s) for s in in_shapes]
    first = shapes[0]
    d = dim_index(dim, len(first), "Diff")
    size = sum((s[d] for s in shapes[1:]), first[d])
    rest = prod((*first[:d], *first[d + 1:]))
    ops = sum((rest * max(size - i, 0) for i in range(1, n + 1)), 0)
    out = (*first[:d], max(size - n, 0), *first[d + 1:])
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=ops)


@register("Prod", traits=reduction())
def prod_reduction(in_shapes: list[Shape], *, dim: Any = None, keepdim: bool = False) -> OpCost:
    """``x.prod(dim, keepdim)`` (every element when ``dim`` is None): ``in - out`` multiplies; autograd keeps
    input and result."""
    x = one_input(in_shapes, "Prod")
    out = reduced_shape(x, dim, keepdim, "Prod")
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=prod(x) - prod(out), saves_input=True,
                  saves_output=True)


def _make_logical(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, dim: Any = None, keepdim: bool = False) -> OpCost:
        x = one_input(in_shapes, kind)
        out = reduced_shape(x, dim, keepdim, kind)
        return OpCost(output_shape=out, activations=prod(out), elementwise_ops=prod(x) - prod(out))

    fn.__doc__ = (f"``x.{kind.lower()}(dim, keepdim)``: a bool reduction, ``in - out`` logical operations "
                  "(every element when ``dim`` is None); not differentiable, nothing saved.")
    register(kind, traits=comparison())(fn)


for _kind in ("All", "Any"):
    _make_logical(_kind)


@register("FFT", traits=OpTraits())
def fft(in_shapes: list[Shape], *, dim: Any = None, keeps_input: bool = False) -> OpCost:
    """``torch.fft.fft`` / ``fftn`` / ``fft2`` and their inverses at the input's size (complex output of the
    input's shape): ``5 N ceil(log2 n)`` real operations per transformed dim of size ``n`` (``N`` elements),
    the usual radix-2 count (``n/2 log2 n`` butterflies of a complex multiply and two complex adds per
    line); FlopCounterMode counts 0. Autograd keeps nothing, except the input of a 1-d ``fft`` / ``ifft`` of a
    real tensor (``keeps_input``, as the torch front end sets it)."""
    x = one_input(in_shapes, "FFT")
    dims = range(len(x)) if dim is None else [dim_index(d, len(x), "FFT") for d in (dim if isinstance(dim, tuple | list)
                                                                                   else (dim,))]
    elems = prod(x)
    ops = 0
    for d in dims:
        if not is_concrete(x[d]):
            raise ValueError("FFT: counting its operations needs concrete sizes along the transformed dims")
        ops += 5 * elems * max(int(x[d]) - 1, 0).bit_length()
    return OpCost(output_shape=x, activations=elems, elementwise_ops=ops, saves_input=keeps_input)


@register("Real", traits=view(grad_alias=False))
def real(in_shapes: list[Shape]) -> OpCost:
    """``z.real`` / ``z.imag``: a view of a complex tensor's real (imaginary) parts, no arithmetic."""
    x = one_input(in_shapes, "Real")
    return OpCost(output_shape=x, activations=prod(x), alias_of=(0,))


@register("ClampTensor", traits=binary())
def clamp_tensor(in_shapes: list[Shape], *, bounds: int = 2, inplace: bool = False) -> OpCost:
    """``x.clamp(min, max)`` with tensor bounds (inputs ``x`` and the tensor bounds): broadcast; one comparison
    per bound per output element; autograd keeps every input."""
    out = broadcast_shapes([tuple(s) for s in in_shapes], "ClampTensor")
    return elementwise_cost(out, bounds, saves_input=True, alias_of=(0,) if inplace else ())
