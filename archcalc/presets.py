"""Convention presets that reproduce other tools' totals from archcalc's rows (no torch, no fvcore).

Each preset is a pure formula over an evaluated :class:`~archcalc.ir.evaluate.Row`; :mod:`archcalc.conventions`
lists them explicitly in :data:`~archcalc.conventions.CONVENTIONS` (this module imports nothing from it, so
there is no import cycle and nothing registers as a side effect of an import).

``fvcore``
    ``FlopCountAnalysis`` of fvcore 0.1.5 (its ``_DEFAULT_SUPPORTED_OPS`` handles in ``jit_handles.py``), one
    per multiply-add, on the ops of a ``torch.jit.trace``: convolutions of any rank and transposed ones,
    ``linear``, ``addmm``, ``bmm`` the MACs (no bias); ``matmul`` / ``mm`` ``numel(a) x b[-1]`` (the first
    operand's batch dims only); ``einsum`` numpy's optimal-path count / 2, which is the MACs for two
    operands with a summed index; BatchNorm at inference 2 per element (1 without affine), in training
    and GroupNorm / LayerNorm / InstanceNorm 5 per element (4 without affine); ``adaptive_avg_pool2d`` 1 per
    *input* element; ``upsample_nearest2d`` 1 and ``upsample_bilinear2d`` 4 per output element (``area``
    interpolation is ``adaptive_avg_pool2d``); ``grid_sampler`` 4 per output element in every mode. Everything
    else counts 0: ``scaled_dot_product_attention``
    and ``baddbmm`` (unsupported), pooling, activations, softmax, adds, ``norm``, RMSNorm (fvcore logs
    ``aten::max_pool2d`` and ``aten::add_`` as unsupported and ignores ``aten::relu_``); so ViT's attention
    (``nn.MultiheadAttention`` calling SDPA) counts its projections only; a ``MultiheadAttention`` node
    (``nn.MultiheadAttention`` on fvcore's grad-enabled slow path) likewise, plus the two ``bmm`` of
    ``need_weights=True`` (only ``A V`` with a mask: ``Q K^T`` is then a ``baddbmm``). No backward count.
``torch``
    ``torch.utils.flop_counter.FlopCounterMode``: two per multiply-add of every contraction (convolution,
    linear, matmul, bmm, einsum, attention), nothing for bias, BN, pooling or activations. Backward as it
    counts ``aten.convolution_backward`` and ``aten.mm``: the input gradient only where the input needs one
    (not for the first layer), the weight gradient always; for a grouped convolution torch's weight-gradient formula uses the full input channels, so it
    counts ``groups`` times the weight-gradient multiply-adds.
``ptflops``
    ``get_model_complexity_info`` of ptflops 0.7.5 with its default ``pytorch`` backend (module hooks plus
    patched functionals), at its batch of one: Conv2d / Linear one per multiply-add *plus* one per output
    element for a bias; BatchNorm2d 2 per element (1 without affine); ReLU and max / average / adaptive
    average pooling one per *input* element from the module hook and once more from the patched
    ``F.relu`` / ``F.max_pool2d`` / ... the module calls, so a module counts 2 per input element and a
    functional op (``module=None``, e.g. GoogLeNet's ``F.relu``) 1; ReLU6 1 per element (``nn.ReLU6``
    calls the unpatched ``F.hardtanh``). Dropout, Flatten, ``torch.cat`` and residual ``+=`` count 0
    (``torch.add`` / ``Tensor.add`` would count 1 per element: archcalc's Add row does not say which
    spelling the model uses, so the preset assumes ``+`` / ``+=`` as torchvision's ResNet does).
``thop``
    ``thop.profile`` of thop 0.1.1 (module hooks only): Conv2d / Linear one per multiply-add, no bias;
    BatchNorm2d 4 per element (2 without affine: thop doubles its own 2 per element for the affine
    step); AvgPool2d 1 per output element; AdaptiveAvgPool2d ``int((H/oh * W/ow + 1) * output elements)``
    in float64, i.e. input + output elements when the windows tile the input (the float truncation is
    reproduced for concrete shapes; a closed form uses the tiling value); ReLU, ReLU6, max pooling,
    Dropout, Flatten and every functional op (``F.relu``, ``torch.cat``, residual adds) count 0.

Examples
--------
>>> from archcalc.conventions import get_convention
>>> from archcalc.ir.evaluate import evaluate
>>> from archcalc.zoo import build
>>> ev = evaluate(build("resnet18"))
>>> sum(get_convention("fvcore").forward(r) for r in ev.rows)
1819065856
>>> sum(get_convention("torch").forward(r) for r in ev.rows)
3628146688
>>> sum(get_convention("ptflops").forward(r) for r in ev.rows)
1825313768
>>> sum(get_convention("thop").forward(r) for r in ev.rows)
1824033792
"""

