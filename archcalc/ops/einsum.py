"""``torch.einsum`` counted as ATen executes it (``aten/src/ATen/native/Linear.cpp``: ``einsum``,
``sumproduct_pair``).

ATen aligns every operand to one list of dimensions (the output's, then the summed ones; a repeated index
in one operand is a diagonal view, ``...`` covers broadcast dimensions), then contracts the operands two at
a time: left to right, or in the order of a ``path`` (``torch.backends.opt_einsum`` with opt_einsum
installed, for three operands or more). Before each pair, a summed index that no other remaining operand
has is summed out of the one that has it (a reduction: ``in - out`` adds, no MACs). The pair is then a
``bmm`` when some summed index is in both (MACs = batch x left-only x summed x right-only sizes, each over
the dimensions of size other than 1 in the operands that have them) or a broadcast ``mul`` when none is
(one op per output element, no MACs, as ``torch.utils.flop_counter`` counts it). One operand alone is a
sum (or a permutation). In the backward, each ``bmm`` gives one ``bmm`` of its own MACs for each side whose
operands need a gradient (``OpCost.grouped_grad_macs``); the rest is element-wise.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("Einsum")([(2, 5, 7), (7, 3)], equation="bij,jk->bik").macs  # one bmm: 2*5 x 7 x 3
210
>>> formula("Einsum")([(4,), (5,)], equation="i,j->ij").macs  # an outer product is a mul: 0 MACs, 20 ops
0
>>> plan = einsum_plan([(2, 3), (3, 4), (4, 5)], "ij,jk,kl->il")  # (2x3 @ 3x4) then (2x4 @ 4x5)
>>> [s.macs for s in plan.steps], plan.steps[1].left
([24, 40], (0, 1))
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, register
from archcalc.ops.traits import contraction

__all__ = ["EinsumStep", "EinsumPlan", "einsum_plan", "einsum"]

_ELLIPSIS = "."  # one token for "..." in a parsed term


def _one(size: Any) -> bool:
    """A dimension ATen treats as broadcast (``sym_size != 1`` is false): a literal 1 (an int or sympy's 1);
    a symbol is taken to differ from 1."""
    return (is_concrete(size) or getattr(size, "is_Integer", False)) and size == 1


def _err(equation: str, what: str) -> ValueError:
    return ValueError(f"Einsum: equation {equation!r}: {what}")


def _parse_term(term: str, equation: str) -> list[str]:
    labels: list[str] = []
    i = 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i:i + 3] != "..." or _ELLIPSIS in labels:
                raise _err(equation, f"term {term!r} has a '.' that is not one '...'")
            labels.append(_ELLIPSIS)
            i += 3
            continue
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise _err(equation, f"subscript {c!r} is not a letter a-z / A-Z")
        labels.append(c)
        i += 1
    return labels


def _parse(equation: str, n_inputs: int) -> tuple[list[list[str]], list[str] | None]:
    """Each operand's labels and the output's (None when the equation has no ``->``)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n_inputs:
        raise _err(equation, f"names {len(terms)} operands, got {n_inputs} inputs")
    parsed = [_parse_term(t, equation) for t in terms]
    if not arrow:
        return parsed, None
    out = _parse_term(rhs, equation)
    seen = {c for t in parsed for c in t}
    for c in out:
        if c != _ELLIPSIS and (c not in seen or out.count(c) > 1):
            raise _err(equation, f"output subscript {c!r} is not in any operand or appears twice")
    return parsed, out


@dataclass(frozen=True)
class EinsumStep:
    """One pairwise contraction of :func:`einsum_plan`.

    Attributes
    ----------
    left, right : tuple of int
        The original operands (indices into the inputs) that the two sides are made of.
    macs : int or sympy.Expr
        MACs of the ``bmm`` (0 for a broadcast ``mul``, a pair with no index summed in both).
    elementwise_ops : int or sympy.Expr
        Adds of the sums taken before the pair plus, for a ``mul``, one multiply per output element.
    """

    left: tuple[int, ...]
    right: tuple[int, ...]
    macs: Any
    elementwise_ops: Any


@dataclass(frozen=True)
class EinsumPlan:
    """How ATen computes one einsum: output shape, the pairwise steps and the final sum (one operand)."""

    output_shape: Shape
    steps: tuple[EinsumStep, ...]
    final_sum_ops: Any

    @property
    def macs(self) -> Any:
        return sum((s.macs for s in self.steps), 0)

    @property
    def elementwise_ops(self) -> Any:
        return sum((s.elementwise_ops for s in self.steps), self.final_sum_ops)


class _Aligner:
    """ATen's alignment: every operand as sizes on one ordered list of dimension keys (labels; ``(".", j)``
    for the j-th dimension that ``...`` covers), 1 where an operand lacks the dimension."""

    def __init__(self, equation: str, terms: list[list[str]], out: list[str] | None, shapes: list[Shape]) -> None:
        self.equation = equation
        counts: dict[str, int] = {}
        ell = 0
        for k, (term, shape) in enumerate(zip(terms, shapes, strict=True)):
            named = [c for c in term if c != _ELLIPSIS]
            for c in named:
                counts[c] = counts.get(c, 0) + 1
            if _ELLIPSIS in term:
                if len(named) > len(shape):
                    raise _err(equation, f"operand {k} names {len(named)} dimensions, its shape {tuple(shape)} has "
                                         f"{len(shape)}")
                ell = max(ell, len(shape) - len(named))
            elif len(named) != len(shape):
                raise _err(equation, f"operand {k} names {len(named)} dimensions but has shape {tuple(shape)}")
        ell_keys = [(_ELLIPSIS, j) for j in range(ell)]
        if out is None:  # implicit: "..." then the labels seen once, A-Z before a-z (ASCII order)
            out_keys: list[Any] = ell_keys + sorted(c for c, n in counts.items() if n == 1)
        else:
            out_keys = []
            for c in out:
                out_keys += ell_keys if c == _ELLIPSIS else [c]
        summed = [] if (out is None or _ELLIPSIS in out) else list(ell_keys)
        summed += sorted(c for c in counts if c not in out_keys)
        self.out_keys, self.summed = out_keys, summed
        self.sizes: dict[Any, Any] = {k: 1 for k in out_keys + summed}
        self.counts: dict[Any, int] = {k: 0 for k in self.sizes}
        self.operands = [self._align(k, term, tuple(shape), ell) for k, (term, shape)
                         in enumerate(zip(terms, shapes, strict=True))]

    def _see(self, key: Any, size: Any, k: int) -> None:
        if _one(size):
            return
        known = self.sizes[key]
        if not _one(known) and is_concrete(known, size) and known != size:
            what = f"subscript {key!r}" if isinstance(key, str) else f"dimension {key[1]} of '...'"
            raise _err(self.equation, f"{what} has size {size} in operand {k}, which does not broadcast with {known}")
        self.sizes[key] = size
        self.counts[key] += 1

    def _align(self, k: int, term: list[str], shape: Shape, ell: int) -> dict[Any, Any]:
        aligned: dict[Any, Any] = {}
        dim = 0
        for c in term:
            if c == _ELLIPSIS:
                n = len(shape) - (len(term) - 1)
                for j in range(ell - n, ell):
                    aligned[(_ELLIPSIS, j)] = shape[dim]
                    self._see((_ELLIPSIS, j), shape[dim], k)
                    dim += 1
            elif c in aligned:  # a repeated label: the diagonal (a view)
                if is_concrete(aligned[c], shape[dim]) and aligned[c] != shape[dim]:
                    raise _err(self.equation, f"subscript {c!r} is repeated in operand {k} with sizes "
                                              f"{aligned[c]} and {shape[dim]}")
                dim += 1
            else:
                aligned[c] = shape[dim]
                self._see(c, shape[dim], k)
                dim += 1
        return {key: aligned.get(key, 1) for key in self.sizes}


def _sum_out(op: dict[Any, Any], keys: list[Any]) -> tuple[dict[Any, Any], Any]:
    """``op.sum(keys, keepdim=True)``: the new sizes and its ``in - out`` adds."""
    if not keys:
        return op, 0
    new = {k: (1 if k in keys else v) for k, v in op.items()}
    return new, prod(op.values()) - prod(new.values())


def _pair(a: dict[Any, Any], b: dict[Any, Any], sum_dims: list[Any]) -> tuple[dict[Any, Any], Any, Any]:
    """``sumproduct_pair(a, b, sum_dims, keepdim=True)``: result sizes, MACs (bmm) and ops (mul)."""
    out = {k: (1 if k in sum_dims else (b[k] if _one(a[k]) else a[k])) for k in a}
    if not sum_dims:
        return out, 0, prod(out.values())
    lro = lo = ro = summed = 1
    for k in a:
        sl, sr = not _one(a[k]), not _one(b[k])
        if k in sum_dims:
            summed = summed * a[k]
        elif sl and sr:
            lro = lro * a[k]
        elif sl:
            lo = lo * a[k]
        else:
            ro = ro * b[k]
    return out, lro * lo * summed * ro, 0


def einsum_plan(in_shapes: list[Shape], equation: str, path: tuple[int, ...] | None = None) -> EinsumPlan:
    """The pairwise contractions ATen runs for ``torch.einsum(equation, *operands)``.

    Parameters
    ----------
    in_shapes : list of tuple
        The operands' shapes (ints or sympy symbols; a symbol is taken to differ from 1).
    equation : str
        The einsum equation (``...``, repeated indices, implicit output allowed).
    path : tuple of int, optional
        The flattened contraction path torch passes to ATen (``(i0, j0, i1, j1, ...)``, opt_einsum's order);
        None contracts left to right.

    Examples
    --------
    >>> plan = einsum_plan([(8, 3, 4)], "bij->b")  # one operand: a sum of 8*3*4 into 8
    >>> plan.macs, plan.elementwise_ops, plan.output_shape
    (0, 88, (8,))
    """
    terms, out = _parse(equation, len(in_shapes))
    al = _Aligner(equation, terms, out, [tuple(s) for s in in_shapes])
    n = len(in_shapes)
    if path is not None and len(path) != (1 if n == 1 else 2 * (n - 1)):
        raise _err(equation, f"path {tuple(path)} should have {2 * (n - 1)} entries for {n} operands")
    ops: deque[tuple[dict[Any, Any], tuple[int, ...]]] = deque((op, (k,)) for k, op in enumerate(al.operands))
    counts = dict(al.counts)
    steps: list[EinsumStep] = []
    t = 0
    while len(ops) > 1:
        i, j = 0, 1
        if path is not None:
            i, j = sorted((path[t], path[t + 1]))
            t += 2
            if i == j or i < 0 or j >= len(ops):
                raise _err(equation, f"path {tuple(path)} contracts ({i}, {j}) among {len(ops)} operands")
        (a, ma), (b, mb) = ops[i], ops[j]
        del ops[j]
        del ops[i]
        sum_dims, a_sum, b_sum = [], [], []
        for k in al.summed:
            if not _one(a[k]) and not _one(b[k]):
                counts[k] -= 1
                if counts[k] == 1:
                    sum_dims.append(k)
                    counts[k] = 0
            elif counts[k] == 1:
                if not _one(a[k]):
                    a_sum.append(k)
                    counts[k] = 0
                elif not _one(b[k]):
                    b_sum.append(k)
                    counts[k] = 0
        a, ops_a = _sum_out(a, a_sum)
        b, ops_b = _sum_out(b, b_sum)
        res, macs, mul_ops = _pair(a, b, sum_dims)
        steps.append(EinsumStep(tuple(sorted(ma)), tuple(sorted(mb)), macs, ops_a + ops_b + mul_ops))
        item = (res, ma + mb)
        if path is None:
            ops.appendleft(item)
        else:
            ops.append(item)
    final = 0
    if n == 1:
        final = _sum_out(ops[0][0], al.summed)[1]
    return EinsumPlan(tuple(al.sizes[k] for k in al.out_keys), tuple(steps), final)


@register("Einsum", traits=contraction())  # on the CPU through its bmm steps
def einsum(in_shapes: list[Shape], *, equation: str, path: tuple[int, ...] | None = None) -> OpCost:
    """``torch.einsum`` as ATen runs it (:func:`einsum_plan`): MACs of its ``bmm`` steps; sums and ``mul``
    steps are element-wise ops; each ``bmm``'s MACs again in the backward for each side whose operands need
    a gradient."""
    plan = einsum_plan(in_shapes, equation, path)
    grads = tuple(g for s in plan.steps if not (is_concrete(s.macs) and s.macs == 0)
                  for g in ((s.left, s.macs), (s.right, s.macs)))
    out = plan.output_shape
    return OpCost(output_shape=out, macs=plan.macs, activations=prod(out), elementwise_ops=plan.elementwise_ops,
                  grouped_grad_macs=grads, saves_input=len(in_shapes) > 1)
