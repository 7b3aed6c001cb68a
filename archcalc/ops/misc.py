"""Dropout, FeatureDropout, StochasticDepth, Embedding, Pad, Interpolate / Upsample, constants, in-place fills and the
``Unmodeled`` record.

Examples
--------
>>> from archcalc.ops import formula
>>> e = formula("Embedding")([(2, 1024)], num_embeddings=50257, embedding_dim=768)
>>> e.output_shape, e.params, e.macs
((2, 1024, 768), 38597376, 0)
>>> formula("Interpolate")([(1, 64, 32, 32)], scale_factor=2, mode="bilinear").output_shape
(1, 64, 64, 64)
"""

from __future__ import annotations

from typing import Any

from archcalc.ops.arith import is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, ntuple, one_input, register
from archcalc.ops.traits import OpTraits, indices, pointwise

__all__ = ["INTERPOLATION_OPS", "UNMODELED", "drops"]

#: The kind a front end gives an op it has no mapping for (listed, never dropped; its traits say ``modeled=False``).
UNMODELED = "Unmodeled"


def drops(p: Any, training: bool = True) -> bool:
    """Whether a dropout (or stochastic depth) of probability ``p`` does anything: torch returns the input
    itself when ``p == 0`` or not training (no mask, no copy).

    >>> drops(0.1), drops(0.0), drops(0.1, training=False)
    (True, False, False)
    """
    return bool(training) and not (isinstance(p, int | float) and p == 0)


@register("Dropout", traits=pointwise(training_sensitive=True, drop="element", default_p=0.5))
def dropout(in_shapes: list[Shape], *, p: Any = 0.5, training: bool = False, inplace: bool = False) -> OpCost:
    """Dropout: the identity at inference or with ``p = 0`` (no cost, its input passes through); in training
    2 operations per element (mask multiply and 1/(1-p) scale) and autograd saves a 1-byte mask per element."""
    x = one_input(in_shapes, "Dropout")
    elems = prod(x)
    if not drops(p, training):
        return OpCost(output_shape=x, activations=elems, alias_of=(0,))
    return OpCost(output_shape=x, activations=elems, elementwise_ops=2 * elems, saved_mask_elements=elems,
                  alias_of=(0,) if inplace else ())


@register("FeatureDropout", traits=pointwise(training_sensitive=True, drop="channel", default_p=0.5))
def feature_dropout(in_shapes: list[Shape], *, p: Any = 0.5, training: bool = False, inplace: bool = False) -> OpCost:
    """``F.dropout1d / 2d / 3d`` (``torch.feature_dropout``): whole channels zeroed. The identity at inference;
    in training one operation per (sample, channel) pair (its noise: a draw scaled by 1/(1-p)) and one
    multiply per element, and autograd keeps the float noise, one element per pair."""
    x = one_input(in_shapes, "FeatureDropout")
    elems = prod(x)
    if not training:
        return OpCost(output_shape=x, activations=elems, alias_of=(0,))
    pairs = prod(x[:2]) if len(x) > 1 else prod(x)
    return OpCost(output_shape=x, activations=elems, elementwise_ops=elems + pairs, saved_fp32_elements=pairs,
                  alias_of=(0,) if inplace else ())


@register("StochasticDepth", traits=OpTraits(training_sensitive=True, drop="sample", grad_alias=True))
def stochastic_depth(in_shapes: list[Shape], *, p: Any = 0.0, mode: str = "row", training: bool = False) -> OpCost:
    """torchvision's stochastic depth: the identity at inference; in training one multiply per element."""
    x = one_input(in_shapes, "StochasticDepth")
    elems = prod(x)
    if not drops(p, training):
        return OpCost(output_shape=x, activations=elems, alias_of=(0,))
    return OpCost(output_shape=x, activations=elems, elementwise_ops=elems, saves_input=False)


@register("Embedding", traits=OpTraits(differentiable=(1,), lookup=True))  # (int64 ids[, weight])
def embedding(in_shapes: list[Shape], *, num_embeddings: Any = None, embedding_dim: Any = None,
              padding_idx: Any = None) -> OpCost:
    """A table lookup ``(...) -> (..., D)``: no arithmetic; parameters ``V x D``; saves the int64 indices."""
    idx = tuple(in_shapes[0])
    params: tuple[tuple[str, Shape], ...] = ()
    if len(in_shapes) > 1:
        embedding_dim = in_shapes[1][1]
    else:
        if num_embeddings is None or embedding_dim is None:
            raise ValueError("Embedding: give num_embeddings and embedding_dim (or the weight as an input)")
        params = (("weight", (num_embeddings, embedding_dim)),)
    out = (*idx, embedding_dim)
    return OpCost(output_shape=out, param_shapes=params, activations=prod(out), saved_index_elements=prod(idx))


