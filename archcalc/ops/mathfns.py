"""More element-wise functions and two reductions: Expm1, Log1p, Floor, Ceil, Sign, Acos, LogSigmoid, GLU,
Remainder, Logical (``and`` / ``or`` / ``xor`` of bool tensors), Copy (``x.copy_(src)``), Polar, ComplexView
(``view_as_complex`` / ``view_as_real``), LogSumExp, Var and Unique.

No MACs. Operations per element, each of ``+ - * /``, a comparison, ``exp``, ``log``, ``log1p`` and
``acos`` being one:

==========  =================================  ==================================================
kind        operations                         formula
==========  =================================  ==================================================
Expm1       1 per element                      exp(x) - 1, one function
Log1p       1 per element                      log(1 + x), one function
Floor       1 per element                      also Ceil, Sign
Acos        1 per element                      arccos(x)
LogSigmoid  6 per element                      min(x, 0) - log1p(exp(-|x|)): abs, neg, exp, log1p, min, sub
GLU         5 per output element               a * sigmoid(b), the halves along ``dim``: sigmoid 4, mul 1
Remainder   1 per output element               x - floor(x / y) * y, one operation as ``Div``
Logical     1 per output element               x & y, x | y, x ^ y
Copy        0                                  a write
Polar       4 per element                      abs * cos(angle) + i abs * sin(angle)
LogSumExp   4 per input element                max (compare), subtract, exp, add; per output log and + max
Var         4 per input element                mean (add; divide per output), subtract, square, add;
                                               divide per output by ``n - correction``
Unique      n ceil(log2 n) for n elements      a sort, as ``Sort``
==========  =================================  ==================================================

(LogSumExp: ``(in - out)`` compares, ``in`` subtracts, ``in`` exps, ``(in - out)`` adds, ``out`` logs,
``out`` adds = ``4 in``; Var the same way ``(in - out) + out + in + in + (in - out) + out = 4 in``.)

What autograd keeps (checked against ``saved_tensors_hooks`` in tests/test_archcalc_op_kinds_math.py):
Expm1 its result; Log1p, Acos, GLU and Var their input; LogSigmoid its input and a buffer of the input's
size (the CPU kernel's; CUDA's buffer is empty); Remainder both inputs when the divisor is a tensor
(autograd: only when that tensor needs a gradient), nothing for a number; LogSumExp input and result; Polar
its complex result (two real elements each); Floor, Ceil, Sign, Logical, Copy, ComplexView and Unique
nothing.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("GLU")([(2, 8, 6)], dim=1).output_shape
(2, 4, 6)
>>> formula("LogSumExp")([(2, 3, 4)], dim=-1).elementwise_ops  # 4 * 24
96
"""

from __future__ import annotations

from typing import Any

from archcalc.ops.arith import is_concrete, prod
from archcalc.ops.elementwise import reduced_shape
from archcalc.ops.indexing import sort_comparisons
from archcalc.ops.registry import (
    OpCost,
    Shape,
    broadcast_shapes,
    dim_index,
    elementwise_cost,
    one_input,
    register,
)
from archcalc.ops.traits import SAME, OpTraits, binary, comparison, pointwise, reduction, view

__all__ = ["UNARY_FUNCTIONS"]

#: Unary functions: (operations per element, what autograd keeps: "input", "output" or None).
UNARY_FUNCTIONS: dict[str, tuple[int, str | None]] = {
    "Expm1": (1, "output"), "Log1p": (1, "input"), "Floor": (1, None), "Ceil": (1, None), "Sign": (1, None),
    "Acos": (1, "input"),
}


def _make_unary(kind: str, per: int, keeps: str | None) -> None:
    def fn(in_shapes: list[Shape], *, inplace: bool = False) -> OpCost:
        x = one_input(in_shapes, kind)
        return elementwise_cost(x, per, saves_input=keeps == "input", saves_output=keeps == "output",
                                alias_of=(0,) if inplace else ())

    what = {"input": "keeps its input", "output": "keeps its result", None: "keeps nothing"}[keeps]
    fn.__doc__ = f"``torch.{kind.lower()}(x)``: {per} operation per element; autograd {what}."
    register(kind, traits=pointwise())(fn)


for _kind, (_per, _keeps) in UNARY_FUNCTIONS.items():
    _make_unary(_kind, _per, _keeps)


@register("LogSigmoid", traits=OpTraits())
def log_sigmoid(in_shapes: list[Shape]) -> OpCost:
    """``F.logsigmoid(x)``: 6 operations per element (module docstring); autograd keeps the input and the
    kernel's buffer, a new tensor of the input's size (CPU; CUDA's is empty)."""
    x = one_input(in_shapes, "LogSigmoid")
    return elementwise_cost(x, 6, saves_input=True, saved_copy_elements=prod(x))


