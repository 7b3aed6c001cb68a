"""The formula registry: one shape-only function per layer kind, written once as plain arithmetic.

Each formula takes the per-sample input shape(s), the batch size and the layer's hyper-parameters and
returns a :class:`LayerCost`. Only ``+ - * //`` and the helpers of :mod:`archcalc.arith` are used, so the
same function evaluates to exact ``int`` values or, given sympy symbols, to closed forms.

What is counted (the conventions, also in docs/archcalc.md):

- ``macs``: multiply-accumulates of the weights of Conv2d and Linear layers, one per multiply-add, for the
  whole batch. Bias additions are *not* MACs; they are counted in ``elementwise_ops``.
- ``elementwise_ops``: every other arithmetic operation, one per operation: bias adds (1 per output element),
  BatchNorm at inference (2 per element: the folded scale and shift), ReLU (1 comparison per element),
  max-pooling (``k*k - 1`` comparisons per output element), average pooling (``k*k`` per output element:
  ``k*k - 1`` adds and one division), adaptive average pooling (window size per output element, which is
  the input size when the windows tile the input), residual Add (1 per element). Dropout, Flatten and
  channel Concat do no arithmetic at inference.
- ``activations``: elements of the layer's output for the whole batch (an in-place layer's output is counted
  too, although it allocates nothing: see ``inplace``).
- ``backward_input_macs`` / ``backward_weight_macs``: MACs of the gradient with respect to the layer's input
  and to its weights (Conv2d and Linear: each equals the forward MACs).
- ``saves_input`` / ``saves_output`` and the ``saved_*`` extras: what autograd keeps for the backward pass,
  used by the training-memory estimate (tensors shared between layers are counted once by the evaluator).

Examples
--------
>>> cost = REGISTRY["Conv2d"]([(3, 224, 224)], 1, out_channels=64, kernel_size=3, padding=1)
>>> cost.output_shape, cost.params, cost.macs
((64, 224, 224), 1792, 86704128)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcalc.arith import ceildiv, floordiv, is_concrete, prod

__all__ = ["LayerCost", "REGISTRY", "register", "formula", "pair"]

Shape = tuple[Any, ...]


@dataclass(frozen=True)
class LayerCost:
    """Exact costs of one layer for a whole batch (``params`` is per model, not per sample).

    Attributes
    ----------
    output_shape : tuple
        Per-sample output shape, ``(C, H, W)`` or ``(F,)``.
    params : int or sympy.Expr
        Trainable parameters (what ``sum(p.numel() for p in module.parameters())`` counts; no buffers).
    macs : int or sympy.Expr
        Forward multiply-accumulates of weights (Conv2d, Linear), whole batch.
    activations : int or sympy.Expr
        Output elements, whole batch.
    elementwise_ops : int or sympy.Expr
        Forward operations that are not weight MACs (bias, BN, ReLU, pooling, Add), whole batch.
    backward_input_macs, backward_weight_macs : int or sympy.Expr
        MACs of the input gradient and of the weight gradient, whole batch.
    saves_input, saves_output : bool
        Whether autograd saves the layer's input / output tensor for the backward pass.
    saved_fp32_elements : int or sympy.Expr
        Extra float32 elements saved (BatchNorm's per-channel mean and inverse std).
    saved_index_elements : int or sympy.Expr
        int64 elements saved (max-pooling's argmax indices).
    saved_mask_elements : int or sympy.Expr
        bool (1-byte) elements saved (dropout's mask).
    inplace : bool
        The output overwrites the input (no new memory).
    alias : bool
        The output is a view of the input (Flatten): same storage, no new memory.
    """

    output_shape: Shape
    params: Any = 0
    macs: Any = 0
    activations: Any = 0
    elementwise_ops: Any = 0
    backward_input_macs: Any = 0
    backward_weight_macs: Any = 0
    saves_input: bool = False
    saves_output: bool = False
    saved_fp32_elements: Any = 0
    saved_index_elements: Any = 0
    saved_mask_elements: Any = 0
    inplace: bool = False
    alias: bool = False


Formula = Callable[..., LayerCost]
REGISTRY: dict[str, Formula] = {}


def register(kind: str) -> Callable[[Formula], Formula]:
    """Decorator adding a formula under ``kind``; registering a kind twice raises ``ValueError``."""

    def deco(fn: Formula) -> Formula:
        if kind in REGISTRY:
            raise ValueError(f"formula for layer kind {kind!r} is already registered; choose another name")
        REGISTRY[kind] = fn
        return fn

    return deco


def formula(kind: str) -> Formula:
    """The registered formula for ``kind``; unknown kinds raise ``ValueError`` listing the known ones."""
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValueError(f"layer kind: got {kind!r}; known kinds are {', '.join(sorted(REGISTRY))}") from None


def pair(value: Any) -> tuple[Any, Any]:
    """``3 -> (3, 3)``; a pair is returned as a tuple."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"expected one value or a pair, got {value!r}")
        return (value[0], value[1])
    return (value, value)


def _one(in_shapes: list[Shape], kind: str, rank: int | None = 3) -> Shape:
    if len(in_shapes) != 1:
        raise ValueError(f"{kind} takes one input, got {len(in_shapes)}")
    shape = tuple(in_shapes[0])
    if rank is not None and len(shape) != rank:
        raise ValueError(f"{kind} expects a per-sample input of rank {rank} (C, H, W), got shape {shape}")
    return shape


def _window_out(size: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool) -> Any:
    """Output length of a sliding window (torch's rule, including ceil_mode's last-window check)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return floordiv(span, stride) + 1
    out = ceildiv(span, stride) + 1
    # torch drops a last window that would start in the right padding.
    if is_concrete(out, stride, size, padding) and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _same_padding(kernel: Any, dilation: Any) -> tuple[Any, Any]:
    """(left, right) padding of torch's padding='same' at stride 1: total d*(k-1), extra on the right."""
    total = dilation * (kernel - 1)
    left = floordiv(total, 2)
    return left, total - left


@register("Conv2d")
def conv2d(
    in_shapes: list[Shape],
    batch: Any,
    *,
    out_channels: Any,
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    bias: bool = True,
) -> LayerCost:
    """2-D convolution: ``out = floor((H + 2p - d(k-1) - 1) / s) + 1``; MACs = out elements * Cin/g * kh * kw."""
    c_in, h, w = _one(in_shapes, "Conv2d")
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    if is_concrete(c_in, out_channels, groups) and (c_in % groups or out_channels % groups):
        raise ValueError(
            f"Conv2d: groups {groups} must divide in_channels {c_in} and out_channels {out_channels}; change groups"
        )
    if padding == "same" and is_concrete(sh, sw) and (sh, sw) != (1, 1):
        raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride {stride}; give a numeric padding")
    if padding == "same":
        ph_l, ph_r = _same_padding(kh, dh)
        pw_l, pw_r = _same_padding(kw, dw)
        h_out = h + ph_l + ph_r - dh * (kh - 1)
        w_out = w + pw_l + pw_r - dw * (kw - 1)
    else:
        if padding == "valid":
            padding = 0
        ph, pw = pair(padding)
        h_out = _window_out(h, kh, sh, ph, dh, False)
        w_out = _window_out(w, kw, sw, pw, dw, False)
    out_elems = batch * out_channels * h_out * w_out
    per_output = floordiv(c_in, groups) * kh * kw
    weights = out_channels * per_output
    macs = out_elems * per_output
    return LayerCost(
        output_shape=(out_channels, h_out, w_out),
        params=weights + (out_channels if bias else 0),
        macs=macs,
        activations=out_elems,
        elementwise_ops=out_elems if bias else 0,
        backward_input_macs=macs,
        backward_weight_macs=macs,
        saves_input=True,
    )


@register("Linear")
def linear(in_shapes: list[Shape], batch: Any, *, out_features: Any, bias: bool = True) -> LayerCost:
    """Fully connected layer on a flat input ``(F,)``: MACs = batch * in * out."""
    (f_in,) = _one(in_shapes, "Linear", rank=1)
    macs = batch * f_in * out_features
    return LayerCost(
        output_shape=(out_features,),
        params=f_in * out_features + (out_features if bias else 0),
        macs=macs,
        activations=batch * out_features,
        elementwise_ops=batch * out_features if bias else 0,
        backward_input_macs=macs,
        backward_weight_macs=macs,
        saves_input=True,
    )


def _pool_shape(shape: Shape, kind: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool):
    c, h, w = shape
    kh, kw = pair(kernel_size)
    sh, sw = pair(kernel_size if stride is None else stride)
    ph, pw = pair(padding)
    dh, dw = pair(dilation)
    if is_concrete(ph, pw, kh, kw) and (2 * ph > kh or 2 * pw > kw):
        raise ValueError(f"{kind}: padding {padding} exceeds half the kernel {kernel_size}; use padding <= kernel // 2")
    return (c, _window_out(h, kh, sh, ph, dh, ceil_mode), _window_out(w, kw, sw, pw, dw, ceil_mode)), kh * kw


@register("MaxPool2d")
def maxpool2d(
    in_shapes: list[Shape],
    batch: Any,
    *,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> LayerCost:
    """Max-pooling: ``k*k - 1`` comparisons per output element; saves its input and int64 argmax indices."""
    out_shape, window = _pool_shape(_one(in_shapes, "MaxPool2d"), "MaxPool2d", kernel_size, stride, padding, dilation, ceil_mode)
    out_elems = batch * prod(out_shape)
    return LayerCost(
        output_shape=out_shape,
        activations=out_elems,
        elementwise_ops=out_elems * (window - 1),
        saves_input=True,
        saved_index_elements=out_elems,
    )


@register("AvgPool2d")
def avgpool2d(
    in_shapes: list[Shape],
    batch: Any,
    *,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
) -> LayerCost:
    """Average pooling: ``k*k`` operations per output element (adds and one division)."""
    out_shape, window = _pool_shape(_one(in_shapes, "AvgPool2d"), "AvgPool2d", kernel_size, stride, padding, 1, ceil_mode)
    out_elems = batch * prod(out_shape)
    return LayerCost(output_shape=out_shape, activations=out_elems, elementwise_ops=out_elems * window, saves_input=True)


def _adaptive_window_total(n_in: Any, n_out: Any) -> Any:
    """Sum of the adaptive-pooling window lengths along one axis (torch: [floor(i*n/o), ceil((i+1)*n/o)))."""
    if is_concrete(n_out):
        # Exact for an int or a symbolic n_in alike (sympy floor / ceiling terms when symbolic).
        return sum((ceildiv((i + 1) * n_in, n_out) - floordiv(i * n_in, n_out) for i in range(n_out)), 0)
    # Symbolic output size: exact when n_out divides n_in (windows tile the input).
    return n_in


@register("AdaptiveAvgPool2d")
def adaptive_avgpool2d(in_shapes: list[Shape], batch: Any, *, output_size: Any) -> LayerCost:
    """Adaptive average pooling to ``output_size``; operations = sum of window sizes (= input size when tiling)."""
    c, h, w = _one(in_shapes, "AdaptiveAvgPool2d")
    oh, ow = pair(output_size)
    oh = h if oh is None else oh
    ow = w if ow is None else ow
    ops = batch * c * _adaptive_window_total(h, oh) * _adaptive_window_total(w, ow)
    # torch computes a 1x1 output as input.mean((-2, -1)), whose backward keeps no tensor.
    global_mean = is_concrete(oh, ow) and oh == 1 and ow == 1
    return LayerCost(
        output_shape=(c, oh, ow), activations=batch * c * oh * ow, elementwise_ops=ops, saves_input=not global_mean
    )


@register("BatchNorm2d")
def batchnorm2d(in_shapes: list[Shape], batch: Any, *, affine: bool = True) -> LayerCost:
    """Batch normalisation: 2 ops per element at inference; saves its input and per-channel mean / inv-std."""
    shape = _one(in_shapes, "BatchNorm2d")
    c = shape[0]
    elems = batch * prod(shape)
    return LayerCost(
        output_shape=shape,
        params=2 * c if affine else 0,
        activations=elems,
        elementwise_ops=2 * elems,
        saves_input=True,
        saved_fp32_elements=2 * c,
    )


@register("ReLU")
def relu(in_shapes: list[Shape], batch: Any, *, inplace: bool = False) -> LayerCost:
    """ReLU: one comparison per element; autograd saves its output."""
    shape = _one(in_shapes, "ReLU", rank=None)
    elems = batch * prod(shape)
    return LayerCost(output_shape=shape, activations=elems, elementwise_ops=elems, saves_output=True, inplace=inplace)


@register("Dropout")
def dropout(in_shapes: list[Shape], batch: Any, *, p: float = 0.5, inplace: bool = False) -> LayerCost:
    """Dropout: identity at inference; in training autograd saves a 1-byte mask per element."""
    shape = _one(in_shapes, "Dropout", rank=None)
    elems = batch * prod(shape)
    return LayerCost(output_shape=shape, activations=elems, saved_mask_elements=elems, inplace=inplace)


@register("Flatten")
def flatten(in_shapes: list[Shape], batch: Any) -> LayerCost:
    """Flatten ``(C, H, W)`` to ``(C*H*W,)``: a view, no arithmetic and no new memory."""
    shape = _one(in_shapes, "Flatten", rank=None)
    return LayerCost(output_shape=(prod(shape),), activations=batch * prod(shape), alias=True)


@register("Concat")
def concat(in_shapes: list[Shape], batch: Any) -> LayerCost:
    """Channel concatenation of branch outputs with equal spatial size (a copy, no arithmetic)."""
    if not in_shapes:
        raise ValueError("Concat needs at least one input")
    first = tuple(in_shapes[0])
    for s in in_shapes[1:]:
        if is_concrete(*s[1:], *first[1:]) and tuple(s[1:]) != first[1:]:
            raise ValueError(f"Concat: branch outputs differ in spatial size: {[tuple(x) for x in in_shapes]}")
    out = (sum((s[0] for s in in_shapes[1:]), first[0]), *first[1:])
    return LayerCost(output_shape=out, activations=batch * prod(out))


@register("Add")
def add(in_shapes: list[Shape], batch: Any, *, inplace: bool = False) -> LayerCost:
    """Element-wise sum of equally shaped inputs (residual connection): one add per element per extra input."""
    if len(in_shapes) < 2:
        raise ValueError(f"Add needs at least two inputs, got {len(in_shapes)}")
    first = tuple(in_shapes[0])
    for s in in_shapes[1:]:
        if is_concrete(*s, *first) and tuple(s) != first:
            raise ValueError(f"Add: input shapes differ: {[tuple(x) for x in in_shapes]}")
    elems = batch * prod(first)
    return LayerCost(output_shape=first, activations=elems, elementwise_ops=elems * (len(in_shapes) - 1), inplace=inplace)


@register("ReLU6")
def relu6(in_shapes: list[Shape], batch: Any, *, inplace: bool = False) -> LayerCost:
    """ReLU6 = min(max(x, 0), 6): two comparisons per element; autograd (hardtanh) saves its input.

    In place, autograd clones the input before ``hardtanh_`` overwrites it (its backward needs the input),
    so memory is that of the out-of-place op: a new tensor besides the input. It is modelled that way.
    """
    shape = _one(in_shapes, "ReLU6", rank=None)
    elems = batch * prod(shape)
    return LayerCost(output_shape=shape, activations=elems, elementwise_ops=2 * elems, saves_input=True)


@register("Unmodeled")
def unmodeled(in_shapes: list[Shape], batch: Any, *, op: str, traced_inputs: tuple, output_shape: tuple) -> LayerCost:
    """An op archcalc has no formula for (listed, never dropped): its traced output shape, every count 0.

    The shape is known only for the traced input shapes; other inputs raise ``ValueError``.
    """
    if tuple(tuple(s) for s in in_shapes) != tuple(traced_inputs):
        raise ValueError(
            f"{op}: archcalc has no formula for it and traced it only for inputs {list(traced_inputs)}; "
            "derive the description again (from_torch) at this input shape"
        )
    return LayerCost(output_shape=tuple(output_shape))
