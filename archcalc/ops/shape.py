"""Zero-cost shape ops and their aliasing: View / Reshape / Flatten / Unflatten / Permute / Transpose /
Squeeze / Unsqueeze / Expand / Contiguous / GetItem (views of their input), Chunk / Split / Unbind (several
views), Concat / Stack (copies), Identity.

No arithmetic; a view shares its input's storage (``alias_of``), a copy allocates. ``Reshape`` and
``Contiguous`` copy when their input is not contiguous; the torch front end records what torch did
(``copy=True``), a zoo node is a view unless it says so.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("View")([(2, 197, 768)], shape=(2, 197, 12, 64)).output_shape
(2, 197, 12, 64)
>>> formula("Chunk")([(2, 10, 8)], chunks=3, dim=1).output_shapes
((2, 4, 8), (2, 4, 8), (2, 2, 8))
>>> formula("GetItem")([(2, 197, 768)], index=(slice(None), 0)).output_shape
(2, 768)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import ceildiv, floordiv, is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, one_input, register
from archcalc.ops.traits import OpTraits
from archcalc.ops.traits import view as view_traits

__all__ = ["view_shape"]

#: A view or a copy, as the node's ``copy`` option says (the tracer records what torch did).
_MAYBE_VIEW = view_traits(aliasing="maybe_view", reshapes=True)


def _transposed(hp: Any, order: list[int]) -> list[int]:
    a, b = hp.get("dim0", 0) % len(order), hp.get("dim1", 1) % len(order)
    order = list(order)
    order[a], order[b] = order[b], order[a]
    return order


def _permuted(hp: Any, order: list[int]) -> list[int]:
    return [order[d % len(order)] for d in hp["dims"]]


def _dim(d: int, rank: int, kind: str) -> int:
    if not -rank <= d < max(rank, 1):
        raise ValueError(f"{kind}: dim {d} is out of range for rank {rank}")
    return d % max(rank, 1)


def _view(shape: Shape, out: Shape, copy: bool = False) -> OpCost:
    return OpCost(output_shape=tuple(out), activations=prod(out), alias_of=() if copy else (0,))


def view_shape(shape: Shape, target: Any, kind: str = "View") -> Shape:
    """``target`` with one ``-1`` resolved; the element counts must agree."""
    target = tuple(target)
    total = prod(shape)
    if sum(1 for t in target if is_concrete(t) and t == -1) > 1:
        raise ValueError(f"{kind}: only one dimension can be -1, got {target}")
    if any(is_concrete(t) and t == -1 for t in target):
        known = prod(t for t in target if not (is_concrete(t) and t == -1))
        target = tuple(floordiv(total, known) if is_concrete(t) and t == -1 else t for t in target)
    if is_concrete(total, prod(target)) and total != prod(target):
        raise ValueError(f"{kind}: cannot view shape {tuple(shape)} ({total} elements) as {target}")
    return target


@register("View", traits=_MAYBE_VIEW)
def view(in_shapes: list[Shape], *, shape: Any, copy: bool = False) -> OpCost:
    """``x.view(shape)`` (one ``-1`` allowed): a view."""
    return _view(one_input(in_shapes, "View"), view_shape(one_input(in_shapes, "View"), shape), copy)


@register("Reshape", traits=_MAYBE_VIEW)
def reshape(in_shapes: list[Shape], *, shape: Any, copy: bool = False) -> OpCost:
    """``x.reshape(shape)``: a view, or a copy when torch had to copy (``copy=True``)."""
    x = one_input(in_shapes, "Reshape")
    return _view(x, view_shape(x, shape, "Reshape"), copy)


@register("Flatten", traits=_MAYBE_VIEW)
def flatten(in_shapes: list[Shape], *, start_dim: int = 1, end_dim: int = -1, copy: bool = False) -> OpCost:
    """``torch.flatten(x, start_dim, end_dim)``: dims ``start..end`` merged; a view."""
    x = one_input(in_shapes, "Flatten")
    if not x:
        return _view(x, (1,), copy)
    s, e = _dim(start_dim, len(x), "Flatten"), _dim(end_dim, len(x), "Flatten")
    if s > e:
        raise ValueError(f"Flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return _view(x, (*x[:s], prod(x[s:e + 1]), *x[e + 1:]), copy)


@register("Unflatten", traits=view_traits(reshapes=True))
def unflatten(in_shapes: list[Shape], *, dim: int, sizes: Any) -> OpCost:
    """``x.unflatten(dim, sizes)``: a view."""
    x = one_input(in_shapes, "Unflatten")
    d = _dim(dim, len(x), "Unflatten")
    inner = view_shape((x[d],), sizes, "Unflatten")
    return _view(x, (*x[:d], *inner, *x[d + 1:]))


@register("Permute", traits=view_traits(dim_order=_permuted))
def permute(in_shapes: list[Shape], *, dims: Any) -> OpCost:
    """``x.permute(dims)``: a view."""
    x = one_input(in_shapes, "Permute")
    order = [_dim(d, len(x), "Permute") for d in dims]
    if sorted(order) != list(range(len(x))):
        raise ValueError(f"Permute: dims {tuple(dims)} is not a permutation of rank {len(x)}")
    return _view(x, tuple(x[d] for d in order))


@register("Transpose", traits=view_traits(dim_order=_transposed))
def transpose(in_shapes: list[Shape], *, dim0: int = 0, dim1: int = 1) -> OpCost:
    """``x.transpose(dim0, dim1)`` (``x.t()`` / ``x.T`` for rank <= 2): a view."""
    x = one_input(in_shapes, "Transpose")
    if len(x) < 2:
        return _view(x, x)
    a, b = _dim(dim0, len(x), "Transpose"), _dim(dim1, len(x), "Transpose")
    out = list(x)
    out[a], out[b] = out[b], out[a]
    return _view(x, tuple(out))


@register("Squeeze", traits=view_traits(reshapes=True))
def squeeze(in_shapes: list[Shape], *, dim: Any = None) -> OpCost:
    """``x.squeeze(dim)``: drops size-1 dims (all, or those in ``dim``); a view."""
    x = one_input(in_shapes, "Squeeze")
    dims = set(range(len(x))) if dim is None else {_dim(d, len(x), "Squeeze") for d in (dim if isinstance(dim, tuple | list) else (dim,))}
    return _view(x, tuple(s for i, s in enumerate(x) if not (i in dims and is_concrete(s) and s == 1)))


@register("Unsqueeze", traits=view_traits(reshapes=True))
def unsqueeze(in_shapes: list[Shape], *, dim: int) -> OpCost:
    """``x.unsqueeze(dim)``: a size-1 dim inserted; a view."""
    x = one_input(in_shapes, "Unsqueeze")
    d = _dim(dim, len(x) + 1, "Unsqueeze")
    return _view(x, (*x[:d], 1, *x[d:]))


@register("Expand", traits=view_traits(grad_alias=False))  # its gradient: a sum
def expand(in_shapes: list[Shape], *, shape: Any) -> OpCost:
    """``x.expand(shape)`` (-1 keeps a size): a view with stride 0, no new memory."""
    x = one_input(in_shapes, "Expand")
    target = tuple(shape)
    lead = len(target) - len(x)
    if lead < 0:
        raise ValueError(f"Expand: cannot expand shape {x} to fewer dims {target}")
    out = tuple(x[i - lead] if (is_concrete(t) and t == -1) else t for i, t in enumerate(target))
    for i, s in enumerate(x):
        t = out[i + lead]
        if is_concrete(s, t) and s != 1 and s != t:
            raise ValueError(f"Expand: size {s} at dim {i} cannot expand to {t}")
    return _view(x, out)


@register("Contiguous", traits=_MAYBE_VIEW)
def contiguous(in_shapes: list[Shape], *, copy: bool = True) -> OpCost:
    """``x.contiguous()``: a copy when the input is not contiguous (``copy``), else the input itself."""
    x = one_input(in_shapes, "Contiguous")
    return _view(x, x, copy)


@register("Roll", traits=view_traits(aliasing="maybe_view", grad_alias=False))
def roll(in_shapes: list[Shape], *, copy: bool = True, **_: Any) -> OpCost:
    """``torch.roll`` / ``torch.flip``: the elements moved into a new tensor, no arithmetic."""
    x = one_input(in_shapes, "Roll")
    return _view(x, x, copy)


@register("Identity", traits=view_traits())
def identity(in_shapes: list[Shape]) -> OpCost:
    """``nn.Identity``: its input, no cost."""
    x = one_input(in_shapes, "Identity")
    return _view(x, x)


def _index_shape(x: Shape, index: Any) -> Shape:
    items = list(index) if isinstance(index, tuple) else [index]
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(x) - n_real)
    out: list[Any] = []
    axis = 0
    for it in items:
        if it is None:
            out.append(1)
            continue
        if axis >= len(x):
            raise ValueError(f"GetItem: too many indices {index!r} for shape {x}")
        size = x[axis]
        if isinstance(it, int):
            if is_concrete(size) and not -size <= it < size:
                raise ValueError(f"GetItem: index {it} is out of range for size {size}")
        elif isinstance(it, slice):
            if it.start is None and it.stop is None and it.step in (None, 1):
                out.append(size)
            else:
                if not is_concrete(size):
                    raise ValueError("GetItem: a bounded slice of a symbolic dimension is not supported")
                out.append(len(range(*it.indices(size))))
        else:
            raise ValueError(f"GetItem: index {it!r} is not an int, slice, None or Ellipsis")
        axis += 1
    return (*out, *x[axis:])


@register("GetItem", traits=view_traits(aliasing="maybe_view", grad_alias=False))
def getitem(in_shapes: list[Shape], *, index: Any = None, output_shape: Any = None, copy: bool = False) -> OpCost:
    """``x[index]`` with ints, slices, None and Ellipsis: a view. Advanced (tensor) indexing gathers into a
    new tensor whose shape the front end records (``output_shape``)."""
    x = tuple(in_shapes[0])
    if output_shape is not None:
        return _view(x, tuple(output_shape), copy=True)
    return _view(x, _index_shape(x, index), copy)


def _split_sizes(size: Any, chunks: Any) -> list[Any]:
    step = ceildiv(size, chunks)
    if not is_concrete(size, chunks):
        return [step] * chunks if is_concrete(chunks) else [step]
    sizes, left = [], size
    while left > 0:
        sizes.append(min(step, left))
        left -= step
    return sizes


@register("Chunk", traits=view_traits(lists="split", grad_alias=False))
def chunk(in_shapes: list[Shape], *, chunks: Any, dim: int = 0) -> OpCost:
    """``x.chunk(chunks, dim)``: views of ``ceil(size / chunks)`` along ``dim`` (the last may be shorter)."""
    x = one_input(in_shapes, "Chunk")
    d = _dim(dim, len(x), "Chunk")
    outs = tuple((*x[:d], s, *x[d + 1:]) for s in _split_sizes(x[d], chunks))
    return OpCost(output_shape=outs[0], more_outputs=outs[1:], activations=prod(x), alias_of=(0,) * len(outs))


@register("Split", traits=view_traits(lists="split", grad_alias=False))
def split(in_shapes: list[Shape], *, split_size_or_sections: Any, dim: int = 0) -> OpCost:
    """``x.split(size_or_sections, dim)``: views along ``dim``."""
    x = one_input(in_shapes, "Split")
    d = _dim(dim, len(x), "Split")
    if isinstance(split_size_or_sections, tuple | list):
        sizes = list(split_size_or_sections)
        if is_concrete(x[d], *sizes) and sum(sizes) != x[d]:
            raise ValueError(f"Split: sections {sizes} do not add up to size {x[d]}")
    else:
        step = split_size_or_sections
        sizes = _split_sizes(x[d], ceildiv(x[d], step)) if is_concrete(x[d], step) else [step]
    outs = tuple((*x[:d], s, *x[d + 1:]) for s in sizes)
    return OpCost(output_shape=outs[0], more_outputs=outs[1:], activations=prod(x), alias_of=(0,) * len(outs))


@register("Unbind", traits=view_traits(lists="split", grad_alias=False))
def unbind(in_shapes: list[Shape], *, dim: int = 0) -> OpCost:
    """``x.unbind(dim)``: one view per index along ``dim``."""
    x = one_input(in_shapes, "Unbind")
    d = _dim(dim, len(x), "Unbind")
    if not is_concrete(x[d]):
        raise ValueError("Unbind: needs a concrete size along dim")
    out = (*x[:d], *x[d + 1:])
    return OpCost(output_shape=out, more_outputs=(out,) * (x[d] - 1), activations=prod(x), alias_of=(0,) * x[d])


@register("Concat", traits=OpTraits(lists="join", grad_alias=True))
def concat(in_shapes: list[Shape], *, dim: int = 1) -> OpCost:
    """``torch.cat(tensors, dim)`` (default dim 1: channels): a copy, no arithmetic. As in torch, a 1-D empty
    input (``torch.tensor([])``, an empty cache) is skipped whatever the others' rank."""
    if not in_shapes:
        raise ValueError("Concat needs at least one input")
    kept = [s for s in in_shapes if not (len(s) == 1 and is_concrete(s[0]) and s[0] == 0)]
    in_shapes = kept or list(in_shapes[:1])
    first = tuple(in_shapes[0])
    d = _dim(dim, len(first), "Concat")
    for s in in_shapes[1:]:
        if len(s) != len(first):
            raise ValueError(f"Concat: inputs differ in rank: {[tuple(x) for x in in_shapes]}")
        rest, first_rest = (*s[:d], *s[d + 1:]), (*first[:d], *first[d + 1:])
        if is_concrete(*rest, *first_rest) and tuple(rest) != tuple(first_rest):
            raise ValueError(f"Concat: inputs differ outside dim {dim}: {[tuple(x) for x in in_shapes]}")
    out = (*first[:d], sum((s[d] for s in in_shapes[1:]), first[d]), *first[d + 1:])
    return OpCost(output_shape=out, activations=prod(out))


