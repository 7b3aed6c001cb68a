"""tests/peak_tracker.py's oracle sampled after every aten op, inside autograd nodes too.

``peak_tracker.measure_step`` samples glibc's live heap after each torch function call and after each autograd
node; a node's own allocations made while it runs are invisible to it when the node frees something before
returning. That matters under ``torch.utils.checkpoint``: a checkpointed node's recomputed saved tensors lose
their last reference when the node unpacks them, so they are gone by the node's post-hook, although they were
alive beside the gradient the node allocated. This variant samples after every aten op (a
``TorchDispatchMode`` that only reads the counter) during the forward, the backward and the optimizer step.
The ops run unchanged here (the transformer tests check that it agrees with ``measure_step`` where both see
the same moments). Nothing here imports archcalc.
"""

from __future__ import annotations

import copy
import gc

from peak_tracker import Measured, _Autocast, _Sampler, _step, _storage_bytes, live_heap_bytes

__all__ = ["measure_step_ops"]


def measure_step_ops(model, x, mode: str = "sgd") -> Measured:
    """Peak live bytes of one ``sgd`` / ``adam`` training step, sampled after every aten op."""
    from torch.utils._python_dispatch import TorchDispatchMode

    model.train()
    for p in model.parameters():
        p.grad = None
    warm = copy.deepcopy(model)
    _step(warm, x.clone(), mode, lambda where: None, _Autocast(None))
    del warm
    gc.collect()
    sampler = _Sampler()

    class Observe(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            sampler(str(func))
            return result

    before = _storage_bytes([*model.parameters(), *model.buffers(), x])
    gc.collect()
    base = live_heap_bytes()
    with Observe():
        _step(model, x, mode, sampler, _Autocast(None))
    for h in sampler.handles:
        h.remove()
    return Measured(sampler.peak - base + before, sampler.where, before, sampler.count)