from __future__ import annotations

from typing import Any

from archcalc.arith import is_concrete, prod
from archcalc.ir.evaluate import Row

__all__ = ["fvcore_forward", "torch_forward", "torch_backward", "ptflops_forward", "thop_forward", "WEIGHT_KINDS",
           "FVCORE_ACTIVATION_KINDS", "DESCRIPTIONS"]

WEIGHT_KINDS = ("Conv2d", "Linear")


#: Kinds fvcore counts as their MACs (``conv_flop_jit``, ``linear_flop_jit``, ``addmm_flop_jit``, ``bmm_flop_jit``).
_FVCORE_MACS = frozenset({*(f"Conv{n}d" for n in (1, 2, 3)), *(f"ConvTranspose{n}d" for n in (1, 2, 3)), "Linear",
                          "AddMM", "BMM"})
#: The kinds whose outputs fvcore's ActivationCountAnalysis counts (its aten::_convolution, linear, addmm,
#: matmul, bmm and einsum handles).
FVCORE_ACTIVATION_KINDS = frozenset({"Conv2d", "Linear", "AddMM", "MatMul", "BMM", "Einsum"})
_FVCORE_NORMS = frozenset({"GroupNorm", "LayerNorm", *(f"InstanceNorm{n}d" for n in (1, 2, 3))})


def fvcore_forward(row: Row) -> Any:
    """fvcore's count for one row (fvcore calls it "flops"; it is one per multiply-add)."""
    kind, hp = row.kind, dict(row.hparams)
    if kind in _FVCORE_MACS:
        return row.macs
    if kind == "MatMul":
        return _fvcore_matmul(row)
    if kind == "Einsum":
        return _fvcore_einsum(row, hp["equation"])
    if kind.startswith("BatchNorm"):
        if hp.get("training", False):  # norm_flop_counter(1)
            return _input_elements(row) * (5 if hp.get("affine", True) else 4)
        return _input_elements(row) * (2 if hp.get("affine", True) else 1)
    if kind in _FVCORE_NORMS:
        affine = hp.get("elementwise_affine", True) if kind == "LayerNorm" else hp.get("affine", kind == "GroupNorm")
        return _input_elements(row) * (5 if affine else 4)
    if kind == "MultiheadAttention":
        return _fvcore_mha(row, hp)
    if kind == "AdaptiveAvgPool2d":
        # fvcore's elementwise_flop_counter(1, 0): the input's element count, whatever the windows.
        return _input_elements(row)
    if kind == "Interpolate" and len(row.output_shape) == 4:
        mode = hp.get("mode", "nearest")
        if mode == "area":  # F.interpolate(mode="area") runs adaptive_avg_pool2d
            return _input_elements(row)
        if hp.get("antialias", False):  # _upsample_bilinear2d_aa: unsupported
            return 0
        return row.activations * {"nearest": 1, "bilinear": 4}.get(mode, 0)
    if kind == "GridSample":  # elementwise_flop_counter(0, 4), "assume bilinear": any mode
        return row.activations * 4
    return 0