@register("Pad", traits=OpTraits())
def pad(in_shapes: list[Shape], *, pad: Any, mode: str = "constant", value: Any = None) -> OpCost:
    """``F.pad(x, pad)`` (pairs from the last dim backwards): a copy, no arithmetic."""
    x = one_input(in_shapes, "Pad")
    pads = tuple(pad)
    if len(pads) % 2 or len(pads) // 2 > len(x):
        raise ValueError(f"Pad: pad {pads} must hold pairs for at most {len(x)} dims")
    out = list(x)
    for i in range(len(pads) // 2):
        out[len(x) - 1 - i] = x[len(x) - 1 - i] + pads[2 * i] + pads[2 * i + 1]
    return OpCost(output_shape=tuple(out), activations=prod(out), saves_input=False)


#: Operations per output element of each interpolation mode (the weighted sum of its taps).
INTERPOLATION_OPS = {"nearest": 0, "nearest-exact": 0, "linear": 3, "bilinear": 7, "bicubic": 31, "trilinear": 15,
                     "area": 0}


@register("Interpolate", traits=OpTraits(autocast=(("cuda", "fp32"),)))
def interpolate(in_shapes: list[Shape], *, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: Any = None, recompute_scale_factor: Any = None, antialias: bool = False) -> OpCost:
    """``F.interpolate`` / ``nn.Upsample``: output ``floor(L * scale)`` or ``size``; operations per output
    element: nearest 0, linear 3, bilinear 7, trilinear 15, bicubic 31 (the taps' multiply-adds)."""
    x = one_input(in_shapes, "Interpolate")
    n = len(x) - 2
    if n < 1:
        raise ValueError(f"Interpolate expects (N, C, *spatial), got shape {x}")
    if mode not in INTERPOLATION_OPS:
        raise ValueError(f"Interpolate: mode {mode!r} is not one of {', '.join(INTERPOLATION_OPS)}")
    if (size is None) == (scale_factor is None):
        raise ValueError("Interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out_sp = ntuple(size, n, "Interpolate size")
    else:
        scales = ntuple(scale_factor, n, "Interpolate scale_factor")
        out_sp = tuple(s * f if isinstance(f, int) else _floor_scale(s, f) for s, f in zip(x[2:], scales, strict=True))
    out = (*x[:2], *out_sp)
    elems = prod(out)
    per = INTERPOLATION_OPS[mode]
    if mode == "area":  # adaptive average pooling under another name
        from archcalc.ops.pooling import adaptive_window_total

        per_total = prod(x[:2]) * prod(adaptive_window_total(i, o) for i, o in zip(x[2:], out_sp, strict=True))
        return OpCost(output_shape=out, activations=elems, elementwise_ops=per_total, saves_input=False)
    return OpCost(output_shape=out, activations=elems, elementwise_ops=per * elems, saves_input=False)


def _floor_scale(size: Any, factor: float) -> Any:
    if not is_concrete(size):
        raise ValueError("Interpolate: a fractional scale_factor needs a concrete input size")
    import math

    return math.floor(size * factor)


@register("GridSample", traits=OpTraits())
def grid_sample(in_shapes: list[Shape], *, mode: str = "bilinear", **_: Any) -> OpCost:
    """``F.grid_sample(x, grid, mode)`` (inputs ``x (N, C, *in)``, ``grid (N, *out, n)``): ``(N, C, *out)``;
    per grid point 2 operations per coordinate (unnormalise: a multiply-add), per output element the taps'
    operations of ``mode`` as in Interpolate (bilinear 7, trilinear 15, bicubic 31, nearest 0); autograd
    keeps ``x`` and ``grid``."""
    x, grid = tuple(in_shapes[0]), tuple(in_shapes[1])
    if len(grid) != len(x) or grid[-1] != len(x) - 2:
        raise ValueError(f"GridSample: grid {grid} does not fit input {x} (expected (N, *out, {len(x) - 2}))")
    ops_mode = {"bilinear": "bilinear" if len(x) == 4 else "trilinear"}.get(mode, mode)
    if ops_mode not in INTERPOLATION_OPS:
        raise ValueError(f"GridSample: mode {mode!r} is not one of bilinear, nearest, bicubic")
    out = (x[0], x[1], *grid[1:-1])
    ops = prod(out) * INTERPOLATION_OPS[ops_mode] + 2 * prod(grid)
    return OpCost(output_shape=out, activations=prod(out), elementwise_ops=ops, saves_input=True)


@register("Constant", traits=OpTraits(output_dtypes=("=dtype",), differentiable=(), constant=True))
def constant(in_shapes: list[Shape], *, output_shape: Any, dtype: str = "float32") -> OpCost:
    """A tensor created inside the forward pass (``torch.zeros``, ``arange``, a mask): no arithmetic."""
    if in_shapes:
        raise ValueError("Constant takes no inputs")
    out = tuple(output_shape)
    return OpCost(output_shape=out, activations=prod(out))


@register("Fill", traits=pointwise())  # its gradient: zeros
def fill(in_shapes: list[Shape], *, inplace: bool = True) -> OpCost:
    """``x.zero_()`` / ``x.fill_(v)``: writes its input in place, no arithmetic (a write is not an operation)."""
    x = one_input(in_shapes, "Fill")
    return OpCost(output_shape=x, activations=prod(x), alias_of=(0,) if inplace else ())


@register("NonZero", traits=indices(value_dependent_shape=True))
def nonzero(in_shapes: list[Shape], *, output_shapes: tuple = (), traced_input: tuple = ()) -> OpCost:
    """``nonzero`` / ``argwhere`` / one-argument ``torch.where``: one comparison with zero per input element;
    the number of rows found depends on the values, so the output shapes are the traced ones (valid only at
    the traced input, like every traced graph)."""
    x = one_input(in_shapes, "NonZero")
    if traced_input and is_concrete(*x) and tuple(x) != tuple(traced_input):
        raise ValueError(f"NonZero: traced at input {tuple(traced_input)}, asked for {tuple(x)}; trace again")
    outs = tuple(tuple(s) for s in output_shapes) or ((0, len(x)),)
    return OpCost(output_shape=outs[0], more_outputs=outs[1:], activations=sum((prod(s) for s in outs), 0),
                  elementwise_ops=prod(x))


@register("Histc", traits=OpTraits(differentiable=()))
def histc(in_shapes: list[Shape], *, bins: Any = 100) -> OpCost:
    """``torch.histc(x, bins, min, max)``: per input element one bucket computation and one add into its bin
    (2 operations); the output is the ``bins`` counts (a mixture of experts' tokens per expert)."""
    x = one_input(in_shapes, "Histc")
    return OpCost(output_shape=(bins,), activations=bins, elementwise_ops=2 * prod(x))


@register("CustomBackward", traits=OpTraits(differentiable=(), aliasing="view"))
def custom_backward(in_shapes: list[Shape], *, function: str, backward_macs: Any) -> OpCost:
    """The backward of a custom ``torch.autograd.Function`` (``function``), traced on its own
    (:mod:`archcalc.frontends.torch_custom`): ``backward_macs`` MACs in the backward pass (recomputed forwards
    and their gradients included), nothing in the forward (its forward's ops are their own nodes). It takes
    the Function's output and passes it on as a view (no copy, nothing saved); without an input its one output
    is empty and the node only carries the count."""
    if len(in_shapes) > 1:
        raise ValueError("CustomBackward takes the Function's output, or nothing")
    if not in_shapes:
        return OpCost(output_shape=(0,), backward_weight_macs=backward_macs)
    return OpCost(output_shape=tuple(in_shapes[0]), alias_of=(0,), backward_weight_macs=backward_macs)


@register(UNMODELED, traits=OpTraits(modeled=False))
def unmodeled(in_shapes: list[Shape], *, op: str, traced_inputs: tuple = (), output_shapes: tuple = (),
              backward: bool = False) -> OpCost:
    """An op archcalc has no formula for (listed, never dropped): its traced output shapes, every count 0.

    The shapes are known only for the traced input shapes; other inputs raise ``ValueError``. ``backward``:
    it runs only in the backward pass (a custom autograd Function's own backward), so only a training count
    misses it.
    """
    if tuple(tuple(s) for s in in_shapes) != tuple(tuple(s) for s in traced_inputs):
        raise ValueError(f"{op}: archcalc has no formula for it and traced it only for inputs {list(traced_inputs)}; "
                         "trace the model again at this input shape")
    outs = tuple(tuple(s) for s in output_shapes) or ((),)
    return OpCost(output_shape=outs[0], more_outputs=outs[1:], activations=sum((prod(s) for s in outs), 0))


