"""An independent peak-memory oracle for the liveness tests: the C allocator's live bytes, observed in the real run.

What it measures: glibc's ``mallinfo2()`` in-use bytes (``uordblks`` of every arena plus ``hblkhd``, the
mmapped blocks), sampled right after every torch call of the forward pass and of the optimizer step (a
``TorchFunctionMode`` that only reads the counter: the calls run unchanged, on the same kernels) and right
after every autograd node of the backward pass (node post-hooks, which run before the node's saved tensors
are released). The peak is the largest sample minus the heap in use before the step, plus the bytes of the
tensors that existed before the step (parameters, buffers, input: counted from the real tensors'
storages). So it is live tensor storage as the real run holds it at op boundaries, including malloc
headers and page rounding, excluding scratch space an op frees before it returns. A warm-up step on a
copy of the model fills oneDNN's primitive caches and the allocator's arenas first, so later cache growth
does not look like tensors. Nothing here imports archcalc.
"""

from __future__ import annotations

import copy
import ctypes
import gc
from dataclasses import dataclass

__all__ = ["Measured", "measure_step", "measure_steps", "live_heap_bytes"]


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


_LIBC = ctypes.CDLL("libc.so.6")
_LIBC.mallinfo2.restype = _MallInfo2


def live_heap_bytes() -> int:
    """Bytes malloc has handed out and not had back: small blocks in the arenas plus mmapped blocks."""
    info = _LIBC.mallinfo2()
    return int(info.uordblks + info.hblkhd)


@dataclass(frozen=True)
class Measured:
    peak_bytes: int
    peak_where: str
    before_bytes: int
    samples: int


def _storage_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        s = t.untyped_storage()
        if s.data_ptr() not in seen:
            seen.add(s.data_ptr())
            total += s.nbytes()
    return total


def _step(model, x, mode: str, sample, autocast):
    import torch

    if mode == "inference":
        with torch.no_grad(), autocast():
            out = model(x)
        sample("end")
        return out
    opt = make_optimizer(model, mode)  # sgd: no momentum; adam
    opt.zero_grad(set_to_none=True)
    _train_step(model, opt, x, sample, autocast)
    return None


TRAINING_MODES = ("sgd", "momentum", "adam", "adamw")


def make_optimizer(model, mode: str):
    """The ``torch.optim`` optimizer a training ``mode`` names (single-tensor, the CPU default)."""
    import torch

    if mode not in TRAINING_MODES:
        raise ValueError(f"mode={mode!r} is not an optimizer; use one of {', '.join(TRAINING_MODES)}")
    params = model.parameters()
    if mode in ("sgd", "momentum"):
        return torch.optim.SGD(params, lr=0.01, momentum=0.9 if mode == "momentum" else 0.0)
    return (torch.optim.Adam if mode == "adam" else torch.optim.AdamW)(params, lr=0.001)


def _train_step(model, opt, x, sample, autocast) -> None:
    """One step of a training loop after ``opt.zero_grad(set_to_none=True)``, which the caller runs first."""
    with autocast():
        loss = model(x).sum()
    if sample is not None and hasattr(sample, "hook_graph"):
        sample.hook_graph(loss.grad_fn)
    loss.backward()
    with autocast.quiet():
        opt.step()
    sample("end")


def warmed_optimizer(model, x, mode: str, autocast):
    """``mode``'s optimizer for ``model`` in training mode with no gradients, after one warm-up step on a copy
    (lazy initialisation and allocator caches happen there, not in a measured step)."""
    model.train(True)
    for p in model.parameters():
        p.grad = None
    warm = copy.deepcopy(model)
    _train_step(warm, make_optimizer(warm, mode), x.clone(), lambda where: None, autocast)
    del warm
    return make_optimizer(model, mode)