def _fvcore_matmul(row: Row) -> Any:
    """``matmul_flop_jit``: ``numel(a) x b[-1]`` (a broadcast second operand's batch dims are not counted)."""
    if len(row.input_shapes) != 2:  # an operand is a parameter (not among the row's inputs): x @ W
        return row.macs
    a, b = row.input_shapes
    return prod(a) * b[-1]


def _fvcore_mha(row: Row, hp: dict[str, Any]) -> Any:
    """``nn.MultiheadAttention`` as fvcore sees it (``multi_head_attention_forward``'s slow path): the
    projections' ``linear`` always; ``Q K^T`` and ``A V`` are ``bmm`` only with ``need_weights`` (then a mask
    turns ``Q K^T`` into an uncounted ``baddbmm``), else one ``scaled_dot_product_attention`` (uncounted)."""
    q, k = row.input_shapes[0], row.input_shapes[1]
    if len(q) == 3:
        n, length, source = (q[0], q[1], k[1]) if hp.get("batch_first", False) else (q[1], q[0], k[0])
    else:
        n, length, source = 1, q[0], k[0]
    product = n * length * source * hp["embed_dim"]  # one of Q K^T, A V over all heads
    if not hp.get("need_weights", False):
        return row.macs - 2 * product
    return row.macs - (product if len(row.input_shapes) == 4 else 0)


