"""A second peak-memory oracle: tensor storage bytes only, from the CPU allocator's own allocation events.

``tests/peak_tracker.py`` reads glibc's live heap, which holds tensor storage *and* everything else malloc
hands out while the step runs (autograd's C++ nodes, Python objects, malloc headers). This oracle counts
only what torch's CPU allocator (``c10::DefaultCPUAllocator``, where every CPU tensor's storage comes from)
reports to the profiler: ``torch.profiler.profile(activities=[CPU], profile_memory=True)`` records one
allocation event per ``malloc`` of a storage (``+nbytes``) and one per ``free`` of a storage allocated while
profiling (``-nbytes``); blocks allocated before profiling started are never reported as freed. The events
are read from ``prof.profiler.kineto_results.experimental_event_tree()`` (the tree torch's own
``torch.profiler._memory_profiler.MemoryProfile`` reads), sorted by time; their running sum is the bytes the
step holds above what was live before it, and every event's running sum must equal the allocator's own
counter (``total_allocated``) up to one constant, which is checked.

Two peaks come out, both exact storage bytes:

``peak_bytes``
    sampled where ``peak_tracker.py`` samples and archcalc's schedule counts: when each outermost ATen op
    returns, when each autograd node's ``apply`` returns (its saved tensors still alive), and after every
    allocation outside both. Scratch space an op allocates and frees before returning is not seen.
``peak_any_bytes``
    after every allocation event, scratch included.

Both add the storage bytes of the parameters, buffers and input, counted as ``peak_tracker.py`` counts them
(distinct storages of the real tensors). The step is ``peak_tracker``'s own (``_step``), after the same
warm-up step on a copy of the model. Nothing here imports archcalc.
"""

from __future__ import annotations

import copy
import gc
from dataclasses import dataclass

from peak_tracker import _Autocast, _step, _storage_bytes, _train_step, state_tensors, warmed_optimizer

__all__ = ["StoragePeak", "StorageTrace", "measure_step_storage", "measure_steps_storage", "trace_storage"]


@dataclass(frozen=True)
class StorageTrace:
    """Live storage bytes of one profiled call, relative to what was live before it.

    ``peak_bytes`` / ``peak_where``: the largest sample at op boundaries and the op it was taken after;
    ``peak_any_bytes`` / ``peak_any_where``: the largest value after any allocation and the op that made it;
    ``end_bytes``: held when the call returned; ``events``: allocation and free events.
    """

    peak_bytes: int
    peak_where: str
    peak_any_bytes: int
    peak_any_where: str
    end_bytes: int
    events: int


@dataclass(frozen=True)
class StoragePeak:
    """One step's peaks in storage bytes, ``before_bytes`` (parameters, buffers, input) included."""

    peak_bytes: int
    peak_where: str
    peak_any_bytes: int
    peak_any_where: str
    before_bytes: int
    events: int


def _is_boundary(event) -> bool:
    """An outermost op whose return is a sample point: an ATen op, or an autograd node's ``apply``."""
    from torch._C._profiler import RecordScope, _EventType

    if event.typed[0] != _EventType.TorchOp:
        return False
    return event.typed[1].scope == RecordScope.BACKWARD_FUNCTION or event.name.startswith("aten::")


def _allocations(roots):
    """(allocation event, index of its outermost boundary op or None, that op's name) for every event."""
    from torch._C._profiler import _EventType

    out, ops, todo = [], 0, [(r, None, "") for r in reversed(roots)]
    while todo:
        event, op, name = todo.pop()
        if event.typed[0] == _EventType.Allocation:
            if event.typed[1].device.type == "cpu":
                out.append((event, op, name))
            continue
        if op is None and _is_boundary(event):
            op, name, ops = ops, event.name, ops + 1
        todo.extend((c, op, name or event.name) for c in reversed(event.children))
    return out


