"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d (groups, dilation, padding modes, output_padding).

A zoo node declares ``out_channels`` and ``kernel_size`` and gets parameters ``weight`` (and ``bias``); a
traced node receives the weight (and bias) as inputs 2 and 3, as ``F.conv2d`` does.

MACs of a convolution = output elements x ``C_in / groups`` x kernel volume; of a transposed convolution
= input elements x ``C_out / groups`` x kernel volume (each input element is scattered through the kernel),
which is what torch executes and what ``FlopCounterMode`` counts. Backward: input gradient and weight
gradient each cost the forward MACs.

Examples
--------
>>> from archcalc.ops import formula
>>> c = formula("Conv1d")([(8, 16, 100)], out_channels=32, kernel_size=5, padding=2, groups=4)
>>> c.output_shape, c.params, c.macs
((8, 32, 100), 672, 512000)
>>> t = formula("ConvTranspose2d")([(1, 64, 16, 16)], out_channels=32, kernel_size=2, stride=2)
>>> t.output_shape, t.macs  # 64*16*16 inputs * 32 * 2*2
((1, 32, 32, 32), 2097152)
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import floordiv, is_concrete, prod
from archcalc.ops.registry import OpCost, Shape, ntuple, register
from archcalc.ops.traits import contraction

__all__ = ["conv", "conv_transpose", "window_out", "same_padding"]


def window_out(size: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool = False) -> Any:
    """Output length of a sliding window (torch's rule, including ceil_mode's last-window check)."""
    from archcalc.arith import ceildiv

    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return floordiv(span, stride) + 1
    out = ceildiv(span, stride) + 1
    # torch drops a last window that would start in the right padding.
    if is_concrete(out, stride, size, padding) and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def same_padding(kernel: Any, dilation: Any) -> tuple[Any, Any]:
    """(left, right) padding of torch's padding='same' at stride 1: total d*(k-1), extra on the right."""
    total = dilation * (kernel - 1)
    left = floordiv(total, 2)
    return left, total - left


def _split(in_shapes: list[Shape], kind: str, n: int) -> tuple[Shape, Shape | None, bool]:
    """(input, weight shape or None, has bias input) of a convolution node."""
    if not 1 <= len(in_shapes) <= 3:
        raise ValueError(f"{kind} takes an input and optionally weight and bias, got {len(in_shapes)} inputs")
    x = tuple(in_shapes[0])
    if len(x) not in (n + 1, n + 2):
        raise ValueError(f"{kind} expects an input of rank {n + 2} (N, C, {n}-d spatial) or {n + 1}, got shape {x}")
    weight = tuple(in_shapes[1]) if len(in_shapes) > 1 else None
    return x, weight, len(in_shapes) == 3


def conv(in_shapes: list[Shape], *, n: int, out_channels: Any = None, kernel_size: Any = None, stride: Any = 1,
         padding: Any = 0, dilation: Any = 1, groups: Any = 1, bias: bool = True, padding_mode: str = "zeros") -> OpCost:
    """An ``n``-d convolution: ``out = floor((L + 2p - d(k-1) - 1) / s) + 1`` per spatial axis."""
    kind = f"Conv{n}d"
    x, weight, bias_input = _split(in_shapes, kind, n)
    c_in, spatial = x[-n - 1], x[-n:]
    if weight is not None:
        out_channels, kernel = weight[0], weight[2:]
        bias = bias_input
    else:
        if out_channels is None or kernel_size is None:
            raise ValueError(f"{kind}: give out_channels and kernel_size (or weight as an input)")
        kernel = ntuple(kernel_size, n, f"{kind} kernel_size")
    strides, dilations = ntuple(stride, n, f"{kind} stride"), ntuple(dilation, n, f"{kind} dilation")
    if is_concrete(c_in, out_channels, groups) and (c_in % groups or out_channels % groups):
        raise ValueError(f"{kind}: groups {groups} must divide in_channels {c_in} and out_channels {out_channels}; "
                         "change groups")
    if weight is not None and is_concrete(weight[1], c_in, groups) and weight[1] * groups != c_in:
        raise ValueError(f"{kind}: weight {weight} expects {weight[1] * groups} input channels, got {c_in}")
    if padding == "same":
        if is_concrete(*strides) and any(s != 1 for s in strides):
            raise ValueError(f"{kind}: padding='same' needs stride 1, got stride {stride}; give a numeric padding")
        out_sp = tuple(size + sum(same_padding(k, d)) - d * (k - 1) for size, k, d in zip(spatial, kernel, dilations, strict=True))
    else:
        pads = ntuple(0 if padding == "valid" else padding, n, f"{kind} padding")
        out_sp = tuple(window_out(size, k, s, p, d) for size, k, s, p, d in zip(spatial, kernel, strides, pads, dilations, strict=True))
    out = (*x[:-n - 1], out_channels, *out_sp)
    macs = prod(out) * floordiv(c_in, groups) * prod(kernel)
    return _cost(out, macs, None if weight is not None else (out_channels, floordiv(c_in, groups), *kernel), bias,
                 out_channels)


