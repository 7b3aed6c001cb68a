"""Pooling: MaxPool1d/2d/3d (``return_indices``), AvgPool1d/2d/3d, AdaptiveAvgPool1d/2d/3d,
AdaptiveMaxPool1d/2d/3d.

Operations: max pooling ``window - 1`` comparisons per output element; average pooling ``window`` per output
element (``window - 1`` adds and one division); adaptive average pooling the sum of its window sizes (the
input size when the windows tile the input). Max pooling saves its input and int64 argmax indices.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("MaxPool2d")([(1, 64, 112, 112)], kernel_size=3, stride=2, padding=1).output_shape
(1, 64, 56, 56)
>>> formula("AdaptiveAvgPool1d")([(2, 8, 10)], output_size=3).elementwise_ops  # windows 4, 4, 4 over 10
192
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import ceildiv, floordiv, is_concrete, prod
from archcalc.ops.conv import window_out
from archcalc.ops.registry import OpCost, Shape, ntuple, one_input, register
from archcalc.ops.traits import SAME, OpTraits

__all__ = ["max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_window_total"]


def _pool_shape(shape: Shape, kind: str, n: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                ceil_mode: bool) -> tuple[Shape, Any]:
    ks = ntuple(kernel_size, n, f"{kind} kernel_size")
    ss = ntuple(kernel_size if stride is None or stride == () or stride == [] else stride, n, f"{kind} stride")
    ps, ds = ntuple(padding, n, f"{kind} padding"), ntuple(dilation, n, f"{kind} dilation")
    for p, k in zip(ps, ks, strict=True):
        if is_concrete(p, k) and 2 * p > k:
            raise ValueError(f"{kind}: padding {padding} exceeds half the kernel {kernel_size}; use padding <= kernel // 2")
    out = tuple(window_out(size, k, s, p, d, ceil_mode) for size, k, s, p, d in zip(shape[-n:], ks, ss, ps, ds, strict=True))
    return (*shape[:-n], *out), prod(ks)


def max_pool(in_shapes: list[Shape], *, n: int, kernel_size: Any, stride: Any = None, padding: Any = 0,
             dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> OpCost:
    """Max pooling: ``window - 1`` comparisons per output element; saves input and argmax indices."""
    kind = f"MaxPool{n}d"
    out, window = _pool_shape(one_input(in_shapes, kind, (n + 1, n + 2)), kind, n, kernel_size, stride, padding,
                              dilation, ceil_mode)
    elems = prod(out)
    return OpCost(output_shape=out, more_outputs=(out,) if return_indices else (),
                  activations=elems * (2 if return_indices else 1), elementwise_ops=elems * (window - 1),
                  saves_input=True, saved_index_elements=elems)


def avg_pool(in_shapes: list[Shape], *, n: int, kernel_size: Any, stride: Any = None, padding: Any = 0,
             ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Any = None) -> OpCost:
    """Average pooling: ``window`` operations per output element (adds and one division)."""
    kind = f"AvgPool{n}d"
    out, window = _pool_shape(one_input(in_shapes, kind, (n + 1, n + 2)), kind, n, kernel_size, stride, padding, 1,
                              ceil_mode)
    elems = prod(out)
    return OpCost(output_shape=out, activations=elems, elementwise_ops=elems * window, saves_input=True)


def adaptive_window_total(n_in: Any, n_out: Any) -> Any:
    """Sum of the adaptive-pooling window lengths along one axis (torch: [floor(i*n/o), ceil((i+1)*n/o)))."""
    if is_concrete(n_out):
        # Exact for an int or a symbolic n_in alike (sympy floor / ceiling terms when symbolic).
        return sum((ceildiv((i + 1) * n_in, n_out) - floordiv(i * n_in, n_out) for i in range(n_out)), 0)
    return n_in  # symbolic output size: exact when n_out divides n_in (windows tile the input)


def _adaptive(in_shapes: list[Shape], n: int, output_size: Any, kind: str) -> tuple[Shape, Any]:
    """(output shape, total of the windows' input elements) of an ``n``-d adaptive pooling."""
    shape = one_input(in_shapes, kind, (n + 1, n + 2))
    sizes = ntuple(output_size, n, f"{kind} output_size")
    out_sp = tuple(size if o is None else o for size, o in zip(shape[-n:], sizes, strict=True))
    windows = prod(shape[:-n]) * prod(adaptive_window_total(i, o) for i, o in zip(shape[-n:], out_sp, strict=True))
    return (*shape[:-n], *out_sp), windows


def adaptive_avg_pool(in_shapes: list[Shape], *, n: int, output_size: Any) -> OpCost:
    """Adaptive average pooling: operations = sum of window sizes (= input size when tiling)."""
    out, ops = _adaptive(in_shapes, n, output_size, f"AdaptiveAvgPool{n}d")
    # torch computes a 2-d 1x1 output as input.mean((-2, -1)), whose backward keeps no tensor.
    global_mean = n == 2 and is_concrete(*out[-n:]) and all(o == 1 for o in out[-n:])
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=ops, saves_input=not global_mean)


def adaptive_max_pool(in_shapes: list[Shape], *, n: int, output_size: Any, return_indices: bool = False) -> OpCost:
    """Adaptive max pooling: ``window - 1`` comparisons per output element; saves int64 indices."""
    out, windows = _adaptive(in_shapes, n, output_size, f"AdaptiveMaxPool{n}d")
    elems = prod(out)
    return OpCost(output_shape=out, more_outputs=(out,) if return_indices else (),
                  activations=elems * (2 if return_indices else 1), elementwise_ops=windows - elems,
                  saves_input=False, saved_index_elements=elems)


def _traits(kind: str, n: int) -> OpTraits:
    """Max pools may return int64 indices; autocast runs the 3-d pools in fp32 on the CPU (torch's list)."""
    fp32 = (("cpu", "fp32"),) if n == 3 else ()
    return OpTraits(output_dtypes=(SAME, "int64") if "Max" in kind else (SAME,), autocast=fp32)


def _register(n: int) -> None:
    for kind, fn in ((f"MaxPool{n}d", max_pool), (f"AvgPool{n}d", avg_pool),
                     (f"AdaptiveAvgPool{n}d", adaptive_avg_pool), (f"AdaptiveMaxPool{n}d", adaptive_max_pool)):
        def bound(in_shapes: list[Shape], _fn: Any = fn, **hp: Any) -> OpCost:
            return _fn(in_shapes, n=n, **hp)

        bound.__doc__ = f"{kind}: {fn.__doc__}"
        register(kind, traits=_traits(kind, n))(bound)


for _n in (1, 2, 3):
    _register(_n)