def _fvcore_einsum(row: Row, equation: str) -> Any:
    """``einsum_flop_jit``: numpy's ``einsum_path(optimize="optimal")`` report, "Optimized FLOP count" / 2, floored.

    That count is printed with 4 significant digits (``%.3e``) and fvcore parses the printed number, so with
    concrete shapes numpy itself is run on them, as fvcore does (``maxvit_t``'s attention: 177,022,000, not
    the exact 177,020,928 MACs). With symbolic shapes, or a parameter among the operands, the unrounded
    count for two operands: the MACs when an index is summed, half the output elements (floored) for an outer
    product.
    """
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    shapes = row.input_shapes
    if len(shapes) == len(terms) and all(is_concrete(*s) for s in shapes):
        import numpy as np

        report = np.einsum_path(eq, *[np.zeros(s) for s in shapes], optimize="optimal")[1]
        line = next(ln for ln in report.split("\n") if "optimized flop" in ln.lower())
        return int(float(line.split(":")[-1]) // 2)
    letters = "".join(terms)
    summed = bool(set(letters) - set(rhs)) if arrow else any(letters.count(c) > 1 for c in set(letters))
    # an outer product: numpy counts one multiply per output element, which torch runs as a mul (0 MACs)
    return row.macs if summed else row.activations // 2


def _input_elements(row: Row) -> Any:
    """Elements of the row's (single) input for the whole batch: activations scaled by input / output size."""
    per_in, per_out = prod(row.input_shapes[0]), prod(row.output_shape)
    if is_concrete(row.activations, per_out, per_in):
        return row.activations // per_out * per_in
    return row.activations * per_in / per_out  # sympy: the output-size factors cancel exactly


def torch_forward(row: Row) -> Any:
    """FlopCounterMode's forward FLOPs for one row: 2 x MACs of every contraction (conv, linear, matmul, bmm,
    attention), 0 for everything else."""
    return 2 * row.macs


def torch_backward(row: Row) -> Any:
    """FlopCounterMode's backward FLOPs for one row: a grouped convolution's weight gradient x groups (its
    formula ignores groups), whether the weight is a parameter or computed in the forward (weight
    standardisation); a traced convolution's weight is its input 1, a zoo node's the one it declares."""
    if not row.kind.startswith("Conv"):
        return 2 * row.backward_macs
    groups = dict(row.hparams).get("groups", 1)
    weight = row.grad_of_input[1] if len(row.grad_of_input) > 1 else row.cost.backward_weight_macs
    return 2 * (row.backward_macs + (groups - 1) * weight)


def _affine(row: Row) -> bool:
    return bool(dict(row.hparams).get("affine", True))


def _has_bias(row: Row) -> bool:
    return bool(dict(row.hparams).get("bias", True))


#: Kinds ptflops's default backend counts per input element, once per module hook and once per patched
#: functional call (an ``nn.ReLU`` / pooling module calls the patched ``F.relu`` / ``F.*pool2d``).
_PTFLOPS_HOOKED_AND_PATCHED = ("ReLU", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d")


def ptflops_forward(row: Row) -> Any:
    """ptflops 0.7.5 (``pytorch`` backend) for one row, in its unit MACs; Conv2d / Linear bias included."""
    if row.module is None:
        # functional: only the patched F.relu / F.relu6 / F.*pool2d count (F.conv2d, F.linear, F.batch_norm,
        # torch.cat, flatten and `+` are not patched)
        return _input_elements(row) if row.kind in (*_PTFLOPS_HOOKED_AND_PATCHED, "ReLU6") else 0
    if row.kind in WEIGHT_KINDS:
        return row.macs + (row.activations if _has_bias(row) else 0)
    if row.kind == "BatchNorm2d":
        return row.activations * (2 if _affine(row) else 1)
    if row.kind in _PTFLOPS_HOOKED_AND_PATCHED:
        return 2 * _input_elements(row)
    if row.kind == "ReLU6":
        return row.activations
    return 0


def thop_forward(row: Row) -> Any:
    """thop 0.1.1 ``profile`` for one row, in its unit MACs (module hooks only, no bias)."""
    if row.module is None:
        return 0  # thop hooks modules only: F.relu, torch.cat, residual adds are never seen
    if row.kind in WEIGHT_KINDS:
        return row.macs
    if row.kind == "BatchNorm2d":
        return row.activations * (4 if _affine(row) else 2)
    if row.kind == "AvgPool2d":
        return row.activations
    if row.kind == "AdaptiveAvgPool2d":
        return _thop_adaptive_avg(row)
    return 0


def _thop_adaptive_avg(row: Row) -> Any:
    """thop's ``int((H/oh * W/ow + 1) * output elements)`` evaluated in float64 as thop does."""
    (h, w), (oh, ow) = row.input_shapes[0][-2:], row.output_shape[-2:]
    if is_concrete(h, w, oh, ow, row.activations):
        # float64 like thop's DoubleTensor arithmetic; int() truncates: 2x2 -> 11x11 on 64 channels gives 7,999, not 8,000
        return int(((h / oh) * (w / ow) + 1.0) * row.activations)
    return _input_elements(row) + row.activations  # exact when the windows tile the input


#: One line per preset saying what it counts (``Convention.description``); archcalc.conventions lists the
#: presets explicitly with these and the formulas above.
DESCRIPTIONS = {
    "fvcore": "fvcore 0.1.5 FlopCountAnalysis: 1 per multiply-add of conv / linear / matmul / bmm / einsum, no bias, "
              "BatchNorm 2 per element at inference, Group/Layer/InstanceNorm 5, adaptive avg-pool 1 per input "
              "element, upsample nearest 1 / bilinear 4 per output element; SDPA, max-pool, ReLU, Add 0; no backward",
    "torch": "torch.utils.flop_counter.FlopCounterMode: 2 per multiply-add of every contraction; backward = input "
             "gradient where needed + weight gradient (x groups for grouped conv)",
    "ptflops": "ptflops 0.7.5 get_model_complexity_info, default pytorch backend, batch 1: 1 per multiply-add of "
               "Conv2d / Linear + 1 per output element for bias, BatchNorm 2 per element, ReLU / pooling 1 per input "
               "element counted twice for a module (hook + patched F.*), once for a functional op; ReLU6 1, "
               "Dropout / cat / += 0",
    "thop": "thop 0.1.1 profile (module hooks only): 1 per multiply-add of Conv2d / Linear, no bias, BatchNorm 4 per "
            "element, avg-pool 1 per output element, adaptive avg-pool input + output elements (float64, "
            "truncated); ReLU, max-pool, Dropout and functional ops (F.relu, cat, adds) 0",
}
