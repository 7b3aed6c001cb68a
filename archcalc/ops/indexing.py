"""Indexing, selection and ordering: Gather, Scatter, IndexSelect, IndexAdd, OneHot, ArgMax / ArgMin,
MaxDim / MinDim (values and indices), TopK, Sort, ArgSort.

No MACs. Operations: a lookup or a copy is not an operation; ``scatter_add`` / ``index_add`` add once per
source element (and multiply once more by ``alpha`` when it is not 1); ArgMax / MaxDim compare ``in - out``
times (as the ``Max`` reduction); Sort / ArgSort compare ``n * ceil(log2 n)`` times per row of ``n``
(a merge sort's bound), TopK ``n * max(ceil(log2 k), 1)`` times per row (a size-``k`` heap).

Index outputs (ArgMax, the indices of MaxDim / TopK / Sort, OneHot) are int64. What autograd keeps (checked
against ``saved_tensors_hooks`` in tests/test_archcalc_op_kinds.py): Gather its input and the index,
Scatter / IndexSelect the index, IndexAdd the index and the source, MaxDim / TopK / Sort / ArgSort the int64
indices they output; ArgMax and OneHot nothing (they are not differentiable).

Examples
--------
>>> from archcalc.ops import formula
>>> formula("Gather")([(2, 3, 4), (2, 3, 2)], dim=2).output_shape
(2, 3, 2)
>>> c = formula("MaxDim")([(2, 3, 4)], dim=1)
>>> c.output_shapes, c.elementwise_ops, c.saved_index_elements  # 24 - 8 comparisons; 8 int64 indices kept
(((2, 4), (2, 4)), 16, 8)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import floordiv, is_concrete, prod
from archcalc.ops.elementwise import reduced_shape
from archcalc.ops.registry import OpCost, Shape, dim_index, one_input, register
from archcalc.ops.traits import SAME, OpTraits, indices

_VALUES_INDICES = OpTraits(output_dtypes=(SAME, "int64"), differentiable=(0,))  # (values, int64 indices)

__all__ = ["sort_comparisons"]


def _log2_ceil(n: Any, kind: str) -> int:
    if not is_concrete(n):
        raise ValueError(f"{kind}: counting comparisons needs a concrete size")
    return max(int(n) - 1, 0).bit_length()


def sort_comparisons(n: Any, rows: Any) -> Any:
    """``rows * n * ceil(log2 n)``: a merge sort's comparisons on ``rows`` rows of ``n``."""
    return rows * n * _log2_ceil(n, "Sort")


@register("Gather", traits=OpTraits(differentiable=(0,)))  # (x, index)
def gather(in_shapes: list[Shape], *, dim: int) -> OpCost:
    """``torch.gather(x, dim, index)`` (inputs ``x, index``): the output has the index's shape; a copy, no
    arithmetic; autograd keeps ``x`` and the int64 index."""
    x, index = tuple(in_shapes[0]), tuple(in_shapes[1])
    if len(x) != len(index):
        raise ValueError(f"Gather: index rank {len(index)} differs from input rank {len(x)}")
    dim_index(dim, len(x), "Gather")
    return OpCost(output_shape=index, activations=prod(index), saved_inputs=(0,), saved_index_elements=prod(index))


#: Operations per source element of each Scatter reduction (``None``: plain assignment).
SCATTER_OPS = {None: 0, "add": 1, "sum": 1, "multiply": 1, "prod": 1, "amax": 1, "amin": 1, "mean": 1}


@register("Scatter", traits=OpTraits(differentiable=(0, 2), aliasing="inplace"))  # (x, index[, src])
def scatter(in_shapes: list[Shape], *, dim: int, reduce: Any = None, inplace: bool = False,
            keeps_all: bool = False) -> OpCost:
    """``x.scatter(dim, index, src)`` / ``scatter_add`` / ``scatter_reduce`` (inputs ``x, index[, src]``):
    the output has ``x``'s shape; one operation per index element for a reduction (``add``, ``prod``, ``amax``
    ...; ``mean`` adds one division per output element), none for plain assignment; autograd keeps the int64
    index, and for ``scatter_reduce`` (``keeps_all``) also ``x``, ``src`` and the result."""
    x, index = tuple(in_shapes[0]), tuple(in_shapes[1])
    dim_index(dim, len(x), "Scatter")
    if reduce not in SCATTER_OPS:
        raise ValueError(f"Scatter: reduce {reduce!r} is not one of {', '.join(map(str, SCATTER_OPS))}")
    ops = SCATTER_OPS[reduce] * prod(index) + (prod(x) if reduce == "mean" else 0)
    return OpCost(output_shape=x, activations=prod(x), elementwise_ops=ops, saves_output=keeps_all,
                  saved_inputs=(0, 2) if keeps_all else (), saved_index_elements=prod(index),
                  alias_of=(0,) if inplace else ())


@register("IndexSelect", traits=OpTraits(differentiable=(0,)))  # (x, index)
def index_select(in_shapes: list[Shape], *, dim: int) -> OpCost:
    """``x.index_select(dim, index)`` (inputs ``x, index``; ``index`` 1-D): ``dim`` becomes ``len(index)``; a
    copy, no arithmetic; autograd keeps the index."""
    x, index = tuple(in_shapes[0]), tuple(in_shapes[1])
    d = dim_index(dim, len(x), "IndexSelect")
    n = prod(index)
    out = (*x[:d], n, *x[d + 1:]) if x else ()
    return OpCost(output_shape=out, activations=prod(out), saved_inputs=(), saved_index_elements=n)


