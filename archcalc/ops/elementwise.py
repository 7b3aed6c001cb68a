"""Broadcasting arithmetic (Add, Sub, Mul, Div, Pow, Neg, Exp, Sqrt, Rsqrt, ...) and reductions (Mean, Sum, Max,
Norm).

Binary ops count one operation per output element per extra operand (an ``Add`` of three tensors: 2); an
op with a Python scalar (``x * 0.5``) has one input and counts 1 per element. ``inplace`` ops write into
their first input. Reductions: ``Sum`` ``in - out`` adds, ``Mean`` adds plus one division per output
element, ``Max`` / ``Min`` ``in - out`` comparisons; ``Norm`` (``x.norm(p, dim)``) one power per input element, the
adds, and one root per output element.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("Add")([(2, 64, 56, 56), (2, 64, 56, 56)], inplace=True).alias_of
(0,)
>>> formula("Mul")([(2, 197, 768), (768,)]).output_shape
(2, 197, 768)
>>> formula("Mean")([(2, 197, 768)], dim=(1,), keepdim=False).elementwise_ops  # 2*197*768 adds - 2*768 + 2*768
302592
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from archcalc.ops.arith import prod
from archcalc.ops.registry import OpCost, Shape, broadcast_shapes, elementwise_cost, one_input, register
from archcalc.ops.traits import OpTraits, comparison, pointwise
from archcalc.ops.traits import binary as binary_traits
from archcalc.ops.traits import reduction as reduction_traits

__all__ = ["binary", "unary", "reduction", "reduced_shape"]

_CUDA_FP32 = (("cuda", "fp32"),)  # torch.autocast's CUDA fp32 list
#: What each kind of this family is (:mod:`archcalc.ops.traits`).
_TRAITS: dict[str, OpTraits] = {
    # what autograd keeps for each input's gradient (checked with saved_tensors_hooks): x * y keeps y for x's
    # gradient and x for y's; x / y keeps y for x's, x and y for y's
    "Add": binary_traits(grad_alias=True), "Sub": binary_traits(), "Mul": binary_traits(saves_for_grad=((1,), (0,))),
    "Div": binary_traits(saves_for_grad=((1,), (0, 1))),
    "Pow": binary_traits(autocast=_CUDA_FP32), "Maximum": binary_traits(), "Minimum": binary_traits(),
    "Compare": comparison(aliasing="inplace", broadcasting=True),
    **{k: pointwise() for k in ("Neg", "Sqrt", "Abs", "Square", "Clamp", "ClampMin", "ClampMax", "Erf", "Sin", "Cos")},
    **{k: pointwise(autocast=_CUDA_FP32) for k in ("Exp", "Log", "Rsqrt", "Reciprocal")},
    "Where": OpTraits(differentiable=(1, 2), broadcasting=True),  # (condition, x, y)
    "MaskedFill": pointwise(differentiable=(0, 2), broadcasting=True),  # (x, mask[, value tensor])
    "Sum": reduction_traits(autocast=_CUDA_FP32), "Mean": reduction_traits(), "Max": reduction_traits(),
    "Min": reduction_traits(), "Norm": reduction_traits(),
}

#: Unary element-wise kinds and their operations per element.
UNARY: dict[str, int] = {"Neg": 1, "Exp": 1, "Log": 1, "Sqrt": 1, "Rsqrt": 2, "Abs": 1, "Square": 1, "Clamp": 2,
                         "ClampMin": 1, "ClampMax": 1, "Erf": 1, "Sin": 1, "Cos": 1, "Reciprocal": 1, "Where": 1, "MaskedFill": 1}
#: Kinds whose backward keeps only their bool mask input, and its position (``where(cond, x, y)``,
#: ``x.masked_fill(mask, v)``).
_KEEPS_MASK = {"Where": 0, "MaskedFill": 1}
_SAVES_INPUT = {"Maximum", "Minimum", "Mul", "Div", "Pow", "Exp", "Log", "Sqrt", "Rsqrt", "Abs", "Square", "Clamp", "ClampMin", "ClampMax", "Erf", "Sin", "Cos",
                "Reciprocal"}


def binary(kind: str, in_shapes: list[Shape], inplace: bool = False) -> OpCost:
    """One operation per output element per extra operand (a scalar operand counts as one)."""
    if not in_shapes:
        raise ValueError(f"{kind} needs at least one input")
    out = broadcast_shapes([tuple(s) for s in in_shapes], kind)
    if inplace and tuple(out) != tuple(in_shapes[0]):
        raise ValueError(f"{kind} in place: the result {out} does not fit the first input {tuple(in_shapes[0])}")
    per = max(len(in_shapes) - 1, 1)
    # times or over a Python scalar (``0.5 * x``, ``x / 8``): autograd keeps the scalar, no tensor
    saves = kind in _SAVES_INPUT and not (kind in ("Mul", "Div") and len(in_shapes) == 1)
    return elementwise_cost(out, per, saves_input=saves, alias_of=(0,) if inplace else ())


def _make_binary(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, inplace: bool = False, **_: Any) -> OpCost:
        return binary(kind, in_shapes, inplace)

    fn.__doc__ = f"{kind}: {binary.__doc__}"
    register(kind, traits=_TRAITS[kind])(fn)


for _kind in ("Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Compare"):
    _make_binary(_kind)


def unary(kind: str, in_shapes: list[Shape], inplace: bool = False) -> OpCost:
    """``UNARY[kind]`` operations per element."""
    shape = one_input(in_shapes[:1], kind)
    return elementwise_cost(shape, UNARY[kind], saves_input=kind in _SAVES_INPUT, alias_of=(0,) if inplace else ())


def _make_unary(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, inplace: bool = False, **_: Any) -> OpCost:
        cost = unary(kind, in_shapes[:1] if kind not in ("Where", "MaskedFill") else [broadcast_shapes(in_shapes, kind)],
                     inplace)
        at = _KEEPS_MASK.get(kind)
        if at is not None and len(in_shapes) > at:  # the mask input (a bool tensor), kept in its own dtype
            cost = replace(cost, saved_inputs=(), saved_mask_elements=prod(in_shapes[at]))
        return cost

    fn.__doc__ = f"{kind}: {UNARY[kind]} operation(s) per element."
    if kind in _KEEPS_MASK:
        fn.__doc__ += " Autograd keeps the bool mask (condition), nothing else."
    register(kind, traits=_TRAITS[kind])(fn)


for _kind in UNARY:
    _make_unary(_kind)


def _reduced_shape(shape: Shape, dim: Any, keepdim: bool, kind: str) -> Shape:
    if dim is None or dim == () or dim == []:
        dims = set(range(len(shape)))
    else:
        dims = {d % len(shape) for d in (dim if isinstance(dim, tuple | list) else (dim,))}
    if any(not 0 <= d < len(shape) for d in dims):
        raise ValueError(f"{kind}: dim {dim} is out of range for shape {shape}")
    return tuple((1 if keepdim else None) if i in dims else s for i, s in enumerate(shape) if keepdim or i not in dims)


reduced_shape = _reduced_shape


def reduction(kind: str, in_shapes: list[Shape], dim: Any = None, keepdim: bool = False) -> OpCost:
    """Sum: ``in - out`` adds; Mean: plus one division per output element; Max / Min: ``in - out`` comparisons
    (autograd keeps input and output)."""
    shape = one_input(in_shapes, kind)
    out = _reduced_shape(shape, dim, keepdim, kind)
    n_in, n_out = prod(shape), prod(out)
    ops = n_in - n_out + (n_out if kind == "Mean" else 0)
    minmax = kind in ("Max", "Min")  # autograd keeps input and result to find where the extremes were
    return OpCost(output_shape=out, activations=n_out, elementwise_ops=ops, saves_input=minmax, saves_output=minmax)


def _make_reduction(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, dim: Any = None, keepdim: bool = False) -> OpCost:
        return reduction(kind, in_shapes, dim, keepdim)

    fn.__doc__ = f"{kind}: {reduction.__doc__}"
    register(kind, traits=_TRAITS[kind])(fn)


for _kind in ("Sum", "Mean", "Max", "Min"):
    _make_reduction(_kind)


@register("Norm", traits=_TRAITS["Norm"])
def norm(in_shapes: list[Shape], *, p: Any = 2, dim: Any = None, keepdim: bool = False) -> OpCost:
    """``x.norm(p, dim, keepdim)``: per input element ``|x|^p`` (1 operation for p = 1 (abs) and p = 2
    (square), 2 otherwise), ``in - out`` adds (comparisons for p = inf) and, except for p = 1 and inf, one
    root per output element: p = 2 costs ``2 x in`` operations. Saves input and output for backward."""
    shape = one_input(in_shapes, "Norm")
    p = 2 if p in ("fro", None) else p
    out = _reduced_shape(shape, dim, keepdim, "Norm")
    n_in, n_out = prod(shape), prod(out)
    power = 1 if p in (1, 2) or p == float("inf") else 2
    root = 0 if p == 1 or p == float("inf") else 1
    return OpCost(output_shape=out, activations=n_out, elementwise_ops=power * n_in + n_in - n_out + root * n_out,
                  saves_input=True, saves_output=True)
