"""Ops that rearrange elements without arithmetic: Repeat (``repeat`` / ``tile``), RepeatInterleave, Unfold
(``Tensor.unfold``, a view), Im2Col (``F.unfold``) and Col2Im (``F.fold``), Meshgrid (views), TensorSplit
(views), Cast (``.long()``, ``.bool()`` ...) and AsStrided (a view).

None of them multiplies: ``macs`` is 0 and only Col2Im adds (the overlapping columns it sums). What autograd
keeps (checked against ``saved_tensors_hooks`` in tests/test_archcalc_op_kinds.py): nothing, except
RepeatInterleave with a tensor of repeats (an int64 index of the output's length along ``dim``).

Examples
--------
>>> from archcalc.ops import formula
>>> formula("Repeat")([(2, 3)], repeats=(2, 1, 2)).output_shape
(2, 2, 6)
>>> formula("Im2Col")([(1, 2, 5, 5)], kernel_size=(3, 3), stride=(2, 2)).output_shape  # 2*3*3 rows, 2*2 cols
(1, 18, 4)
>>> # per channel, per dim 6 entries land on 5 positions: 2 channels * (6*6 - 5*5) = 22 adds
>>> formula("Col2Im")([(1, 18, 4)], output_size=(5, 5), kernel_size=(3, 3), stride=(2, 2)).elementwise_ops
22
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import floordiv, is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, dim_index, ntuple, one_input, pair, register
from archcalc.ops.traits import OpTraits, view

__all__ = ["windows"]


@register("Repeat", traits=OpTraits())
def repeat(in_shapes: list[Shape], *, repeats: Any) -> OpCost:
    """``x.repeat(*repeats)`` / ``torch.tile(x, dims)``: a new tensor, each size times its repeat (extra leading
    repeats add dims); a copy, no arithmetic; autograd saves nothing (its backward sums the copies)."""
    x = one_input(in_shapes, "Repeat")
    reps = tuple(repeats)
    if len(reps) < len(x):
        raise ValueError(f"Repeat: {len(reps)} repeats for an input of rank {len(x)}; give one per dim at least")
    lead = len(reps) - len(x)
    out = (*reps[:lead], *(s * r for s, r in zip(x, reps[lead:], strict=True)))
    return OpCost(output_shape=out, activations=prod(out))


@register("RepeatInterleave", traits=OpTraits(differentiable=(0,)))
def repeat_interleave(in_shapes: list[Shape], *, repeats: Any = None, dim: Any = None, output_size: Any = None) -> OpCost:
    """``x.repeat_interleave(repeats, dim)``: each element repeated ``repeats`` times along ``dim`` (the
    flattened input when ``dim`` is None); a copy, no arithmetic. With a tensor of repeats (its second input)
    the length along ``dim`` is ``output_size`` (as traced) and autograd keeps an int64 index of that length."""
    x = tuple(in_shapes[0])
    if dim is None:
        x, d = (prod(x),), 0
    else:
        d = dim_index(dim, len(x), "RepeatInterleave")
    if len(in_shapes) > 1:
        if output_size is None:
            raise ValueError("RepeatInterleave: a tensor of repeats needs output_size (the traced length)")
        size, index = output_size, output_size
    else:
        if repeats is None:
            raise ValueError("RepeatInterleave: give repeats")
        size, index = x[d] * repeats, 0
    out = (*x[:d], size, *x[d + 1:])
    return OpCost(output_shape=out, activations=prod(out), saved_index_elements=index)


@register("Unfold", traits=view(grad_alias=False))
def unfold(in_shapes: list[Shape], *, dimension: int, size: Any, step: Any) -> OpCost:
    """``x.unfold(dimension, size, step)``: windows of ``size`` every ``step`` along ``dimension``, the window
    as a new last dim; a view (no copy, no arithmetic)."""
    x = one_input(in_shapes, "Unfold")
    if not x:
        return OpCost(output_shape=(size,), activations=size, alias_of=(0,))
    d = dim_index(dimension, len(x), "Unfold")
    n = floordiv(x[d] - size, step) + 1
    out = (*x[:d], n, *x[d + 1:], size)
    return OpCost(output_shape=out, activations=prod(out), alias_of=(0,))


def windows(size: Any, kernel: Any, dilation: Any, padding: Any, stride: Any) -> Any:
    """Sliding positions along one dim: ``floor((size + 2 p - d (k - 1) - 1) / s) + 1``."""
    return floordiv(size + 2 * padding - dilation * (kernel - 1) - 1, stride) + 1


def _fold_args(kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> tuple[tuple[Any, Any], ...]:
    return pair(kernel_size), pair(dilation), pair(padding), pair(stride)


@register("Im2Col", traits=OpTraits())
def im2col(in_shapes: list[Shape], *, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> OpCost:
    """``F.unfold(x, kernel_size, dilation, padding, stride)``: ``(N, C, H, W) -> (N, C kh kw, L)`` with ``L``
    the sliding positions; a copy (padding reads zeros), no arithmetic, nothing saved."""
    x = one_input(in_shapes, "Im2Col", (3, 4))
    k, dl, p, s = _fold_args(kernel_size, dilation, padding, stride)
    lead = x[:-3] if len(x) == 4 else ()
    c, h, w = x[-3:]
    blocks = windows(h, k[0], dl[0], p[0], s[0]) * windows(w, k[1], dl[1], p[1], s[1])
    out = (*lead, c * k[0] * k[1], blocks)
    return OpCost(output_shape=out, activations=prod(out))


def _landed_and_covered(size: int, blocks: int, kernel: int, dilation: int, padding: int, stride: int) -> tuple[int, int]:
    """Along one dim of Col2Im: column entries that land inside the output, and output positions hit."""
    hits = [0] * size
    for b in range(blocks):
        for i in range(kernel):
            at = b * stride - padding + i * dilation
            if 0 <= at < size:
                hits[at] += 1
    return sum(hits), sum(1 for h in hits if h)


@register("Col2Im", traits=OpTraits())
def col2im(in_shapes: list[Shape], *, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> OpCost:
    """``F.fold(x, output_size, kernel_size, dilation, padding, stride)``: ``(N, C kh kw, L) -> (N, C, H, W)``,
    summing the columns that overlap: one add per column entry that lands on an output position already
    written (``landed - covered`` per channel; entries falling in the padding are dropped). Nothing saved."""
    x = one_input(in_shapes, "Col2Im", (2, 3))
    k, dl, p, s = _fold_args(kernel_size, dilation, padding, stride)
    h, w = ntuple(output_size, 2, "Col2Im output_size")
    lead = x[:-2] if len(x) == 3 else ()
    ck, n_blocks = x[-2:]
    c = floordiv(ck, k[0] * k[1])
    bh, bw = windows(h, k[0], dl[0], p[0], s[0]), windows(w, k[1], dl[1], p[1], s[1])
    if is_concrete(ck, n_blocks, bh, bw) and (ck % (k[0] * k[1]) or bh * bw != n_blocks):
        raise ValueError(f"Col2Im: input {x} does not hold C*{k[0]}*{k[1]} rows and {bh}*{bw} blocks "
                         f"for output_size {(h, w)}")
    out = (*lead, c, h, w)
    if not is_concrete(h, w, bh, bw, *k, *dl, *p, *s):
        raise ValueError("Col2Im: counting its adds needs concrete sizes")
    lh, ch = _landed_and_covered(h, bh, k[0], dl[0], p[0], s[0])
    lw, cw = _landed_and_covered(w, bw, k[1], dl[1], p[1], s[1])
    adds = prod(lead) * c * (lh * lw - ch * cw)
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=adds)


@register("Meshgrid", traits=view(grad_alias=False))  # output i: a view of input i
def meshgrid(in_shapes: list[Shape], *, indexing: str = "ij") -> OpCost:
    """``torch.meshgrid(*tensors, indexing)``: one output per 1-D input, each of shape ``(n1, n2, ...)``
    (``xy`` swaps the first two); each output is a view of its input (expanded), no arithmetic."""
    sizes = []
    for s in in_shapes:
        if len(s) > 1:
            raise ValueError(f"Meshgrid takes 0-D or 1-D tensors, got shape {tuple(s)}")
        sizes.append(s[0] if s else 1)
    if indexing == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = tuple(sizes)
    n = len(in_shapes)
    return OpCost(output_shape=out, more_outputs=(out,) * (n - 1), activations=n * prod(out),
                  alias_of=tuple(range(n)))


@register("TensorSplit", traits=view(lists="split", grad_alias=False))
def tensor_split(in_shapes: list[Shape], *, indices_or_sections: Any, dim: int = 0) -> OpCost:
    """``x.tensor_split(n_or_indices, dim)``: ``n`` pieces (the first ``size % n`` one longer), or pieces
    between the indices (clamped to the size: a piece may be empty); views, no arithmetic."""
    x = one_input(in_shapes, "TensorSplit")
    d = dim_index(dim, len(x), "TensorSplit")
    size = x[d]
    if isinstance(indices_or_sections, tuple | list):
        if not is_concrete(size, *indices_or_sections):
            raise ValueError("TensorSplit: indices need a concrete size along dim")
        bounds = [min(max(i if i >= 0 else i + size, 0), size) for i in indices_or_sections]
        starts = [0, *bounds]
        ends = [*bounds, size]
        sizes = [max(e - s, 0) for s, e in zip(starts, ends, strict=True)]
    else:
        n = indices_or_sections
        if not is_concrete(size, n):
            raise ValueError("TensorSplit: sections need a concrete size along dim")
        sizes = [size // n + (1 if i < size % n else 0) for i in range(n)]
    outs = tuple((*x[:d], s, *x[d + 1:]) for s in sizes)
    return OpCost(output_shape=outs[0], more_outputs=outs[1:], activations=prod(x), alias_of=(0,) * len(outs))


#: dtype names a Cast may produce, and their bytes per element.
CAST_DTYPES = {"int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "float64": 8, "float32": 4,
               "float16": 2, "bfloat16": 2}


@register("Cast", traits=OpTraits(output_dtypes=("=dtype",), aliasing="maybe_view"))
def cast(in_shapes: list[Shape], *, dtype: str, copy: bool = True) -> OpCost:
    """``x.long()`` / ``.int()`` / ``.bool()`` / ``.to(dtype)``: a conversion into a new tensor of ``dtype``
    (``copy``), or the input itself when it already has that dtype; no arithmetic, nothing saved."""
    x = one_input(in_shapes, "Cast")
    if dtype not in CAST_DTYPES:
        raise ValueError(f"Cast: dtype {dtype!r} is not one of {', '.join(CAST_DTYPES)}")
    return OpCost(output_shape=x, activations=prod(x), alias_of=() if copy else (0,))


@register("AsStrided", traits=view(grad_alias=False))
def as_strided(in_shapes: list[Shape], *, size: Any) -> OpCost:
    """``x.as_strided(size, stride, storage_offset)``: a view of ``x``'s storage with the given sizes and
    strides (Longformer's overlapping chunks), no arithmetic; autograd saves no tensor (only the geometry)."""
    one_input(in_shapes, "AsStrided")
    out = tuple(size)
    return OpCost(output_shape=out, activations=prod(out), alias_of=(0,))