def trace_storage(fn) -> StorageTrace:
    """Run ``fn()`` under the profiler and follow the CPU allocator's live bytes through it.

    Examples
    --------
    >>> import torch
    >>> t = trace_storage(lambda: torch.ones(1000).sum())  # 4,000 bytes, then the 4-byte sum; ones freed
    >>> t.peak_bytes, t.end_bytes
    (4004, 0)
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    allocs = _allocations(prof.profiler.kineto_results.experimental_event_tree())
    allocs.sort(key=lambda a: a[0].start_time_ns)
    if not allocs:
        return StorageTrace(0, "", 0, "", 0, 0)
    first = allocs[0][0].typed[1]
    base = first.total_allocated - first.alloc_size
    live, last_of_op, samples = 0, {}, []
    peak_any, where_any = 0, ""
    for i, (event, op, name) in enumerate(allocs):
        fields = event.typed[1]
        live += fields.alloc_size
        # the allocator's counter moves with every event; a mismatch means events were lost or misordered
        assert live == fields.total_allocated - base, (i, live, fields.total_allocated - base)
        if live > peak_any:
            peak_any, where_any = live, name
        if op is None:
            samples.append((live, name or "outside any op"))
        else:
            last_of_op[op] = (live, name)
    samples.extend(last_of_op.values())
    peak, where = max(samples, key=lambda s: s[0])
    return StorageTrace(max(peak, 0), where if peak > 0 else "", peak_any, where_any, live, len(allocs))


def measure_step_storage(model, x, mode: str, autocast_dtype=None) -> StoragePeak:
    """Peak storage bytes of one ``inference`` / ``sgd`` / ``adam`` step, as ``peak_tracker.measure_step`` runs it.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) is not None
    True
    >>> p = measure_step_storage(torch.nn.Linear(100, 50), torch.randn(8, 100), "inference")
    >>> # weight 50*100*4 = 20,000 + bias 200 + input 8*100*4 = 3,200, then the 8x50 output 1,600
    >>> p.before_bytes, p.peak_bytes
    (23400, 25000)
    """
    if mode not in ("inference", "sgd", "adam"):
        raise ValueError(f"mode={mode!r} is not a step; use 'inference', 'sgd' or 'adam'")
    model.train(mode != "inference")
    for p in model.parameters():  # gradients of an earlier step would be freed inside this one
        p.grad = None
    autocast = _Autocast(autocast_dtype)
    warm = copy.deepcopy(model)
    _step(warm, x.clone(), mode, lambda where: None, autocast)
    del warm
    gc.collect()
    before = _storage_bytes([*model.parameters(), *model.buffers(), x])
    trace = trace_storage(lambda: _step(model, x, mode, lambda where: None, autocast))
    return StoragePeak(before + trace.peak_bytes, trace.peak_where, before + trace.peak_any_bytes,
                       trace.peak_any_where, before, trace.events)


def measure_steps_storage(model, x, mode: str, steps: int = 3, autocast_dtype=None) -> tuple[StoragePeak, ...]:
    """Each step's peak storage bytes over ``steps`` steps of one optimizer (``peak_tracker.measure_steps``).

    Every step is profiled on its own, after ``opt.zero_grad(set_to_none=True)`` (so the gradients of the step
    before are gone, not seen as freed); ``before_bytes`` counts the storages alive then: parameters,
    buffers, input and the optimizer's state (moments, momentum buffers, ``step`` counts).

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0) is not None
    True
    >>> first, second = measure_steps_storage(torch.nn.Linear(100, 50), torch.randn(8, 100), "momentum", steps=2)
    >>> # step 2 starts with the 50*100*4 + 50*4 = 20,200-byte momentum buffers step 1 created
    >>> second.before_bytes - first.before_bytes
    20200
    """
    autocast = _Autocast(autocast_dtype)
    opt = warmed_optimizer(model, x, mode, autocast)
    out = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        gc.collect()
        before = _storage_bytes([*model.parameters(), *model.buffers(), x, *state_tensors(opt)])
        trace = trace_storage(lambda: _train_step(model, opt, x, lambda where: None, autocast))
        out.append(StoragePeak(before + trace.peak_bytes, trace.peak_where, before + trace.peak_any_bytes,
                               trace.peak_any_where, before, trace.events))
    return tuple(out)
