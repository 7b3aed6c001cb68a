"""Convention presets that reproduce other tools' totals from archcalc's rows (no torch, no fvcore).

Each preset is a pure formula over an evaluated :class:`~archcalc.evaluate.Row`; importing this module
registers them in :data:`archcalc.conventions.CONVENTIONS` (``archcalc.conventions`` imports it at its end).

``fvcore``
    ``FlopCountAnalysis`` of fvcore 0.1.5 on a model in eval mode: one per multiply-add of Conv2d / Linear
    (no bias), BatchNorm2d at inference 2 per element (1 without affine), adaptive average pooling 1 per
    *input* element; max / average pooling, ReLU, Add, Concat, Dropout and Flatten count 0 (fvcore logs
    ``aten::max_pool2d`` and ``aten::add_`` as unsupported and ignores ``aten::relu_``). No backward count.
``torch``
    ``torch.utils.flop_counter.FlopCounterMode``: two per multiply-add of Conv2d / Linear only, nothing for
    bias, BN, pooling or activations. Backward as it counts ``aten.convolution_backward`` and ``aten.mm``:
    the input gradient only where the input needs one (not for the first layer), the weight gradient
    always; for a grouped convolution torch's weight-gradient formula uses the full input channels, so it
    counts ``groups`` times the weight-gradient multiply-adds.

Examples
--------
>>> from archcalc.conventions import get_convention
>>> from archcalc.evaluate import evaluate
>>> from archcalc.zoo import build
>>> ev = evaluate(build("resnet18"))
>>> sum(get_convention("fvcore").forward(r) for r in ev.rows)
1819065856
>>> sum(get_convention("torch").forward(r) for r in ev.rows)
3628146688
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.conventions import Convention, register_convention
from archcalc.evaluate import Row

__all__ = ["fvcore_forward", "torch_forward", "torch_backward", "WEIGHT_KINDS"]

WEIGHT_KINDS = ("Conv2d", "Linear")


def fvcore_forward(row: Row) -> Any:
    """fvcore's count for one row (fvcore calls it "flops"; it is one per multiply-add)."""
    if row.kind in WEIGHT_KINDS:
        return row.macs
    if row.kind == "BatchNorm2d":
        return row.activations * (2 if dict(row.hparams).get("affine", True) else 1)
    if row.kind == "AdaptiveAvgPool2d":
        # fvcore's elementwise_flop_counter(1, 0): the input's element count, whatever the windows.
        return _input_elements(row)
    return 0


def _input_elements(row: Row) -> Any:
    """Elements of the row's (single) input for the whole batch: activations scaled by input / output size."""
    per_in, per_out = prod(row.input_shapes[0]), prod(row.output_shape)
    if is_concrete(row.activations, per_out, per_in):
        return row.activations // per_out * per_in
    return row.activations * per_in / per_out  # sympy: the output-size factors cancel exactly


def torch_forward(row: Row) -> Any:
    """FlopCounterMode's forward FLOPs for one row: 2 x MACs of Conv2d / Linear, 0 otherwise."""
    return 2 * row.macs if row.kind in WEIGHT_KINDS else 0


def torch_backward(row: Row) -> Any:
    """FlopCounterMode's backward FLOPs for one row (weight gradient x groups for grouped convolutions)."""
    if row.kind not in WEIGHT_KINDS:
        return 0
    grad_in = row.cost.backward_input_macs if row.input_requires_grad else 0
    groups = dict(row.hparams).get("groups", 1) if row.kind == "Conv2d" else 1
    return 2 * (grad_in + groups * row.cost.backward_weight_macs)


register_convention(
    Convention(
        "fvcore",
        "MACs",
        "fvcore FlopCountAnalysis (eval mode): 1 per multiply-add of Conv2d / Linear, no bias, BatchNorm 2 per "
        "element, adaptive avg-pool 1 per input element, max-pool / ReLU / Add 0; no backward",
        forward=fvcore_forward,
        backward=None,
    )
)
register_convention(
    Convention(
        "torch",
        "FLOPs",
        "torch.utils.flop_counter.FlopCounterMode: 2 per multiply-add of Conv2d / Linear only; backward = input "
        "gradient where needed + weight gradient (x groups for grouped conv)",
        forward=torch_forward,
        backward=torch_backward,
    )
)