def conv_transpose(in_shapes: list[Shape], *, n: int, out_channels: Any = None, kernel_size: Any = None, stride: Any = 1,
                   padding: Any = 0, output_padding: Any = 0, dilation: Any = 1, groups: Any = 1,
                   bias: bool = True) -> OpCost:
    """An ``n``-d transposed convolution: ``out = (L - 1)s - 2p + d(k - 1) + output_padding + 1``."""
    kind = f"ConvTranspose{n}d"
    x, weight, bias_input = _split(in_shapes, kind, n)
    c_in, spatial = x[-n - 1], x[-n:]
    if weight is not None:  # torch's transposed weight: (C_in, C_out / groups, *kernel)
        out_channels, kernel = weight[1] * groups, weight[2:]
        bias = bias_input
    else:
        if out_channels is None or kernel_size is None:
            raise ValueError(f"{kind}: give out_channels and kernel_size (or weight as an input)")
        kernel = ntuple(kernel_size, n, f"{kind} kernel_size")
    if is_concrete(c_in, out_channels, groups) and (c_in % groups or out_channels % groups):
        raise ValueError(f"{kind}: groups {groups} must divide in_channels {c_in} and out_channels {out_channels}; "
                         "change groups")
    strides, pads = ntuple(stride, n, f"{kind} stride"), ntuple(padding, n, f"{kind} padding")
    outpads, dilations = ntuple(output_padding, n, f"{kind} output_padding"), ntuple(dilation, n, f"{kind} dilation")
    for op, s, d in zip(outpads, strides, dilations, strict=True):
        if is_concrete(op, s, d) and op >= max(s, d):
            raise ValueError(f"{kind}: output_padding {output_padding} must be smaller than stride or dilation")
    out_sp = tuple((size - 1) * s - 2 * p + d * (k - 1) + op + 1
                   for size, k, s, p, op, d in zip(spatial, kernel, strides, pads, outpads, dilations, strict=True))
    out = (*x[:-n - 1], out_channels, *out_sp)
    macs = prod(x) * floordiv(out_channels, groups) * prod(kernel)
    return _cost(out, macs, None if weight is not None else (c_in, floordiv(out_channels, groups), *kernel), bias,
                 out_channels)


def _cost(out: Shape, macs: Any, weight: Shape | None, bias: bool, out_channels: Any) -> OpCost:
    """A convolution's cost: ``weight`` is the shape to declare (a zoo node) or None (traced: the weight and
    bias arrive as inputs). Bias adds are 1 per output element; both gradients cost the forward MACs."""
    out_elems = prod(out)
    params: tuple[tuple[str, Shape], ...] = ()
    if weight is not None:
        params = (("weight", weight),) + ((("bias", (out_channels,)),) if bias else ())
    return OpCost(output_shape=out, param_shapes=params, macs=macs, activations=out_elems,
                  elementwise_ops=out_elems if bias else 0, input_grad_macs=(macs, macs),
                  backward_weight_macs=macs if weight is not None else 0, saves_input=True)


def _register(n: int) -> None:
    def fwd(in_shapes: list[Shape], **hp: Any) -> OpCost:
        return conv(in_shapes, n=n, **hp)

    def bwd(in_shapes: list[Shape], **hp: Any) -> OpCost:
        return conv_transpose(in_shapes, n=n, **hp)

    fwd.__doc__ = f"Conv{n}d: {conv.__doc__}"
    bwd.__doc__ = f"ConvTranspose{n}d: {conv_transpose.__doc__}"
    register(f"Conv{n}d", traits=contraction())(fwd)
    register(f"ConvTranspose{n}d", traits=contraction())(bwd)


for _n in (1, 2, 3):
    _register(_n)