def state_tensors(opt) -> list:
    """The tensors an optimizer keeps between steps (moments, momentum buffers, Adam's ``step`` counts)."""
    import torch

    return [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


class _Sampler:
    def __init__(self) -> None:
        self.peak = -1
        self.where = ""
        self.count = 0
        self.handles = []

    def __call__(self, where: str) -> None:
        self.count += 1
        now = live_heap_bytes()
        if now > self.peak:
            self.peak, self.where = now, where

    def hook_graph(self, root) -> None:
        seen, todo = set(), [root]
        while todo:
            fn = todo.pop()
            if fn is None or id(fn) in seen:
                continue
            seen.add(id(fn))
            name = type(fn).__name__
            self.handles.append(fn.register_hook(lambda gi, go, name=name: self(f"backward {name}")))
            todo.extend(f for f, _ in fn.next_functions)


class _Autocast:
    def __init__(self, dtype) -> None:
        self.dtype = dtype

    def __call__(self):
        import contextlib

        import torch

        return contextlib.nullcontext() if self.dtype is None else torch.autocast("cpu", dtype=self.dtype)

    def quiet(self):
        import contextlib

        return contextlib.nullcontext()


def measure_step(model, x, mode: str, autocast_dtype=None, every_kernel: bool = False) -> Measured:
    """Peak live bytes of one ``inference`` (``no_grad``, eval), ``sgd`` or ``adam`` step (train mode).

    The training step is ``zero_grad(set_to_none=True); loss = model(x).sum(); loss.backward(); step()``.
    ``every_kernel=True`` also samples after every ATen kernel (a ``TorchDispatchMode`` that only reads the
    counter), including the kernels autograd runs inside a backward node: it sees a node's output while the
    tensors the node unpacked are still alive, which matters for checkpointing, whose recomputed tensors are
    dropped as soon as their node returns (before its post-hook).
    """
    import contextlib

    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    model.train(mode != "inference")
    for p in model.parameters():  # gradients of an earlier step would be freed inside this one
        p.grad = None
    autocast = _Autocast(autocast_dtype)
    warm = copy.deepcopy(model)
    _step(warm, x.clone(), mode, lambda where: None, autocast)
    del warm
    gc.collect()
    sampler = _Sampler()

    class Observe(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            sampler(f"{getattr(func, '__name__', func)}")
            return result

    class ObserveKernels(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            sampler(f"kernel {func}")
            return result

    before_tensors = _storage_bytes([*model.parameters(), *model.buffers(), x])
    gc.collect()
    base = live_heap_bytes()
    with Observe(), (ObserveKernels() if every_kernel else contextlib.nullcontext()):
        out = _step(model, x, mode, sampler, autocast)
    del out
    for h in sampler.handles:
        h.remove()
    return Measured(sampler.peak - base + before_tensors, sampler.where, before_tensors, sampler.count)


def measure_steps(model, x, mode: str, steps: int = 3, autocast_dtype=None) -> tuple[Measured, ...]:
    """The peak of each of ``steps`` training steps of one optimizer, as a training loop runs them.

    Step k is ``opt.zero_grad(set_to_none=True); loss = model(x).sum(); loss.backward(); opt.step()`` with
    the same ``opt`` (``mode``: ``sgd``, ``momentum`` (0.9), ``adam`` or ``adamw``), so from step 2 on the
    optimizer state the earlier steps created is alive from the start. Each step is measured as
    :func:`measure_step` measures one (after the same warm-up step on a copy), the tensors alive before it
    (parameters, buffers, input and the optimizer's state; gradients are None after ``zero_grad``) counted
    from their storages.
    """
    from torch.overrides import TorchFunctionMode

    autocast = _Autocast(autocast_dtype)
    opt = warmed_optimizer(model, x, mode, autocast)
    out = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        gc.collect()
        sampler = _Sampler()

        class Observe(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None, sampler=sampler):
                result = func(*args, **(kwargs or {}))
                sampler(f"{getattr(func, '__name__', func)}")
                return result

        before_tensors = _storage_bytes([*model.parameters(), *model.buffers(), x, *state_tensors(opt)])
        base = live_heap_bytes()
        with Observe():
            _train_step(model, opt, x, sampler, autocast)
        for h in sampler.handles:
            h.remove()
        out.append(Measured(sampler.peak - base + before_tensors, sampler.where, before_tensors, sampler.count))
    return tuple(out)