@register("GLU", traits=OpTraits())
def glu(in_shapes: list[Shape], *, dim: int = -1) -> OpCost:
    """``F.glu(x, dim)``: the first half of ``x`` along ``dim`` times the sigmoid of the second (the size
    along ``dim`` halves); 5 operations per output element; autograd keeps the input."""
    x = one_input(in_shapes, "GLU")
    d = dim_index(dim, len(x), "GLU")
    if is_concrete(x[d]) and x[d] % 2:
        raise ValueError(f"GLU: the size {x[d]} along dim {dim} must be even")
    out = (*x[:d], x[d] // 2, *x[d + 1:])
    return elementwise_cost(out, 5, saves_input=True)


@register("Remainder", traits=binary(saves_for_grad=((), (0, 1))))
def remainder(in_shapes: list[Shape], *, inplace: bool = False) -> OpCost:
    """``x % y`` / ``torch.remainder`` / ``fmod`` (inputs ``x[, y]``; a number divisor is no input): broadcast, 1
    operation per output element; autograd keeps both inputs when ``y`` is a tensor that needs a gradient
    (``y``'s gradient is ``-grad * floor(x / y)``), nothing for ``x``'s (the gradient itself): the formula
    says both for a tensor ``y``, the kind's traits (``saves_for_grad``) keep them only when ``y`` needs a
    gradient."""
    if not 1 <= len(in_shapes) <= 2:
        raise ValueError(f"Remainder takes x and at most one tensor divisor, got {len(in_shapes)} inputs")
    out = broadcast_shapes([tuple(s) for s in in_shapes], "Remainder")
    return elementwise_cost(out, 1, saves_input=len(in_shapes) == 2, alias_of=(0,) if inplace else ())


@register("Logical", traits=comparison(aliasing="inplace", broadcasting=True))
def logical(in_shapes: list[Shape], *, inplace: bool = False) -> OpCost:
    """``x | y``, ``x & y``, ``x ^ y`` / ``torch.logical_and`` ... (a number operand is no input): broadcast, 1
    operation per output element; not differentiable, nothing saved."""
    out = broadcast_shapes([tuple(s) for s in in_shapes], "Logical")
    return elementwise_cost(out, 1, alias_of=(0,) if inplace else ())


@register("Copy", traits=OpTraits(aliasing="view", differentiable=(1,), broadcasting=True))  # writes x
def copy(in_shapes: list[Shape]) -> OpCost:
    """``x.copy_(src)`` (inputs ``x, src``; ``src`` broadcasts to ``x``): writes ``x`` in place, no arithmetic;
    the gradient passes to ``src`` (summed over broadcast dims), nothing saved."""
    if len(in_shapes) != 2:
        raise ValueError(f"Copy takes x and src, got {len(in_shapes)} inputs")
    x = tuple(in_shapes[0])
    if broadcast_shapes([x, tuple(in_shapes[1])], "Copy") != x:
        raise ValueError(f"Copy: src {tuple(in_shapes[1])} does not broadcast to {x}")
    return OpCost(output_shape=x, activations=prod(x), alias_of=(0,))


@register("Polar", traits=OpTraits(broadcasting=True))
def polar(in_shapes: list[Shape]) -> OpCost:
    """``torch.polar(abs, angle)``: a complex tensor of the broadcast shape, 4 operations per element (a cosine,
    a sine, two multiplies); autograd keeps the result, counted as two elements of the (real) activation dtype
    per complex element (archcalc's dtypes are real)."""
    out = broadcast_shapes([tuple(s) for s in in_shapes], "Polar")
    return elementwise_cost(out, 4, saved_copy_elements=2 * prod(out))


@register("ComplexView", traits=view(grad_alias=False))
def complex_view(in_shapes: list[Shape], *, to_complex: bool) -> OpCost:
    """``torch.view_as_complex(x)`` (``(..., 2)`` floats to ``(...)`` complex) and ``view_as_real`` (the
    reverse): a view, no arithmetic, nothing saved."""
    x = one_input(in_shapes, "ComplexView")
    if to_complex:
        if not x or (is_concrete(x[-1]) and x[-1] != 2):
            raise ValueError(f"ComplexView: view_as_complex needs a last dim of size 2, got shape {x}")
        out = x[:-1]
    else:
        out = (*x, 2)
    return OpCost(output_shape=out, activations=prod(out), alias_of=(0,))


@register("LogSumExp", traits=reduction())
def logsumexp(in_shapes: list[Shape], *, dim: Any, keepdim: bool = False) -> OpCost:
    """``x.logsumexp(dim, keepdim)``: ``4 x in`` operations (module docstring); autograd keeps input and
    result."""
    x = one_input(in_shapes, "LogSumExp")
    out = reduced_shape(x, dim, keepdim, "LogSumExp")
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=4 * prod(x), saves_input=True,
                  saves_output=True)


@register("Var", traits=reduction())
def var(in_shapes: list[Shape], *, dim: Any = None, keepdim: bool = False) -> OpCost:
    """``x.var(dim, correction, keepdim)`` (every element when ``dim`` is None): ``4 x in`` operations (module
    docstring); autograd keeps the input."""
    x = one_input(in_shapes, "Var")
    out = reduced_shape(x, dim, keepdim, "Var")
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=4 * prod(x), saves_input=True)


@register("Unique", traits=OpTraits(output_dtypes=(SAME, "int64"), value_dependent_shape=True))
def unique(in_shapes: list[Shape], *, output_shapes: tuple = (), traced_input: tuple = ()) -> OpCost:
    """``x.unique()`` / ``torch.unique(x, sorted, return_inverse, return_counts, dim)``: a sort of the ``n``
    elements, ``n ceil(log2 n)`` comparisons; how many values it finds depends on the data, so the output
    shapes are the traced ones (valid only at the traced input); not differentiable, nothing saved."""
    x = one_input(in_shapes, "Unique")
    if traced_input and is_concrete(*x) and tuple(x) != tuple(traced_input):
        raise ValueError(f"Unique: traced at input {tuple(traced_input)}, asked for {tuple(x)}; trace again")
    outs = tuple(tuple(s) for s in output_shapes) or ((prod(x),),)
    return OpCost(output_shape=outs[0], more_outputs=outs[1:], activations=sum((prod(s) for s in outs), 0),
                  elementwise_ops=sort_comparisons(prod(x), 1))