@register("Stack", traits=OpTraits(lists="join", grad_alias=True))  # its backward: unbind (views)
def stack(in_shapes: list[Shape], *, dim: int = 0) -> OpCost:
    """``torch.stack(tensors, dim)``: a copy with a new dim of size ``len(tensors)``."""
    first = tuple(in_shapes[0])
    for s in in_shapes[1:]:
        if is_concrete(*s, *first) and tuple(s) != first:
            raise ValueError(f"Stack: input shapes differ: {[tuple(x) for x in in_shapes]}")
    d = _dim(dim, len(first) + 1, "Stack")
    out = (*first[:d], len(in_shapes), *first[d:])
    return OpCost(output_shape=out, activations=prod(out))


@register("ExpandAs", traits=OpTraits())
def expand_as(in_shapes: list[Shape]) -> OpCost:
    """``x.expand_as(other)``: ``x`` broadcast to ``other``'s shape; no arithmetic.

    torch makes a stride-0 view; here the result is a new value (not an alias of ``x``) so that expanding a
    parameter (ViT's class token) to the batch does not give the parameter itself a batch dimension: the
    allocation it is charged (``other``'s elements) is the copy the following ``cat`` makes anyway.

    >>> expand_as([(1, 1, 768), (8, 1, 768)]).output_shape
    (8, 1, 768)
    """
    if len(in_shapes) != 2:
        raise ValueError(f"ExpandAs takes x and other, got {len(in_shapes)} inputs")
    x, other = tuple(in_shapes[0]), tuple(in_shapes[1])
    expand([x], shape=other)  # the same checks as x.expand(other.shape)
    return _view(x, other, copy=True)
