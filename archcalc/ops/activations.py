"""Element-wise activation functions and softmax.

Operations per element count the elementary operations of the function's defining formula, each of
``+ - * /``, a comparison, ``exp``, ``log``, ``erf``, ``tanh`` and ``sqrt`` being one:

====================  ====  ===========================================================
kind                  ops   formula
====================  ====  ===========================================================
ReLU                  1     max(x, 0)
ReLU6 / Hardtanh      2     min(max(x, 0), 6)
LeakyReLU             2     x if x > 0 else a x
ELU                   4     x if x > 0 else a (exp(x) - 1)
GELU (erf)            5     x / 2 (1 + erf(x / sqrt 2))
GELU (tanh)           9     x / 2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
Sigmoid               4     1 / (1 + exp(-x))
Tanh                  1     tanh(x)
SiLU                  5     x sigmoid(x)
Mish                  6     x tanh(log(1 + exp(x)))
Softplus              4     x if x > threshold else log(1 + exp(x)) (beta 1; Mamba's dt)
Hardsigmoid           4     min(max(x + 3, 0), 6) / 6
Hardswish             5     x min(max(x + 3, 0), 6) / 6
Softmax               5     exp(x - max) / sum: compare, subtract, exp, add, divide
LogSoftmax            5     x - max - log(sum exp(x - max)): compare, subtract, exp, add, subtract (+1 log per row)
====================  ====  ===========================================================

Saved for backward as torch's autograd formulas need: ReLU, Sigmoid, Tanh, Softmax and LogSoftmax their
output; the others their input.

Examples
--------
>>> from archcalc.ops import formula
>>> formula("GELU")([(2, 128, 3072)], approximate="tanh").elementwise_ops  # 2*128*3072 * 9
7077888
"""

from __future__ import annotations

from typing import Any

from archcalc.ops.arith import prod
from archcalc.ops.registry import OpCost, Shape, elementwise_cost, one_input, register
from archcalc.ops.traits import OpTraits, pointwise

__all__ = ["OPS_PER_ELEMENT", "SAVES_OUTPUT"]

OPS_PER_ELEMENT: dict[str, int] = {
    "ReLU": 1, "ReLU6": 2, "Hardtanh": 2, "LeakyReLU": 2, "ELU": 4, "Sigmoid": 4, "Tanh": 1, "SiLU": 5, "Mish": 6,
    "Hardsigmoid": 4, "Hardswish": 5, "Softplus": 4,
}
#: Kinds whose backward reads their output (the others read their input).
SAVES_OUTPUT = frozenset({"ReLU", "Sigmoid", "Tanh", "ELU"})


def _make(kind: str, per: int) -> None:
    def activation(in_shapes: list[Shape], *, inplace: bool = False, **_: Any) -> OpCost:
        shape = one_input(in_shapes, kind)
        saves_out = kind in SAVES_OUTPUT
        # hardtanh_ / relu6_ in place: autograd clones the input first (its backward needs it), so the output
        # is a new tensor; ops whose backward reads the output can really work in place.
        alias = (0,) if inplace and saves_out else ()
        return elementwise_cost(shape, per, saves_input=not saves_out, saves_output=saves_out, alias_of=alias)

    activation.__doc__ = f"{kind}: {per} operation(s) per element (module docstring: which ones)."
    register(kind, traits=pointwise())(activation)


for _kind, _per in OPS_PER_ELEMENT.items():
    _make(_kind, _per)


@register("GELU", traits=OpTraits())
def gelu(in_shapes: list[Shape], *, approximate: str = "none") -> OpCost:
    """GELU: 5 operations per element (erf form) or 9 (``approximate='tanh'``); saves its input."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
    return elementwise_cost(one_input(in_shapes, "GELU"), 9 if approximate == "tanh" else 5, saves_input=True)


def _softmax(kind: str, in_shapes: list[Shape], dim: Any) -> OpCost:
    shape = one_input(in_shapes, kind)
    if not shape:
        raise ValueError(f"{kind} expects an input of rank >= 1")
    if dim is None or not -len(shape) <= dim < len(shape):
        raise ValueError(f"{kind}: dim {dim} is out of range for shape {shape}")
    rows = prod(shape) // shape[dim] if isinstance(shape[dim], int) else prod(s for i, s in enumerate(shape) if i != dim % len(shape))
    extra = rows if kind == "LogSoftmax" else 0
    cost = elementwise_cost(shape, 5, saves_output=True)
    return OpCost(output_shape=cost.output_shape, activations=cost.activations,
                  elementwise_ops=cost.elementwise_ops + extra, saves_output=True)


@register("Softmax", traits=OpTraits(autocast=(("cuda", "fp32"),)))
def softmax(in_shapes: list[Shape], *, dim: Any = -1) -> OpCost:
    """Softmax along ``dim``: 5 operations per element; saves its output."""
    return _softmax("Softmax", in_shapes, dim)


@register("SoftmaxBackward", traits=OpTraits())
def softmax_backward(in_shapes: list[Shape], *, dim: Any = -1) -> OpCost:
    """``torch._softmax_backward_data(g, y, dim, dtype)``, softmax's input gradient ``y * (g - sum(g * y))``
    called by hand (the backward of a custom softmax Function: DeBERTa-v2's and SEW-D's ``XSoftmax``): no
    MACs, 4 operations per element (``g * y``, its sum along ``dim``, the subtraction, the product with
    ``y``); ``g`` and ``y`` have one shape."""
    if len(in_shapes) != 2 or tuple(in_shapes[0]) != tuple(in_shapes[1]):
        raise ValueError(f"SoftmaxBackward takes a gradient and a softmax output of one shape, got {in_shapes}")
    shape = tuple(in_shapes[0])
    if not -len(shape) <= dim < len(shape):
        raise ValueError(f"SoftmaxBackward: dim {dim} is out of range for shape {shape}")
    return OpCost(output_shape=shape, activations=prod(shape), elementwise_ops=4 * prod(shape), saves_input=True)


@register("LogSoftmax", traits=OpTraits(autocast=(("cuda", "fp32"),)))
def log_softmax(in_shapes: list[Shape], *, dim: Any = -1) -> OpCost:
    """LogSoftmax along ``dim``: 5 operations per element plus one log per row; saves its output."""
    return _softmax("LogSoftmax", in_shapes, dim)
