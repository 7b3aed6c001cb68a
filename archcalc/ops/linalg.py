"""Triangular matrices: Triangular (``tril`` / ``triu``) and SolveTriangular (``torch.linalg.solve_triangular``).

Triangular keeps the entries on one side of a diagonal and zeroes the others: one operation (a select) per
element, as ``Where``; nothing saved (its gradient is the same mask applied to the gradient).

SolveTriangular solves ``A X = B`` (``left``) or ``X A = B`` for ``X``, ``A`` (``..., n, n``) triangular and
``B`` ``(..., n, k)`` (``(..., k, n)`` when not ``left``), batch dims broadcast. Substitution costs, per
right-hand side, one multiply and one subtract per off-diagonal entry of ``A`` (``n (n - 1)`` operations)
and one division per row unless ``unitriangular``; they are counted as element-wise operations, not MACs,
because torch's FlopCounterMode counts the solve as 0 (it has no formula for it), as archcalc does FFT. Its
backward (autograd's ``linalg_solve_triangular_backward``) solves once more for ``gB = A^-H gX`` (again not
MACs) and, when ``A`` needs a gradient, multiplies ``gA = -gB X^H`` (``left``; ``-X^H gB`` otherwise): a
batched matmul of ``batch n n k`` MACs, which FlopCounterMode counts as ``bmm`` and archcalc as
``A``'s input-gradient MACs. Autograd keeps ``A`` and the result ``X``.

Examples
--------
>>> from archcalc.ops import formula
>>> c = formula("SolveTriangular")([(2, 3, 5, 5), (2, 3, 5, 4)], upper=False, unitriangular=True)
>>> c.output_shape, c.elementwise_ops, c.input_grad_macs  # 6 * 4 * 5 * 4 ops; 6 * 5 * 5 * 4 MACs for A
((2, 3, 5, 4), 480, (600, 0))
"""

from __future__ import annotations

from archcalc.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, broadcast_shapes, elementwise_cost, one_input, register
from archcalc.ops.traits import OpTraits, pointwise

__all__: list[str] = []


@register("Triangular", traits=pointwise())
def triangular(in_shapes: list[Shape], *, upper: bool, diagonal: int = 0, inplace: bool = False) -> OpCost:
    """``x.tril(diagonal)`` (``upper`` False) / ``x.triu(diagonal)`` on the last two dims: one select per
    element; nothing saved."""
    x = one_input(in_shapes, "Triangular")
    if len(x) < 2:
        raise ValueError(f"Triangular: {'triu' if upper else 'tril'} needs a tensor of rank >= 2, got shape {x}")
    return elementwise_cost(x, 1, alias_of=(0,) if inplace else ())


@register("SolveTriangular", traits=OpTraits())
def solve_triangular(in_shapes: list[Shape], *, upper: bool, left: bool = True, unitriangular: bool = False) -> OpCost:
    """``torch.linalg.solve_triangular(A, B, upper, left, unitriangular)`` (inputs ``A, B``): the module
    docstring's counts; autograd keeps ``A`` and the result."""
    if len(in_shapes) != 2:
        raise ValueError(f"SolveTriangular takes A and B, got {len(in_shapes)} inputs")
    a, b = tuple(in_shapes[0]), tuple(in_shapes[1])
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"SolveTriangular: A {a} and B {b} must be matrices (rank >= 2)")
    n, n2 = a[-2:]
    if is_concrete(n, n2) and n != n2:
        raise ValueError(f"SolveTriangular: A must be square, got shape {a}")
    inner = b[-2] if left else b[-1]
    if is_concrete(n, inner) and n != inner:
        raise ValueError(f"SolveTriangular: A {a} does not fit B {b} (left={left})")
    k = b[-1] if left else b[-2]
    batch = broadcast_shapes([a[:-2], b[:-2]], "SolveTriangular")
    out = (*batch, *b[-2:])
    rhs = prod(batch) * k
    ops = rhs * (n * (n - 1) + (0 if unitriangular else n))
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=ops,
                  input_grad_macs=(prod(batch) * n * n * k, 0), saved_inputs=(0,), saves_output=True)