@register("IndexAdd", traits=OpTraits(differentiable=(0, 2), aliasing="inplace"))  # (x, index, source)
def index_add(in_shapes: list[Shape], *, dim: int, alpha: Any = 1, inplace: bool = False) -> OpCost:
    """``x.index_add(dim, index, source, alpha)`` (inputs ``x, index, source``): ``x``'s shape; one add per
    source element (and one multiply by ``alpha`` when it is not 1); autograd keeps the index and ``source``."""
    x, index, source = (tuple(s) for s in in_shapes[:3])
    dim_index(dim, len(x), "IndexAdd")
    ops = prod(source) * (1 if alpha == 1 else 2)
    return OpCost(output_shape=x, activations=prod(x), elementwise_ops=ops, saved_inputs=(2,),
                  saved_index_elements=prod(index), alias_of=(0,) if inplace else ())


@register("OneHot", traits=indices())
def one_hot(in_shapes: list[Shape], *, num_classes: Any) -> OpCost:
    """``F.one_hot(index, num_classes)``: ``(*index, num_classes)`` int64 zeros and ones, no arithmetic."""
    index = one_input(in_shapes, "OneHot")
    out = (*index, num_classes)
    return OpCost(output_shape=out, activations=prod(out))


def _reduce_dim(kind: str, in_shapes: list[Shape], dim: Any, keepdim: bool) -> tuple[Shape, Any, Any]:
    x = one_input(in_shapes, kind)
    out = reduced_shape(x, dim, keepdim, kind)
    return out, prod(x), prod(out)


def _make_arg(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, dim: Any = None, keepdim: bool = False) -> OpCost:
        out, n_in, n_out = _reduce_dim(kind, in_shapes, dim, keepdim)
        return OpCost(output_shape=out, activations=n_out, elementwise_ops=n_in - n_out)

    fn.__doc__ = (f"``x.{kind.lower()}(dim, keepdim)``: int64 indices, ``in - out`` comparisons (over every "
                  "element when ``dim`` is None); not differentiable, nothing saved.")
    register(kind, traits=indices())(fn)


def _make_values_indices(kind: str) -> None:
    def fn(in_shapes: list[Shape], *, dim: int, keepdim: bool = False) -> OpCost:
        out, n_in, n_out = _reduce_dim(kind, in_shapes, dim, keepdim)
        return OpCost(output_shape=out, more_outputs=(out,), activations=2 * n_out, elementwise_ops=n_in - n_out,
                      saved_index_elements=n_out)

    op = kind[:3].lower()
    fn.__doc__ = (f"``torch.{op}(x, dim, keepdim)``: values and int64 indices, ``in - out`` comparisons; "
                  "autograd keeps the indices.")
    register(kind, traits=_VALUES_INDICES)(fn)


for _kind in ("ArgMax", "ArgMin"):
    _make_arg(_kind)
for _kind in ("MaxDim", "MinDim"):
    _make_values_indices(_kind)


@register("TopK", traits=_VALUES_INDICES)
def topk(in_shapes: list[Shape], *, k: Any, dim: int = -1) -> OpCost:
    """``x.topk(k, dim)``: values and int64 indices with ``dim`` of size ``k``; ``n * max(ceil(log2 k), 1)``
    comparisons per row of ``n``; autograd keeps the indices."""
    x = one_input(in_shapes, "TopK")
    d = dim_index(dim, len(x), "TopK")
    out = (*x[:d], k, *x[d + 1:]) if x else ()
    n = x[d] if x else 1
    if is_concrete(n, k) and k > n:
        raise ValueError(f"TopK: k {k} is larger than the size {n} along dim {dim}")
    ops = prod(x) * max(_log2_ceil(k, "TopK"), 1)
    return OpCost(output_shape=out, more_outputs=(out,), activations=2 * prod(out), elementwise_ops=ops,
                  saved_index_elements=prod(out))


def _sort(kind: str, in_shapes: list[Shape], dim: int) -> tuple[Shape, Any]:
    x = one_input(in_shapes, kind)
    n = x[dim_index(dim, len(x), kind)] if x else 1
    return x, sort_comparisons(n, floordiv(prod(x), n))


@register("Sort", traits=_VALUES_INDICES)
def sort(in_shapes: list[Shape], *, dim: int = -1) -> OpCost:
    """``x.sort(dim)``: sorted values and int64 indices; ``n * ceil(log2 n)`` comparisons per row of ``n``;
    autograd keeps the indices."""
    x, ops = _sort("Sort", in_shapes, dim)
    return OpCost(output_shape=x, more_outputs=(x,), activations=2 * prod(x), elementwise_ops=ops,
                  saved_index_elements=prod(x))


@register("ArgSort", traits=indices())
def argsort(in_shapes: list[Shape], *, dim: int = -1) -> OpCost:
    """``x.argsort(dim)``: the int64 indices of Sort, the same comparisons; autograd keeps the indices of the
    sort it runs."""
    x, ops = _sort("ArgSort", in_shapes, dim)
    return OpCost(output_shape=x, activations=prod(x), elementwise_ops=ops, saved_index_elements=prod(x))
