"""Forward and backward FLOPs of a real module by FlopCounterMode, and archcalc's for its traced graph.

torch's side runs ``module(*inputs)`` and then ``loss.backward()`` with ``loss`` the sum of every output that
needs a gradient (the real part of a complex one), under ``torch.utils.flop_counter.FlopCounterMode``;
archcalc's side sums the ``torch`` convention over the rows (2 x MACs forward; 2 x backward MACs, with a
grouped convolution's weight gradient x groups as FlopCounterMode counts it). Any coverage suite can apply
:func:`compare_backward` to every model it traces.
"""

from __future__ import annotations

from typing import Any


def _flat(obj: Any) -> list[Any]:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, list | tuple):
        return [t for o in obj for t in _flat(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _flat(o)]
    return []


def torch_flops(module: Any, inputs: list[Any]) -> tuple[int, int]:
    """(forward FLOPs, backward FLOPs) FlopCounterMode counts for ``module(*inputs)`` and ``loss.backward()``.

    The inputs do not require grad (archcalc's network inputs get no gradient); the module runs in the mode it
    is in, on the device of its tensors. Prefer the meta device: on the CPU, ``scaled_dot_product_attention``
    in eval mode runs a fused kernel FlopCounterMode has no formula for, so its count there misses attention.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        outs = [t for t in _flat(module(*inputs)) if t.requires_grad]
        forward = counter.get_total_flops()
        if outs:
            loss = sum((t.real if t.is_complex() else t).sum() for t in outs)
            loss.backward()
        total = counter.get_total_flops()
    return forward, total - forward


def archcalc_flops(graph: Any, training: bool | None = None) -> tuple[int, int]:
    """(forward FLOPs, backward FLOPs) of ``graph`` in the ``torch`` convention (FlopCounterMode's)."""
    from archcalc.check.conventions import get_convention
    from archcalc.ir.evaluate import evaluate

    batch = graph.traced_at[0][0] if graph.traced_at and graph.inputs[0].batched else 1
    ev = evaluate(graph, batch=batch, training=training)
    conv = get_convention("torch")
    return sum(conv.forward(r) for r in ev.rows), sum(conv.backward(r) for r in ev.rows)


def compare_backward(module: Any, inputs: list[Any], graph: Any = None,
                     training: bool = False) -> tuple[tuple[int, int], tuple[int, int]]:
    """(archcalc's (forward, backward) FLOPs, FlopCounterMode's) for ``module`` on ``inputs``.

    ``graph`` defaults to ``from_torch(module, ...)`` traced at the inputs' shapes and dtypes in the same mode.
    """
    from archcalc.frontends.torch_trace import from_torch

    was = module.training
    module.train(training)
    try:
        if graph is None:
            dtypes = tuple(str(t.dtype).removeprefix("torch.") for t in inputs)
            graph = from_torch(module, *[tuple(t.shape[1:]) for t in inputs], batch=inputs[0].shape[0],
                               input_dtypes=dtypes, training=training)
        theirs = torch_flops(module, inputs)
    finally:
        module.train(was)
    return archcalc_flops(graph), theirs
